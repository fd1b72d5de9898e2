#!/usr/bin/env bash
# Run 5's seed adapter served with the current main code (name-typed answers): dev 200 + human 60.
export PYTHONPATH=/work/main DEEPSTAR_HOME=/work/star/home5 DEEPSTAR_MAX_STEPS=10 DEEPSTAR_SERVER_PORT=8094
cd /work/main
.venv/bin/deepstar adapters load /work/star/run5/seed/adapter-s0 --name star-seed-s0
for set in human:/work/shared/data/dev_questions_human.jsonl dev:/work/star/dev200.jsonl; do
  .venv/bin/deepstar eval --tasks ${set#*:} --model star-seed-s0 --mode react --concurrency 16 \
    --out /work/star/run5/typed_${set%%:*}/summary.json
done
