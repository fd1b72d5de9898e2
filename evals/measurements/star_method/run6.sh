#!/usr/bin/env bash
# STaR run 6 of issue 15: run 5 (focused reading, question-first demo search, sentence questions in the
# training pool) with demonstrations balanced over kinds first, the sentence questions a sub-group of the
# single-hop third (run 5 gave them a share of their own). Same dev tasks as runs 1-5 (tasks.jsonl); the
# training pool is tasks_echo.jsonl (tasks.jsonl + the 285 train sentence questions of
# `deepstar tasks synth --seed 0 --exclude human --per-relation 60`). Resumable: rerun.
cd /work/wt/run6code
export PYTHONPATH=/work/wt/run6code
export DEEPSTAR_HOME=/work/star/home6 DEEPSTAR_SERVER_PORT=8095
exec .venv/bin/deepstar star --train /work/star/tasks_echo.jsonl --dev /work/star/tasks.jsonl \
  --human /work/shared/data/dev_questions_human.jsonl --out /work/star/run6 \
  --iterations 3 --patience 3 --dev-limit 200 --seed-demos 200 --train-sample 300 --samples 2 \
  --seed-steps 60 --base-steps 60 --noise-seeds 1 --concurrency 16 --max-steps 10 --seed 0
