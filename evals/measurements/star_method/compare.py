"""Paired comparison of two evals of the same tasks (issue 15, method changes on dev):
python evals/measurements/star_method/compare.py A_DIR B_DIR [--json OUT]
Each DIR holds an eval's results.jsonl (or is such a file: run1-seed/dev_results.jsonl) (deepstar eval / star's eval dirs). Prints EM and
success rate of both, per kind and overall, and B - A with its paired bootstrap 95% interval
(reasoner.stats.paired_difference, 10,000 resamples)."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from reasoner.stats import paired_difference


def load(d: Path) -> dict[str, dict]:
    path = d / "results.jsonl" if d.is_dir() else d
    return {r["task_id"]: r for r in map(json.loads, path.read_text().splitlines()) if r.get("task_id")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    a, b = load(args.a), load(args.b)
    shared = sorted(set(a) & set(b))
    groups: dict[str, list[str]] = defaultdict(list)
    for k in shared:
        groups[a[k]["kind"]].append(k)
    groups["overall"] = shared
    out = {"a": str(args.a), "b": str(args.b), "n_shared": len(shared), "rows": []}
    print(f"{'set':<12}{'n':>4}  {'EM A':>6} {'EM B':>6}  {'B-A EM [95% CI]':<26}{'succ A':>7} {'succ B':>7}  B-A success [95% CI]")
    for name in [*sorted(k for k in groups if k != "overall"), "overall"]:
        ids = groups[name]
        row = {"set": name, "n": len(ids)}
        for metric, key in (("em", "em"), ("success", "success")):
            va = {k: float(a[k][key] or 0) for k in ids}
            vb = {k: float(b[k][key] or 0) for k in ids}
            row[f"{metric}_a"] = round(sum(va.values()) / len(ids), 4)
            row[f"{metric}_b"] = round(sum(vb.values()) / len(ids), 4)
            row[f"{metric}_diff"] = paired_difference(vb, va)
        out["rows"].append(row)
        e, s = row["em_diff"], row["success_diff"]
        print(f"{name:<12}{len(ids):>4}  {row['em_a']:>6.3f} {row['em_b']:>6.3f}  "
              f"{e['delta']:+.3f} [{e['ci95'][0]:+.3f}, {e['ci95'][1]:+.3f}]{'*' if e['excludes_zero'] else ' '}     "
              f"{row['success_a']:>7.3f} {row['success_b']:>7.3f}  "
              f"{s['delta']:+.3f} [{s['ci95'][0]:+.3f}, {s['ci95'][1]:+.3f}]{'*' if s['excludes_zero'] else ''}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
