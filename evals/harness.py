"""The evaluation harness: run tasks through an injected `run(task) -> trajectory record`,
score each record, and summarize by task kind.

Outputs (see `result_paths`): a per-task JSONL, one line per task, appended and flushed as
each task finishes (so a crash loses at most the tasks in flight), and a summary JSON.
With `resume=True` the tasks already in the JSONL are skipped, except those whose run
raised before producing a trajectory (a server that was down), which run again. A task whose `run` raises
is recorded with its error (and zero scores); when more than a small share of the runs raise
(`evals.errors.MAX_RAISED_SHARE`), the eval stops with `StageFailed` instead of writing a summary.

Success, per task, is `evals.scoring.is_success`: EM = 1, the format is ok, every citation
is supported by a sentence of a page the run fetched, and a cited sentence states the answer.

Citation precision and recall (`evals.scoring.citation_metrics`, DeepResearch Bench's FACT)
are pooled over the tasks of a group: supported cited statements of all its reports / all
their cited statements, and likewise for recall; a group with nothing to count shows None.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.errors import check_failures
from evals.scoring import citation_metrics, is_success, score_record

__all__ = ["METRICS", "compare", "load_results", "print_summary", "result_paths", "run_eval", "summarize"]

Run = Callable[[dict], Awaitable[Mapping]]
METRICS = ("em", "f1", "citation_support", "citation_precision", "citation_recall", "format_ok", "success_rate",
           "tokens_mean", "latency_p50", "latency_p95")
_COUNTS = ("cited", "cited_supported", "answer_claims", "answer_claims_cited")  # what the two are ratios of


def result_paths(out: str | Path) -> tuple[Path, Path]:
    """(per-task JSONL, summary JSON) for `out`: a `.json` file names the summary and the
    JSONL sits beside it (`X.json` -> `X.jsonl`); anything else is a directory holding
    `results.jsonl` and `summary.json`."""
    out = Path(out)
    if out.suffix == ".json":
        return out.with_suffix(".jsonl"), out
    return out / "results.jsonl", out / "summary.json"


def load_results(path: str | Path) -> dict[str, dict]:
    """task id -> result line; a torn last line (a crash mid-write) is ignored."""
    results: dict[str, dict] = {}
    path = Path(path)
    if not path.is_file():
        return results
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "task_id" in row:
            results[str(row["task_id"])] = row
    return results


def _result_line(task: Mapping, record: Mapping | None, error: str | None, latency_s: float) -> dict:
    gold = list(task.get("answers") or [])
    if record is None:
        scores = {"em": 0.0, "f1": 0.0, "citation_support": 0.0, "format_ok": False, "answer_supported": False}
        usage, prediction, trajectory_id = {}, None, None
        counts: dict[str, Any] = {k: 0 for k in _COUNTS}
    else:
        # the agent does not know the gold (nor a comparison's facts); score against the task's
        scored = {**record, "gold_answers": gold, "kind": task.get("kind") or record.get("kind"),
                  "options": task.get("options"), "evidence": task.get("evidence")}
        scores = score_record(scored, record.get("snapshots") or {})
        counts = {k: v for k, v in citation_metrics(scored, record.get("snapshots") or {}).items() if k in _COUNTS}
        usage = record.get("usage") or {}
        prediction, trajectory_id = record.get("final_answer"), record.get("id")
        error = error or record.get("error")
        latency_s = float(record.get("latency_s") or latency_s)
    return {
        "task_id": str(task["id"]), "kind": task.get("kind") or "unknown", "question": task.get("question"),
        "prediction": prediction, "gold": gold,
        "em": scores["em"], "f1": scores["f1"], "citation_support": scores["citation_support"],
        "citation_precision": _ratio(counts["cited_supported"], counts["cited"]),
        "citation_recall": _ratio(counts["answer_claims_cited"], counts["answer_claims"]), **counts,
        "format_ok": bool(scores["format_ok"]),
        "success": is_success(scores),
        "tokens": int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0),
        "latency_s": round(latency_s, 4), "error": error, "trajectory_id": trajectory_id,
    }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _metrics(rows: Sequence[Mapping]) -> dict[str, Any]:
    n = len(rows)

    def mean(key: str) -> float | None:
        return sum(float(r[key]) for r in rows) / n if n else None

    def pooled(part: str, whole: str) -> float | None:  # rows written before these counts existed add 0
        return _ratio(sum(int(r.get(part) or 0) for r in rows), sum(int(r.get(whole) or 0) for r in rows))

    latencies = [float(r["latency_s"]) for r in rows]
    return {
        "n": n, "em": mean("em"), "f1": mean("f1"), "citation_support": mean("citation_support"),
        "citation_precision": pooled("cited_supported", "cited"),
        "citation_recall": pooled("answer_claims_cited", "answer_claims"),
        "format_ok": mean("format_ok"), "success_rate": mean("success"),
        "tokens_total": sum(int(r["tokens"]) for r in rows), "tokens_mean": mean("tokens"),
        "latency_p50": _percentile(latencies, 0.5), "latency_p95": _percentile(latencies, 0.95),
        "errors": sum(1 for r in rows if r.get("error")),
    }


def summarize(rows: Iterable[Mapping], *, config: Mapping | None = None, results_path: str | None = None) -> dict:
    rows = list(rows)
    kinds = sorted({r["kind"] for r in rows})
    return {
        "overall": _metrics(rows),
        "by_kind": {k: _metrics([r for r in rows if r["kind"] == k]) for k in kinds},
        "config": dict(config or {}),
        "results_path": results_path,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


async def run_eval(
    tasks: Iterable[Mapping],
    run: Run,
    *,
    concurrency: int = 4,
    out_dir_or_path: str | Path,
    progress: Callable[[int, int], None] | None = None,
    resume: bool = True,
    config: Mapping | None = None,
) -> dict:
    """Run, score and summarize `tasks`; returns the summary, also written to
    `result_paths(out_dir_or_path)` with the per-task JSONL.

    `config`: the settings and provenance (model, mode, task file, versions, ...) stored in
    the summary as they are."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    tasks = list(tasks)
    jsonl, summary_path = result_paths(out_dir_or_path)
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    if not resume:
        jsonl.write_text("", encoding="utf-8")
    done = load_results(jsonl)
    # A task whose run raised (no trajectory: server down, network) is run again on resume;
    # its new line supersedes the old one. A task that ran and failed on its merits is kept.
    done = {k: v for k, v in done.items() if not (v.get("error") and not v.get("trajectory_id"))}
    todo = [t for t in tasks if str(t["id"]) not in done]
    total, finished = len(tasks), len(tasks) - len(todo)
    if progress is not None:
        progress(finished, total)
    gate = asyncio.Semaphore(concurrency)
    raised: list[str] = []

    with jsonl.open("a", encoding="utf-8") as fh:
        async def one(task: Mapping) -> None:
            nonlocal finished
            async with gate:
                t0 = time.perf_counter()
                record, error = None, None
                try:
                    record = await run(dict(task))
                except Exception as exc:  # a failed task is a result, not a crash of the eval
                    error = f"{type(exc).__name__}: {exc}"
                    raised.append(error)
                row = _result_line(task, record, error, time.perf_counter() - t0)
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            done[row["task_id"]] = row
            finished += 1
            if progress is not None:
                progress(finished, total)

        await asyncio.gather(*(one(t) for t in todo))
    # ... unless many do: then it is the server or the model, and scoring them 0 would be a lie
    check_failures(f"eval {jsonl.parent.name or jsonl.name}", raised, len(todo))

    rows = [done[str(t["id"])] for t in tasks if str(t["id"]) in done]
    summary = summarize(rows, config=config, results_path=str(jsonl))
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    return summary


