#!/usr/bin/env bash
# STaR run 9 of issue 15/14: run 7's recipe (the shipped reasoner's: entity-first demo search, no focused
# reading, answer spans) in plan mode: whole-graph demonstrations (plan call, one branch per sub-question,
# write call) so that the hop is decided by the plan call and every research branch is single-hop.
# --max-steps 12: react's 10 research calls plus the plan and write calls. Resumable: rerun.
CODE=${CODE:-$PWD}
cd "$CODE"
export PYTHONPATH=$CODE DEEPSTAR_HOME=/work/star/home9 DEEPSTAR_SERVER_PORT=8099
export DEEPSTAR_FOCUS_READING=false DEEPSTAR_ANSWER_SPANS=true
exec .venv/bin/deepstar star --train /work/star/tasks_echo.jsonl --dev /work/star/tasks.jsonl \
  --human /work/shared/data/dev_questions_human.jsonl --out /work/star/run9 --demo-query entity --mode plan \
  --iterations 3 --patience 3 --dev-limit 200 --seed-demos 200 --train-sample 300 --samples 2 \
  --seed-steps 60 --base-steps 60 --noise-seeds 1 --concurrency 16 --max-steps 12 --seed 0
