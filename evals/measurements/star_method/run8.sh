#!/usr/bin/env bash
# STaR run 8 of issue 15: run 6 (focused reading, question-first search, sentence questions inside the
# single-hop third) with --demo-hop keyword: a bridge demonstration's find on its first page looks for a
# word of the question that the sentence naming the second entity holds, so that name is copied from the
# find result (run 6 wrote it from memory in 22 of 59 dev bridges). Same tasks as runs 6-7 (tasks.sh).
# Resumable: rerun. Run from a checkout (CODE, default the current directory).
CODE=${CODE:-$PWD}
cd "$CODE"
export PYTHONPATH=$CODE DEEPSTAR_HOME=/work/star/home8 DEEPSTAR_SERVER_PORT=8097
exec .venv/bin/deepstar star --train /work/star/tasks_echo.jsonl --dev /work/star/tasks.jsonl \
  --human /work/shared/data/dev_questions_human.jsonl --out /work/star/run8 --demo-hop keyword \
  --iterations 3 --patience 3 --dev-limit 200 --seed-demos 200 --train-sample 300 --samples 2 \
  --seed-steps 60 --base-steps 60 --noise-seeds 1 --concurrency 16 --max-steps 10 --seed 0
