#!/usr/bin/env bash
# STaR run 4 of issue 15: run 3 (focused reading) plus demonstrations that search the question as asked first.
# Resumable: rerun.
cd /work/wt/run4code
export PYTHONPATH=/work/wt/run4code
export DEEPSTAR_HOME=/work/star/home4 DEEPSTAR_SERVER_PORT=8093
exec .venv/bin/deepstar star --train /work/star/tasks.jsonl --dev /work/star/tasks.jsonl \
  --human /work/shared/data/dev_questions_human.jsonl --out /work/star/run4 \
  --iterations 3 --patience 3 --dev-limit 200 --seed-demos 200 --train-sample 300 --samples 2 \
  --seed-steps 60 --base-steps 60 --noise-seeds 1 --concurrency 16 --max-steps 10 --seed 0
