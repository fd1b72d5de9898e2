#!/usr/bin/env bash
# Before/after of the CPU-class settings on both CPU classes, in one session on one quiet machine
# (README, Benchmarks: the two CPU classes). The AVX2 class is emulated with torch's and oneDNN's
# ISA caps on an AVX-512 machine (reasoner/cpu.py).
# before = the old settings: bf16 always, vLLM's default reserved scheduler core, 4 GiB KV cache
# after  = deepstar's auto settings (reasoner/cpu.py)
set -u
cd "$(git rev-parse --show-toplevel)"
BIN=.venv/bin
export DEEPSTAR_HOME=${DEEPSTAR_HOME:-$PWD/.deepstar-perf}
OUT=${OUT:-$PWD/evals/measurements/cpu_classes}
mkdir -p $DEEPSTAR_HOME $OUT
$BIN/deepstar model prepare > /dev/null
AVX2="ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2"
run() {  # name, env..., -- serve args
  local name=$1; shift
  local envs=(); while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  echo "=== $name $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
  local t0=$(date +%s.%N)
  env "${envs[@]}" $BIN/deepstar serve --port 8099 "$@" > $OUT/$name.serve.txt 2>&1 || { echo "serve failed"; cat $OUT/$name.serve.txt; return; }
  local t1=$(date +%s.%N)
  echo "start_s $(echo "$t1 - $t0" | bc)" | tee $OUT/$name.start.txt
  env "${envs[@]}" $BIN/deepstar serve --status --json > $OUT/$name.status.json
  env "${envs[@]}" $BIN/deepstar bench generate --json $OUT/$name.generate.json > $OUT/$name.generate.txt 2>&1
  env "${envs[@]}" DEEPSTAR_SERVER_PORT=8099 $BIN/deepstar bench research --max-steps 10 --json $OUT/$name.research.json > $OUT/$name.research.txt 2>&1
  $BIN/deepstar serve --stop > /dev/null
  python3 - "$name" "$OUT" <<'PY'
import json, sys
n, out = sys.argv[1], sys.argv[2]; g = json.load(open(f"{out}/{n}.generate.json")); r = json.load(open(f"{out}/{n}.research.json"))
runs = {x["concurrency"]: x["tokens_per_s"] for x in g["runs"]}
b = g.get("bound", {})
print(json.dumps({"name": n, "dtype": g["server"]["dtype"] if g.get("server") else None, "tok_s_1": runs.get(1), "tok_s_8": runs.get(8),
                  "bound": b.get("decode_bound_tokens_per_s"), "share": b.get("share_at_1"), "bw": (b.get("bandwidth") or {}).get("gb_per_s"),
                  "research_s": r["wall_s"], "calls": len(r["model_calls"]), "ttft": r["engine"]["ttft_s"],
                  "prefill_tps": r["engine"]["prefill_tokens_per_s"], "decode_tps": r["engine"]["decode_tokens_per_s"],
                  "grammar_ms": round(1000 * g["grammar"]["compile_s"])}))
PY
}
run native-before VLLM_CPU_NUM_OF_RESERVED_CPU=1 VLLM_CPU_KVCACHE_SPACE=4 -- --dtype bf16
run native-after X=1 -- 
run avx2-before $AVX2 VLLM_CPU_NUM_OF_RESERVED_CPU=1 VLLM_CPU_KVCACHE_SPACE=4 -- --dtype bf16
run avx2-after $AVX2 -- 
for cls in native avx2; do
  if [ $cls = avx2 ]; then E="$AVX2"; else E="X=1"; fi
  echo "=== train $cls auto $(date +%T)"
  env $E $BIN/deepstar bench train --steps 6 --dtype auto --json $OUT/train-$cls.json > $OUT/train-$cls.txt 2>&1
  python3 -c "import json; d=json.load(open('$OUT/train-$cls.json')); print('train $cls', d['dtype'], round(d['tokens_per_s'],1), 'tok/s', d['step_s_median_after_first'], 's/step')"
done
echo "=== done $(date +%T)"
