#!/usr/bin/env bash
# Quick human-set eval of a run's seed adapter: wait until the run has loaded its seed adapter,
# stop the run (it resumes at its eval stage when rerun), score the 60 human questions only.
# usage: human_only.sh N   (run N: /work/star/runN, home /work/star/homeN, code /work/wt/runNcode)
n=$1
cd /work/wt/run${n}code
export PYTHONPATH=/work/wt/run${n}code DEEPSTAR_HOME=/work/star/home${n} DEEPSTAR_MAX_STEPS=10
until grep -q '"load:adapter-s0"' /work/star/run${n}/seed/stages.json 2>/dev/null; do sleep 20; done
pkill -f "deepstar star .*--out /work/star/run${n} " ; sleep 5
.venv/bin/deepstar eval --tasks /work/shared/data/dev_questions_human.jsonl --model star-seed-s0 --mode react \
  --concurrency 16 --out /work/star/run${n}/human_quick/summary.json
