"""`deepstar export`: trajectory records (the store, or a JSONL of records) as a training set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import typer

from agent.commands._common import ConfigOpt, build_config

__all__ = ["register"]


def _jsonl_records(path: Path) -> Iterator[dict]:
    from evals.errors import TaskFileError
    from evals.export import check_record
    from evals.loaders import read_jsonl_objects

    if not path.is_file():
        raise TaskFileError(path, "no such file")
    for lineno, record in read_jsonl_objects(path):
        check_record(record, f"{path.name} line {lineno}")
        yield record


def export(
    fmt: str = typer.Option(..., "--format", help="openai, sharegpt, trl, parquet (one row per run) or calls (one row per model call)."),
    out: Path = typer.Option(..., "--out", help="Output file (a dataset card README.md is written beside it)."),
    only_successful: bool = typer.Option(False, "--only-successful", help="Keep successful trajectories only."),
    min_f1: float | None = typer.Option(None, "--min-f1", help="Keep records whose reward F1 is at least this."),
    iteration: int | None = typer.Option(None, "--iteration", help="Keep one STaR iteration."),
    dataset: str | None = typer.Option(None, "--dataset", help="Keep one dataset (e.g. synth)."),
    from_jsonl: Path | None = typer.Option(None, "--from-jsonl", help="Read records from a JSONL file (e.g. demos) instead of the store."),
    config: Path | None = ConfigOpt,
) -> None:
    """Export trajectories for fine-tuning: filtered, deduplicated, with a dataset card."""
    from evals.export import EXPORT_FORMATS, dedup, select, write_export

    if fmt not in EXPORT_FORMATS:
        raise typer.BadParameter(f"{fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}", param_hint="--format")
    store = None
    if from_jsonl is not None:
        records, source = list(_jsonl_records(from_jsonl)), str(from_jsonl)
    else:
        from agent.store import TrajectoryStore

        cfg = build_config(config)
        store = TrajectoryStore(cfg.db_path)
        records, source = list(store.iter_trajectories()), str(cfg.db_path)
    try:
        chosen = dedup(select(records, only_successful=only_successful, min_f1=min_f1,
                              iteration=iteration, dataset=dataset))
        provenance = {"source": source, "filters": {"only_successful": only_successful, "min_f1": min_f1,
                                                    "iteration": iteration, "dataset": dataset},
                      "records_read": len(records)}
        path = write_export(chosen, fmt, out, provenance)
    finally:
        if store is not None:
            store.close()
    typer.echo(f"exported {len(chosen)} of {len(records)} records as {fmt} to {path}")


def register(app: typer.Typer) -> None:
    app.command("export")(export)
