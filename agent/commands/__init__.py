"""Command families of the `deepstar` CLI; each module has `register(app)`."""

from __future__ import annotations

import importlib
from types import ModuleType

# Order is the order of `deepstar --help`.
_NAMES = ["research", "model", "serve", "web", "tasks", "evaluate", "export", "star", "runs", "bench"]


def _load() -> list[ModuleType]:
    modules = []
    for name in _NAMES:
        try:
            modules.append(importlib.import_module(f"agent.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"agent.commands.{name}":
                raise
    return modules


COMMAND_MODULES = _load()
