#!/usr/bin/env bash
# The STaR run of issue 15 (resumable: rerun this script to continue).
cd /work/wt/run1code
export PYTHONPATH=/work/wt/run1code
export DEEPSTAR_HOME=/work/star/home DEEPSTAR_SERVER_PORT=8090
exec .venv/bin/deepstar star --train /work/star/tasks.jsonl --dev /work/star/tasks.jsonl \
  --human /work/shared/data/dev_questions_human.jsonl --out /work/star/run1 \
  --iterations 3 --patience 3 --dev-limit 200 --seed-demos 200 --train-sample 300 --samples 2 \
  --seed-steps 60 --base-steps 60 --noise-seeds 1 --concurrency 16 --max-steps 10 --seed 0
