#!/usr/bin/env bash
# The task files of runs 1-8 of issue 15, rebuilt into /work/star (deterministic, seconds):
# tasks.jsonl (dev and test of every run: `--no-echo`) and tasks_echo.jsonl (tasks.jsonl plus the train
# sentence questions: the training pool of runs 5-8). Run from the repository root.
set -euo pipefail
mkdir -p /work/star
EXCL=../shared/data/dev_questions_human.jsonl
.venv/bin/deepstar tasks synth --seed 0 --exclude $EXCL --per-relation 60 --no-echo --out /work/star/tasks.jsonl
.venv/bin/deepstar tasks synth --seed 0 --exclude $EXCL --per-relation 60 --out /work/star/tasks_all_echo.jsonl
.venv/bin/python - <<'PY'
import json
plain = [json.loads(line) for line in open("/work/star/tasks.jsonl", encoding="utf-8")]
both = [json.loads(line) for line in open("/work/star/tasks_all_echo.jsonl", encoding="utf-8")]
assert [r for r in both if not r["relation"].startswith("echo_")] == plain
echo = [r for r in both if r["relation"].startswith("echo_") and r["split"] == "train"]
with open("/work/star/tasks_echo.jsonl", "w", encoding="utf-8") as f:
    for r in plain + echo:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(f"tasks_echo.jsonl: {len(plain)} tasks + {len(echo)} train sentence questions")
PY
