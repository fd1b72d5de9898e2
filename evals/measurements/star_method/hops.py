"""How a run hops, per dev task: pages opened (at most one, or two and more, per kind), and for
bridges whether the second name searched was on the first page opened (copied) or not (written
from memory), and whether it was the task's bridge entity. Trajectories are read from the
workspace's store with sqlite3.

    python hops.py HOME/deepstar.db results.jsonl tasks.jsonl
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import Counter

from tools.evidence import contains


def main(db_path: str, results: str, tasks_path: str) -> None:
    db = sqlite3.connect(db_path)
    rows = [json.loads(line) for line in open(results, encoding="utf-8") if line.strip()]
    tasks = {t["id"]: t for t in (json.loads(line) for line in open(tasks_path, encoding="utf-8") if line.strip())}
    opened, hops = Counter(), Counter()
    for r in rows:
        steps = [(n, json.loads(i)) for n, i in db.execute(
            "select name, input from steps where run_id=? and kind='tool' order by seq", (r["trajectory_id"],))]
        opens = [a.get("url", "") for n, a in steps if n == "open"]
        opened[(r["kind"], "<=1" if len(opens) <= 1 else ">=2")] += 1
        if r["kind"] != "bridge" or not opens:
            continue
        first = next(i for i, (n, _) in enumerate(steps) if n == "open")
        later = [a.get("query", "") for n, a in steps[first + 1:] if n == "search"]
        if not later:
            hops["no second search"] += 1
            continue
        page = db.execute("select text from pages where url=? or final_url=? limit 1", (opens[0], opens[0])).fetchone()
        task = tasks[r["task_id"]]
        bridge = (task.get("bridge_title") or task["supporting_titles"][-1]).split(" (")[0]
        hops[("on the first page" if contains(page[0] if page else "", later[0]) else "NOT on the first page",
              "the bridge entity" if contains(later[0], bridge) or contains(bridge, later[0]) else "another",
              "EM" if r["em"] else "miss")] += 1
    for kind in ("single", "bridge", "comparison"):
        print(f"{kind:<11} opened at most one page: {opened[(kind, '<=1')]} of "
              f"{opened[(kind, '<=1')] + opened[(kind, '>=2')]}")
    print("bridges, the second name searched:")
    for key, n in sorted(hops.items(), key=str):
        print(f"  {n:>3}  {key}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
