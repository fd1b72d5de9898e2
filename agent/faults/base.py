"""The contract every fault or attack scenario follows (`deepstar bench faults`, tests/reliability).

A scenario is `async def name(ctx: FaultContext) -> ScenarioResult`: it injects one
fault or attack against real processes (vLLM, the deepstar CLI, loopback HTTP
servers, SQLite), lets deepstar run through it, and counts what happened. The
same function backs an integration test (which asserts `result.ok`) and a row
of the report.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FaultContext", "Scenario", "ScenarioResult"]


@dataclass
class FaultContext:
    """What a scenario may use. `home` is a scratch workspace of its own; `server_home`
    holds a prepared model and, when `base_url` is set, a healthy vLLM server's state."""

    home: Path
    server_home: Path | None = None
    base_url: str | None = None
    model: str | None = None
    log: Callable[[str], None] = print


@dataclass
class ScenarioResult:
    scenario: str                 # short name, a row of the report
    injected: str                 # what was done to deepstar, in words
    runs: int = 0                 # runs (or calls) attempted
    completed: int = 0            # of those, completed or resumed to completion (or refused cleanly)
    steps_lost: int = 0           # committed steps missing afterwards (must be 0)
    forbidden_requests: int = 0   # requests that reached a forbidden address or did a forbidden thing (must be 0)
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.steps_lost == 0 and self.forbidden_requests == 0 and self.completed == self.runs

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


Scenario = Callable[[FaultContext], Awaitable[ScenarioResult]]
