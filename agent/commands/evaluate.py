"""`deepstar eval`: run a task file through the research agent and score it; `--compare`
two summaries."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer

from agent.commands._common import ConfigOpt, build_config, err_console, task_progress

__all__ = ["register"]


def evaluate(
    tasks: Path | None = typer.Option(None, "--tasks", help="Task file (deepstar JSONL, HotpotQA, MuSiQue, ... any format `load_tasks` reads)."),
    model: str | None = typer.Option(None, "--model", help="Model or LoRA adapter name served by the endpoint."),
    mode: str | None = typer.Option(None, "--mode", help="auto, plan or react (default: config mode, auto: the reasoner card's mode per task kind)."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Tasks run at once."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N tasks."),
    split: str | None = typer.Option(None, "--split", help="Only tasks of this split (train, dev, test)."),
    out: Path | None = typer.Option(None, "--out", help="Summary JSON (per-task results go beside it as .jsonl); default: <tasks>.eval.json."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint (default: the embedded server)."),
    fresh: bool = typer.Option(False, "--fresh", help="Start over instead of resuming the tasks already in the results file."),
    compare_files: tuple[Path, Path] | None = typer.Option(None, "--compare", help="Compare two summary JSON files (A B): print B - A."),
    fewshot: Path | None = typer.Option(None, "--fewshot", help="Demonstrations JSONL (`deepstar tasks demos`): their first --fewshot-n trajectories go in the system prompt as worked examples (STaR's prompted start)."),
    fewshot_n: int = typer.Option(2, "--fewshot-n", min=1, help="Worked examples taken from --fewshot."),
    config: Path | None = ConfigOpt,
) -> None:
    """Evaluate the agent on a task file: EM, F1, citation support, success, tokens, latency, by kind."""
    from evals.harness import compare, print_summary

    if compare_files:
        a, b = (json.loads(Path(p).read_text(encoding="utf-8")) for p in compare_files)
        compare(a, b)
        return
    if tasks is None:
        raise typer.BadParameter("give --tasks FILE (or --compare A.json B.json)", param_hint="--tasks")
    if mode not in (None, "auto", "plan", "react"):
        raise typer.BadParameter(f"{mode!r} is not auto, plan or react", param_hint="--mode")
    from evals.loaders import load_tasks

    task_list = [t for t in load_tasks(tasks) if split is None or t.get("split") == split][:limit]
    if not task_list:
        raise typer.BadParameter(f"{tasks} has no tasks" + (f" of split {split!r}" if split else ""), param_hint="--tasks")
    exemplars = None
    if fewshot is not None:
        from evals.star import exemplar_text

        demos = _read_demos(fewshot)
        if len(demos) < fewshot_n:
            raise typer.BadParameter(f"{fewshot} has {len(demos)} demonstrations, fewer than --fewshot-n {fewshot_n}",
                                     param_hint="--fewshot")
        exemplars = exemplar_text(demos, fewshot_n)
    cfg = build_config(config, base_url=base_url, model=model, mode=mode)
    out = out or Path(f"{tasks.stem}.eval.json")
    provenance = {"tasks_file": str(tasks), "split": split, "n_tasks": len(task_list), "limit": limit, "model": cfg.model,
                  "mode": cfg.mode, "base_url": cfg.base_url, "concurrency": concurrency,
                  "deepstar_version": _version(), "agent_config": cfg.redacted(),
                  "fewshot": None if fewshot is None else {"file": str(fewshot), "n": fewshot_n}}
    summary = asyncio.run(_run(cfg, task_list, out, concurrency, provenance, resume=not fresh, exemplars=exemplars))
    print_summary(summary)
    err_console.print(f"summary: {out}  per-task results: {summary['results_path']}")


def _read_demos(path: Path) -> list[dict]:
    """Demonstration records, each with its `messages`; a bad line is a TaskFileError naming it."""
    from evals.errors import TaskFileError
    from evals.loaders import read_jsonl_objects

    if not path.is_file():
        raise TaskFileError(path, "no such file")
    demos = []
    for lineno, demo in read_jsonl_objects(path):
        if not isinstance(demo.get("messages"), list):
            raise TaskFileError(path, "not a demonstration (no `messages` list)", line=lineno, field="messages")
        demos.append(demo)
    return demos


def _version() -> str:
    from evals.demos import engine_version

    return engine_version()


async def _run(cfg: Any, tasks: list[dict], out: Path, concurrency: int, provenance: dict, *, resume: bool,
               exemplars: str | None = None) -> dict:
    from agent import ResearchAgent
    from evals.harness import run_eval

    extra = {"sampling": {"exemplars": exemplars}} if exemplars else {}
    async with ResearchAgent(cfg) as agent:
        async def run(task: dict) -> dict:
            result = await agent.research(task["question"], task=task, **extra)
            return result.record

        with task_progress("evaluating", len(tasks)) as update:
            return await run_eval(tasks, run, concurrency=concurrency, out_dir_or_path=out, resume=resume,
                                  config=provenance, progress=update)


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)