def _fmt(value: Any, metric: str) -> str:
    if value is None:
        return "-"
    if metric in ("n", "errors"):
        return str(value)
    if metric.startswith("latency"):
        return f"{value:.2f}s"
    if metric.startswith("tokens"):
        return f"{value:,.0f}"
    return f"{value:.3f}"


def print_summary(summary: Mapping, console: Any = None) -> None:
    """A table: one row per metric, one column overall and one per kind."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    columns = [("overall", summary["overall"]), *summary.get("by_kind", {}).items()]
    table = Table(title="deepstar eval")
    table.add_column("metric")
    for name, _ in columns:
        table.add_column(name, justify="right")
    for metric in ("n", *METRICS, "errors"):
        table.add_row(metric, *(_fmt(m.get(metric), metric) for _, m in columns))
    console.print(table)


def _deltas(a: Mapping, b: Mapping) -> dict[str, dict[str, float | None]]:
    out = {}
    for metric in ("n", *METRICS):
        va, vb = a.get(metric), b.get(metric)
        out[metric] = {"a": va, "b": vb, "delta": None if va is None or vb is None else vb - va}
    return out


def _delta_cell(d: Mapping, metric: str) -> str:
    if d["delta"] is None:
        return "-" if d["b"] is None else _fmt(d["b"], metric)
    sign = "+" if d["delta"] >= 0 else ""
    return f"{_fmt(d['b'], metric)} ({sign}{_fmt(d['delta'], metric)})"


def compare(a: Mapping, b: Mapping, console: Any = None, *, show: bool = True) -> dict:
    """Metric deltas (b - a) overall and per kind; printed as a table unless `show=False`."""
    kinds = sorted(set(a.get("by_kind", {})) | set(b.get("by_kind", {})))
    result = {"overall": _deltas(a["overall"], b["overall"]),
              "by_kind": {k: _deltas(a.get("by_kind", {}).get(k, {}), b.get("by_kind", {}).get(k, {})) for k in kinds}}
    if show:
        from rich.console import Console
        from rich.table import Table

        console = console or Console()
        columns = [("overall", result["overall"]), *result["by_kind"].items()]
        table = Table(title="deepstar eval: B (B - A)")
        table.add_column("metric")
        for name, _ in columns:
            table.add_column(name, justify="right")
        for metric in ("n", *METRICS):
            table.add_row(metric, *(_delta_cell(d[metric], metric) for _, d in columns))
        console.print(table)
    return result
