#!/usr/bin/env bash
# STaR run 2 of issue 15: the evidence-first answer call (url, quote, answer). Resumable: rerun.
cd /work/wt/run2code
export PYTHONPATH=/work/wt/run2code
export DEEPSTAR_HOME=/work/star/home2 DEEPSTAR_SERVER_PORT=8091
exec .venv/bin/deepstar star --train /work/star/tasks.jsonl --dev /work/star/tasks.jsonl \
  --human /work/shared/data/dev_questions_human.jsonl --out /work/star/run2 \
  --iterations 3 --patience 3 --dev-limit 200 --seed-demos 200 --train-sample 300 --samples 2 \
  --seed-steps 60 --base-steps 60 --noise-seeds 1 --concurrency 16 --max-steps 10 --seed 0
