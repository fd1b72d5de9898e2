"""The `deepstar` command line.

Each command family lives in its own module under `agent/commands/` and registers
itself on the shared Typer app; this module only assembles them and turns the
packages' user-facing errors into a one-line message and a non-zero exit code.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from agent.commands import COMMAND_MODULES
from agent.errors import USER_ERRORS, exit_code_for

__all__ = ["app", "main"]

app = typer.Typer(
    name="deepstar",
    help="Agentic deep research with a self-taught reasoner served by vLLM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in COMMAND_MODULES:
    _module.register(app)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the console script."""
    try:
        app(args=argv, prog_name="deepstar", standalone_mode=True)
    except USER_ERRORS as exc:  # user errors: one clear line, no traceback
        print(f"deepstar: error: {exc}", file=sys.stderr)
        raise SystemExit(exit_code_for(exc)) from None
    except KeyboardInterrupt:
        print("deepstar: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    raise SystemExit(0)
