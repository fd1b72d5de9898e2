"""`deepstar tasks`: synthesize research tasks from the offline wiki corpus, and build
scripted demonstrations (real tool observations) for them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from agent.commands._common import ConfigOpt, build_config, err_console

__all__ = ["register"]


def synth(
    out: Path = typer.Option(..., "--out", help="Output JSONL file."),
    n: int | None = typer.Option(
        None, "--n", help="Total number of tasks over all splits (a seeded sample); default: all "
        "that pass the quality rules (about 5,100 train / 850 dev / 890 test; 285 / 91 / 68 of them bridges)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for phrasings, pairings and sampling."),
    per_relation: int | None = typer.Option(
        None, "--per-relation", min=1, help="At most N tasks of each relation in each split (a seeded sample), "
        "so the ~1,000-task description relations do not drown the in-text details; applied before --n."
    ),
    exclude: Path | None = typer.Option(
        None, "--exclude", help="A task JSONL (e.g. a held-out human question set): no synthesized task rests on "
        "any of its `supporting_titles`."
    ),
    echo: bool = typer.Option(True, "--echo/--no-echo", help="Also ask back sentences of the articles' text "
                              "(evals.echo: 'consisting of how many alliterative lines?'); --no-echo gives the "
                              "task files of the runs before them."),
    report: bool = typer.Option(False, "--report", help="Print counts, phrasing diversity and samples."),
    corpus: Path | None = typer.Option(None, "--corpus", help="A summaries JSON file instead of the installed one."),
) -> None:
    """Write synthesized single-hop, bridge and comparison tasks (train/dev/test) to --out."""
    from evals.corpus import load_articles
    from evals.loaders import load_tasks
    from evals.synth import report as make_report
    from evals.synth import synthesize, write_tasks

    articles = load_articles(corpus)
    excluded = [t for task in load_tasks(exclude) for t in task.get("supporting_titles") or []] if exclude else []
    tasks = synthesize(articles, n=n, seed=seed, per_relation=per_relation, exclude_titles=excluded, echo=echo)
    write_tasks(tasks, out)
    typer.echo(f"wrote {len(tasks)} tasks to {out}")
    if report:
        typer.echo(make_report(tasks, articles={a.title: a for a in articles}))


def demos(
    tasks_file: Path = typer.Option(..., "--tasks", help="Task file (deepstar JSONL from `tasks synth`)."),
    out: Path = typer.Option(..., "--out", help="Output JSONL of demonstration trajectory records."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N tasks."),
    config: Path | None = ConfigOpt,
) -> None:
    """Run the real tools along each task's supporting articles; keep evidence-backed demos."""
    from evals.demos import write_jsonl
    from evals.loaders import load_tasks

    tasks = load_tasks(tasks_file)[:limit]
    cfg = build_config(config, web="wiki")
    kept, dropped = asyncio.run(_demos(cfg, tasks))
    write_jsonl(kept, out)
    typer.echo(f"wrote {len(kept)} demonstrations to {out}; dropped {sum(dropped.values())} of {len(tasks)}")
    for reason, count in dropped.most_common():
        typer.echo(f"  dropped {count}: {reason}")


async def _demos(cfg, tasks: list[dict]):
    from rich.progress import Progress

    from agent.runtime import research_setting
    from agent.web import open_web
    from evals.demos import build_demos
    from planner.prompts import ANSWER_TOOL, REACT_SYSTEM, react_user

    async with open_web(cfg) as toolbox:
        with Progress(console=err_console, transient=True) as bar:
            job = bar.add_task("building demonstrations", total=len(tasks))
            return await build_demos(
                tasks, toolbox, system=REACT_SYSTEM, answer_tool=ANSWER_TOOL, user_text=react_user,
                site_url=getattr(toolbox.search_provider, "base_url", None),
                progress=lambda done, total: bar.update(job, completed=done, total=total),
                focus_reading=research_setting(cfg, None, "focus_reading"),
            )


def register(app: typer.Typer) -> None:
    tasks = typer.Typer(help="Synthesize and inspect research tasks.", no_args_is_help=True)
    tasks.command("synth")(synth)
    tasks.command("demos")(demos)
    app.add_typer(tasks, name="tasks")
