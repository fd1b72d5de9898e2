"""Command families of the `deepstar` CLI; each module has `register(app)`."""

from __future__ import annotations

from agent.commands import (
    adapters,
    bench,
    evaluate,
    export,
    model,
    quiet_star,
    research,
    runs,
    serve,
    star,
    tasks,
    web,
)

# Order is the order of `deepstar --help`.
COMMAND_MODULES = [research, model, serve, web, tasks, evaluate, export, star, adapters, quiet_star, runs, bench]
