#!/usr/bin/env bash
# STaR run 7 of issue 15: run 2's recipe (evidence first, typed answers, entity-first demo search, no
# focused reading) plus the sentence questions balanced inside the single-hop third (as run 6). Separates
# what run 6 lost on dev bridges: focused reading and question-first search are off here. Resumable.
cd /work/wt/run6code
export PYTHONPATH=/work/wt/run6code
export DEEPSTAR_HOME=/work/star/home7 DEEPSTAR_SERVER_PORT=8096 DEEPSTAR_FOCUS_READING=false
exec .venv/bin/deepstar star --train /work/star/tasks_echo.jsonl --dev /work/star/tasks.jsonl \
  --human /work/shared/data/dev_questions_human.jsonl --out /work/star/run7 --demo-query entity \
  --iterations 3 --patience 3 --dev-limit 200 --seed-demos 200 --train-sample 300 --samples 2 \
  --seed-steps 60 --base-steps 60 --noise-seeds 1 --concurrency 16 --max-steps 10 --seed 0
