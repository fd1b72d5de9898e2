#!/usr/bin/env bash
# STaR run 11 of issue 15: run 10's iteration 1 again with one method change, a kind-balanced training
# set (--balance-kinds: the model's own trajectories capped per task kind at the scarcest kind's count;
# run 10's set was 49% single-hop against 34% in the demonstrations, and its bridges fell). Same seed
# (the shipped adapter as iteration 0), same 300 tasks x 2 rollouts and hinted runs (run 10's, restored
# from run10/ and filtered again with this commit's code), same 60 steps, same 200 dev tasks and 60
# human questions: run10.sh's command with one iteration. Resumable: rerun.
set -euo pipefail
M=${CODE:-$PWD}/evals/measurements/star_method
export OUT=${OUT:-/work/star/run11}
if [ ! -e "$OUT/iter_1/rollouts.jsonl" ]; then
  mkdir -p "$OUT/iter_1"
  gunzip -c "$M/run10/iter_1/rollouts.jsonl.gz" > "$OUT/iter_1/rollouts.jsonl"
  gunzip -c "$M/run10/iter_1/hinted.jsonl.gz" > "$OUT/iter_1/hinted.jsonl"
fi
RESTORE=0 exec bash "$M/run10.sh" --iterations 1 --patience 1 --balance-kinds "$@"
