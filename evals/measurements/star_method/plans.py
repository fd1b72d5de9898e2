"""What a plan-mode eval's plan calls wrote (run 9 of issue 15/14), by task kind, read from the
store: python evals/measurements/star_method/plans.py RESULTS.jsonl DEEPSTAR_DB [--json OUT]

Per kind: runs, EM, plans that failed to build (the run then researched the question itself:
a cycle such as "On which continent is {q0}?" as the first sub-question, or a missing
reference), plans of one sub-question, of two or more, bridge plans whose second sub-question
names {q0}, and runs whose plan repeated one sub-question."""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", type=Path)
    ap.add_argument("db", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    stats: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        got = db.execute("select record from trajectories where id = ?", (r["trajectory_id"],)).fetchone()
        if got is None:
            continue
        rec = json.loads(got[0])
        s = stats[r["kind"]]
        s["runs"] += 1
        s["em"] += r["em"]
        plan_call = next((c for c in rec.get("calls") or [] if c["node"] == "plan"), None)
        written: list[str] = []
        if plan_call and plan_call["messages"][-1]["role"] == "assistant":
            try:
                written = json.loads(plan_call["messages"][-1]["content"]).get("subquestions") or []
            except (ValueError, AttributeError):
                written = []
        if rec.get("plan_error"):
            s["plan_error"] += 1
        s["one_subquestion" if len(written) == 1 else "two_or_more" if len(written) > 1 else "none_written"] += 1
        if len(written) > 1 and any("{q0}" in w for w in written[1:]) and "{q0}" not in written[0]:
            s["second_names_q0"] += 1
        if len(written) > len(set(written)):
            s["repeated_subquestion"] += 1
    out = {k: dict(v) for k, v in sorted(stats.items())}
    for kind, v in out.items():
        print(kind, {k: (round(x, 3) if isinstance(x, float) else x) for k, x in v.items()})
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
