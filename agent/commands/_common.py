"""Small helpers shared by the CLI command modules."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from agent.config import AgentConfig, load_config

__all__ = ["ConfigOpt", "HomeOpt", "build_config", "err_console", "server_progress"]

err_console = Console(stderr=True)

ConfigOpt = typer.Option(None, "--config", help="TOML config file (default: $DEEPSTAR_HOME/config.toml)")
HomeOpt = typer.Option(None, "--home", help="workspace directory (default: $DEEPSTAR_HOME or ~/.deepstar)")


def build_config(config_file: Path | None = None, **overrides: Any) -> AgentConfig:
    return load_config(overrides, config_file=config_file)


def server_progress() -> Callable[[str, float], None]:
    """Progress for the server start: a spinner on a terminal, a line every 15 s otherwise."""
    tty = sys.stderr.isatty()
    last = {"t": -15.0}
    status = err_console.status("starting the vLLM server…") if tty else None
    if status:
        status.start()

    def update(phase: str, elapsed: float) -> None:
        if phase == "healthy":
            if status:
                status.stop()
            err_console.print(f"vLLM server healthy after {elapsed:.0f} s")
            return
        if status:
            status.update(f"starting the vLLM server… {elapsed:.0f} s (first start compiles, about 2-3 min)")
        elif elapsed - last["t"] >= 15:
            last["t"] = elapsed
            print(f"starting the vLLM server… {elapsed:.0f} s", file=sys.stderr, flush=True)

    return update
