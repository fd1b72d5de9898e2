#!/usr/bin/env bash
# Answer-span selection measured on existing seed adapters (issue 15, runs 7-8): a `deepstar eval`
# of adapter MODEL, served by the vLLM server on PORT (a `deepstar star` run's, with the adapter
# loaded), on TASKS, with the star evals' settings (react, 10 model calls, greedy, deepstar protocol).
# usage: eval.sh PORT MODEL TASKS OUT [FOCUS_READING=true]   (SPANS=false for the control)
# TASKS for dev: the 200 dev tasks of the runs' seed evals, rebuilt from tasks.sh's tasks.jsonl:
#   python -c "import json; ids={json.loads(l)['task_id'] for l in open('evals/measurements/star_method/run7-seed/dev_results.jsonl')};
#   [print(l, end='') for l in open('/work/star/tasks.jsonl') if json.loads(l)['id'] in ids]" > /work/star/dev200.jsonl
# Files here: <name>.summary.json / <name>.results.jsonl; rule_* ran with selects_spans (names, quantities,
# comparisons only), the others with spans for every question (the code of commit 8c559c1).
CODE=${CODE:-$PWD}
cd "$CODE"
export DEEPSTAR_HOME=${DEEPSTAR_HOME:-/work/star/spanhome} DEEPSTAR_PROTOCOL=deepstar DEEPSTAR_ANSWER_SPANS=${SPANS:-true} \
  DEEPSTAR_MAX_STEPS=10 DEEPSTAR_FOCUS_READING=${5:-true} PYTHONPATH=$CODE
exec .venv/bin/deepstar eval --tasks "$3" --model "$2" --mode react --concurrency 8 \
  --base-url "http://127.0.0.1:$1/v1" --out "$4"
