"""`deepstar tasks`: synthesize research tasks from the offline wiki corpus."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]


def synth(
    out: Path = typer.Option(..., "--out", help="Output JSONL file."),
    n: int | None = typer.Option(
        None, "--n", help="Total number of tasks over all splits (a seeded sample); default: all "
        "that pass the quality rules (about 5,100 train / 640 dev / 630 test)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for phrasings, pairings and sampling."),
    report: bool = typer.Option(False, "--report", help="Print counts, phrasing diversity and samples."),
    corpus: Path | None = typer.Option(None, "--corpus", help="A summaries JSON file instead of the installed one."),
) -> None:
    """Write synthesized single-hop, bridge and comparison tasks (train/dev/test) to --out."""
    from evals.corpus import load_articles
    from evals.synth import report as make_report
    from evals.synth import synthesize, write_tasks

    tasks = synthesize(load_articles(corpus), n=n, seed=seed)
    write_tasks(tasks, out)
    typer.echo(f"wrote {len(tasks)} tasks to {out}")
    if report:
        typer.echo(make_report(tasks))


def register(app: typer.Typer) -> None:
    tasks = typer.Typer(help="Synthesize and inspect research tasks.", no_args_is_help=True)
    tasks.command("synth")(synth)
    app.add_typer(tasks, name="tasks")
