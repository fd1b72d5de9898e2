"""Small helpers shared by the CLI command modules."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from agent.config import AgentConfig, load_config

__all__ = ["ConfigOpt", "HomeOpt", "build_config", "err_console", "fmt_duration", "server_progress", "task_progress",
           "training_progress"]

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


def fmt_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class task_progress:  # noqa: N801 - used like a function: `with task_progress(...) as update:`
    """Progress of N units of long work on stderr: a bar with count, rate and ETA on a terminal,
    otherwise a plain line every `every_s` seconds and at the end. `update(done, total)`."""

    def __init__(self, label: str, total: int, *, unit: str = "runs", every_s: float = 15.0) -> None:
        import time

        self.label, self.total, self.unit, self.every_s = label, total, unit, every_s
        self._clock = time.monotonic
        self._t0 = self._clock()
        self._last = -every_s
        self._bar: Any = None

    def __enter__(self) -> Callable[[int, int], None]:
        if err_console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn(self.unit), TimeElapsedColumn(), TextColumn("ETA"),
                                 TimeRemainingColumn(), console=err_console, transient=True)
            self._bar.start()
            self._job = self._bar.add_task(self.label, total=self.total)
        return self.update

    def update(self, done: int, total: int) -> None:
        self.total = total
        if self._bar is not None:
            self._bar.update(self._job, completed=done, total=total)
            return
        now = self._clock() - self._t0
        if done < total and now - self._last < self.every_s:
            return
        self._last = now
        rate = done / now if now > 0 else 0.0
        eta = f", ETA {fmt_duration((total - done) / rate)}" if 0 < done < total and rate > 0 else ""
        print(f"{self.label}: {done}/{total} {self.unit}, {60 * rate:.1f} {self.unit}/min, "
              f"{fmt_duration(now)} elapsed{eta}", file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def training_progress(label: str = "train", *, every_s: float = 15.0) -> Callable[[dict[str, Any]], None]:
    """A `progress` callback for reasoner.train.train_sft: what it is doing before the first
    step, then each step with loss, tokens/s and ETA (a line every `every_s` s off a terminal,
    one line rewritten in place on it)."""
    import time

    last = {"t": -every_s}
    tty = err_console.is_terminal

    def show(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "data":
            dropped = {k: v for k, v in (event.get("dropped") or {}).items() if v}
            print(f"{label}: {event['conversations']} conversations encoded"
                  + (f" ({dropped} dropped)" if dropped else ""), file=sys.stderr, flush=True)
        elif kind == "model":
            print(f"{label}: loading the base model ({event['device']}, {event['dtype']})…", file=sys.stderr, flush=True)
        elif kind == "step":
            now = time.monotonic()
            final = event["step"] == event.get("max_steps")
            if not (tty or final or now - last["t"] >= every_s or event["step"] == 1):
                return
            last["t"] = now
            line = (f"{label}: step {event['step']}/{event.get('max_steps', '?')}, loss {event['loss']:.3f}, "
                    f"{event['tokens_per_s']:.0f} tok/s, {event['step_s']:.1f} s/step, "
                    f"ETA {fmt_duration(event.get('eta_s', 0))}")
            if tty:
                print("\r\x1b[2K" + line, end="\n" if final else "", file=sys.stderr, flush=True)
            else:
                print(line, file=sys.stderr, flush=True)

    return show
