#!/usr/bin/env bash
# Before/after of the CPU-class settings on this machine's own CPU class, nothing emulated
# (README, Benchmarks: the two CPU classes). Run it alone on a quiet machine:
#   bash evals/measurements/cpu_classes/measure_real.sh      # OUT defaults to real-<class>/
# before     = the old settings: bf16 always, vLLM's default reserved scheduler core, 4 GiB KV cache
# after      = deepstar's auto settings (reasoner/cpu.py)
# after-uni  = auto + vLLM's single-process executor (DEEPSTAR_SERVER_VLLM_ARGS)
# Each arm: two server starts in a row (bench startup; the second is the figure), generation at
# 1 and 8 requests with the bandwidth bound (bench generate), and two react research runs of the
# Eiffel Tower question by the shipped reasoner (bench research; the first compiles its grammars).
# Then LoRA SFT on the class's auto dtype (bench train).
set -u
cd "$(git rev-parse --show-toplevel)"
BIN=.venv/bin
export DEEPSTAR_HOME=${DEEPSTAR_HOME:-$PWD/.deepstar-perf}
CLS=$($BIN/python -c "from reasoner.cpu import detect_cpu; print(detect_cpu().cpu_class)")
OUT=${OUT:-$PWD/evals/measurements/cpu_classes/real-$CLS}
ARMS=${ARMS:-before after after-uni}
mkdir -p "$DEEPSTAR_HOME" "$OUT"
$BIN/deepstar model prepare > /dev/null
lscpu > "$OUT/lscpu.txt"
run() {  # name, env..., (the arm's settings)
  local name=$1; shift
  echo "=== $name $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
  env "$@" $BIN/deepstar bench startup --starts 2 --json "$OUT/$name.startup.json" > "$OUT/$name.startup.txt" 2>&1
  env "$@" $BIN/deepstar serve --port 8099 > "$OUT/$name.serve.txt" 2>&1 || { echo "serve failed"; cat "$OUT/$name.serve.txt"; return; }
  env "$@" $BIN/deepstar serve --status --json > "$OUT/$name.status.json"
  env "$@" $BIN/deepstar bench generate --json "$OUT/$name.generate.json" > "$OUT/$name.generate.txt" 2>&1
  for k in 1 2; do
    env "$@" DEEPSTAR_SERVER_PORT=8099 $BIN/deepstar bench research --model deepstar-reasoner --max-steps 10 \
      --json "$OUT/$name.research$k.json" > "$OUT/$name.research$k.txt" 2>&1
  done
  DEEPSTAR_SERVER_PORT=8099 $BIN/deepstar serve --stop > /dev/null
  $BIN/python - "$name" "$OUT" <<'PY'
import json, sys
n, out = sys.argv[1], sys.argv[2]
g = json.load(open(f"{out}/{n}.generate.json")); s = json.load(open(f"{out}/{n}.startup.json"))
r = [json.load(open(f"{out}/{n}.research{k}.json")) for k in (1, 2)]
runs = {x["concurrency"]: x["tokens_per_s"] for x in g["runs"]}
b = g.get("bound", {})
print(json.dumps({"name": n, "dtype": (g.get("server") or {}).get("dtype"), "tok_s_1": runs.get(1), "tok_s_8": runs.get(8),
                  "bound": b.get("decode_bound_tokens_per_s"), "share": b.get("share_at_1"), "bw": (b.get("bandwidth") or {}).get("gb_per_s"),
                  "start_s": s["start_s"], "research_s": [x["wall_s"] for x in r], "calls": len(r[1]["model_calls"]),
                  "answer": r[1]["answer"], "citations": r[1]["citations"], "ttft": r[1]["engine"]["ttft_s"],
                  "prefill_tps": r[1]["engine"]["prefill_tokens_per_s"], "decode_tps": r[1]["engine"]["decode_tokens_per_s"],
                  "grammar_ms": round(1000 * g["grammar"]["compile_s"])}))
PY
}
for arm in $ARMS; do
  case $arm in
    before) run before VLLM_CPU_NUM_OF_RESERVED_CPU=1 VLLM_CPU_KVCACHE_SPACE=4 DEEPSTAR_SERVER_DTYPE=bf16 ;;
    after) run after X=1 ;;
    after-uni) run after-uni "DEEPSTAR_SERVER_VLLM_ARGS=--distributed-executor-backend uni" ;;
    after-async) run after-async "DEEPSTAR_SERVER_VLLM_ARGS=--async-scheduling" ;;
  esac
done
if [ "${TRAIN:-1}" = 1 ]; then
  echo "=== train auto $(date +%T)"
  $BIN/deepstar bench train --steps 6 --dtype auto --json "$OUT/train.json" > "$OUT/train.txt" 2>&1
  $BIN/python -c "import json; d=json.load(open('$OUT/train.json')); print('train', d['dtype'], round(d['tokens_per_s'],1), 'tok/s', d['step_s_median_after_first'], 's/step')"
fi
echo "=== done $(date +%T)"
