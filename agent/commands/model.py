"""`deepstar model prepare`."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.commands._common import ConfigOpt, HomeOpt, build_config, err_console
from reasoner.prepare import prepare_model


def register(app: typer.Typer) -> None:
    model_app = typer.Typer(help="The bundled model.", no_args_is_help=True)

    @model_app.command("prepare")
    def prepare(
        force: bool = typer.Option(False, "--force", help="prepare again even if already prepared"),
        home: Path | None = HomeOpt,
        config: Path | None = ConfigOpt,
    ) -> None:
        """Assemble, verify and de-quantize the bundled Gemma 3 270M into the workspace (idempotent)."""
        cfg = build_config(config, home=home)
        result = prepare_model(cfg.models_dir, progress=lambda m: err_console.print(m), force=force)
        typer.echo(str(result.path))

    app.add_typer(model_app, name="model")
