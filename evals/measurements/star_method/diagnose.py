"""Where a run fails, stage by stage, on a results file of `deepstar eval` or a STaR eval:
did it open the article that states the answer (retrieval), quote a sentence holding the
gold answer (reading), answer right (EM)? Trajectories are read from the workspace's store.

    python diagnose.py HOME/deepstar.db results.jsonl [tasks.jsonl]
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import defaultdict
from urllib.parse import unquote

from evals.corpus import article_url
from tools.evidence import contains


def main(db: str, results: str, tasks: str = "/work/shared/data/dev_questions_human.jsonl") -> None:
    store = sqlite3.connect(f"file:{db}?mode=ro", uri=True)  # the workspace store, read only (evals imports no agent)
    by_id = {t["id"]: t for t in map(json.loads, open(tasks, encoding="utf-8"))}
    table: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in map(json.loads, open(results, encoding="utf-8")):
        task = by_id[row["task_id"]]
        record = json.loads(store.execute("SELECT record FROM trajectories WHERE id = ? OR run_id = ?",
                                          (row["trajectory_id"], row["trajectory_id"])).fetchone()[0])
        opened, quotes = set(), []
        for m in record["messages"]:
            for call in m.get("tool_calls") or []:
                args = json.loads(call["function"]["arguments"] or "{}")
                if call["function"]["name"] in ("open", "find") and isinstance(args.get("url"), str):
                    opened.add(unquote(args["url"]).split("/wiki/")[-1])
                if call["function"]["name"] == "answer":
                    quotes.append(str(args.get("quote", "")))
        wanted = {unquote(article_url(t)).split("/wiki/")[-1] for t in task["supporting_titles"][-1:]}
        for kind in (task["kind"], "overall"):
            cell = table[kind]
            cell[0] += 1
            cell[1] += bool(wanted & opened)
            cell[2] += any(contains(q, g) for q in quotes for g in task["answers"])
            cell[3] += row["em"] == 1.0
    print(f"{'kind':12} {'n':>4} {'opened answer article':>22} {'quoted the answer':>18} {'EM':>5}")
    for kind in sorted(table, key=lambda k: (k == "overall", k)):
        n, o, q, e = table[kind]
        print(f"{kind:12} {n:4} {o:22} {q:18} {e:5}")


if __name__ == "__main__":
    main(*sys.argv[1:])
