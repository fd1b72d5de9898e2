#!/usr/bin/env bash
# STaR run 5 of issue 15: run 4 (focused reading, question-first demo search) plus sentence questions
# (evals.echo) in the training pool, balanced as a group of their own in the demonstrations.
# Same dev tasks as runs 1-4 (tasks.jsonl); the training pool is tasks_echo.jsonl (tasks.jsonl + 286
# train sentence questions: `deepstar tasks synth --seed 0 --exclude human --per-relation 60`). Resumable.
cd /work/wt/run5code
export PYTHONPATH=/work/wt/run5code
export DEEPSTAR_HOME=/work/star/home5 DEEPSTAR_SERVER_PORT=8094
exec .venv/bin/deepstar star --train /work/star/tasks_echo.jsonl --dev /work/star/tasks.jsonl \
  --human /work/shared/data/dev_questions_human.jsonl --out /work/star/run5 \
  --iterations 3 --patience 3 --dev-limit 200 --seed-demos 200 --train-sample 300 --samples 2 \
  --seed-steps 60 --base-steps 60 --noise-seeds 1 --concurrency 16 --max-steps 10 --seed 0
