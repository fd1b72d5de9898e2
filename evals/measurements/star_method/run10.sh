#!/usr/bin/env bash
# STaR run 10 of issue 15: the STaR iterations on the shipped reasoner. Iteration 0 is not retrained: the
# run folder is seeded with the shipped adapter (run 7's seed adapter, reasoner/shipped/deepstar-reasoner)
# as `seed/adapter-s0`, marked trained, and with its measured evals (spans/rule_run7seed_{dev,human}, the
# same 200 dev tasks and 60 human questions) as `seed/s0/eval*`, so the loop starts at iteration 1: 300
# training tasks x 2 samples rolled out by the shipped reasoner as it is served (no focused reading, answer
# spans), the honest filter, rationalization, a fresh LoRA on demonstrations + kept + rationalized.
# The demonstrations are rebuilt with this commit's code (run 7's flags). Resumable: rerun; save.sh saves a
# stopped run's artifacts under run10/ for a later session (the workspace does not outlive one).
set -euo pipefail
CODE=${CODE:-$PWD}
OUT=${OUT:-/work/star/run10}
M=$CODE/evals/measurements/star_method
if [ ! -e "$OUT/seed/stages.json" ]; then
  mkdir -p "$OUT/seed/adapter-s0" "$OUT/seed/s0/eval" "$OUT/seed/s0/eval_human"
  cp "$CODE"/reasoner/shipped/deepstar-reasoner/adapter_* "$OUT/seed/adapter-s0/"
  cp "$M/spans/rule_run7seed_dev.results.jsonl" "$OUT/seed/s0/eval/results.jsonl"
  cp "$M/spans/rule_run7seed_human.results.jsonl" "$OUT/seed/s0/eval_human/results.jsonl"
  python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
stages = {"train:adapter-s0": {"steps": 60, "seed": 0, "from": "reasoner/shipped/deepstar-reasoner (run 7's seed adapter)"}}
json.dump(stages, open(f"{out}/seed/stages.json", "w"), indent=2)
PY
fi
# a later session resumes from the stage artifacts committed under $M/run10/ (gzipped JSONL, markers);
# RESTORE=0 starts without them (run11.sh)
if [ "${RESTORE:-1}" = 1 ] && [ -d "$M/run10" ] && [ ! -e "$OUT/iter_1/stages.json" ]; then
  (cd "$M/run10" && find . -type f) | while read -r f; do
    mkdir -p "$OUT/$(dirname "$f")"
    case "$f" in *.gz) gunzip -c "$M/run10/$f" > "$OUT/${f%.gz}" ;; *) cp "$M/run10/$f" "$OUT/$f" ;; esac
  done
fi
cd "$CODE"
export PYTHONPATH=$CODE DEEPSTAR_HOME=${DEEPSTAR_HOME:-/work/star/home10} DEEPSTAR_SERVER_PORT=${PORT:-8100}
export DEEPSTAR_FOCUS_READING=false DEEPSTAR_ANSWER_SPANS=true
exec "${VENV:-$CODE/.venv}/bin/deepstar" star --train /work/star/tasks_echo.jsonl --dev /work/star/tasks.jsonl \
  --human /work/shared/data/dev_questions_human.jsonl --out "$OUT" --demo-query entity \
  --iterations 3 --patience 3 --dev-limit 200 --seed-demos 200 --train-sample 300 --samples 2 \
  --seed-steps 60 --base-steps 60 --noise-seeds 1 --concurrency 16 --max-steps 10 --seed 0 "$@"
