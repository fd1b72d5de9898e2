#!/usr/bin/env bash
# STaR run 3 of issue 15: run 2's method (evidence-first answer call, typed answers, repeat check)
# plus focused reading (open lists the page's sentences closest to the question). Resumable: rerun.
cd /work/wt/run3code
export PYTHONPATH=/work/wt/run3code
export DEEPSTAR_HOME=/work/star/home3 DEEPSTAR_SERVER_PORT=8092
exec .venv/bin/deepstar star --train /work/star/tasks.jsonl --dev /work/star/tasks.jsonl \
  --human /work/shared/data/dev_questions_human.jsonl --out /work/star/run3 \
  --iterations 3 --patience 3 --dev-limit 200 --seed-demos 200 --train-sample 300 --samples 2 \
  --seed-steps 60 --base-steps 60 --noise-seeds 1 --concurrency 16 --max-steps 10 --seed 0
