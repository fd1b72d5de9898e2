"""Errors of the agent layer, and the set of errors the CLI reports without a traceback.

    AgentError             base of the agent's own errors
    ├── RunNotFound        `deepstar runs show/resume ID` names no stored run
    ├── RunInProgress      `deepstar runs resume ID` while another live process runs it
    ├── StoreError         the trajectory store is unusable (schema too new, corrupt file)
    └── RunFailed          a research run ended with a recorded error

The packages on the lower floors have their own roots (`tools.errors.ToolError`,
`reasoner.errors.ReasonerError`, …); `USER_ERRORS` gathers them so the CLI can print
a clear message and exit non-zero instead of a traceback.
"""

from __future__ import annotations

import importlib

from agent.config import ConfigError

__all__ = ["AgentError", "RunFailed", "RunInProgress", "RunNotFound", "StoreError", "USER_ERRORS", "exit_code_for"]


class AgentError(Exception):
    pass


class RunNotFound(AgentError):
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"no run with id {run_id!r} in the store (see `deepstar runs list`)")


class RunInProgress(AgentError):
    def __init__(self, run_id: str, pid: int) -> None:
        self.run_id, self.pid = run_id, pid
        super().__init__(f"run {run_id} is still running in process {pid}; stop that process "
                         f"(Ctrl-C or kill {pid}) before resuming it")


class StoreError(AgentError):
    pass


class RunFailed(AgentError):
    def __init__(self, run_id: str, reason: str) -> None:
        self.run_id = run_id
        super().__init__(f"run {run_id} failed: {reason}")


def _roots() -> tuple[type[BaseException], ...]:
    roots: list[type[BaseException]] = [AgentError, ConfigError]
    for module, name in (
        ("reasoner.errors", "ReasonerError"),
        ("tools.errors", "ToolError"),
        ("planner.errors", "PlannerError"),
        ("evals.errors", "EvalError"),
    ):
        try:
            roots.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):  # a package without its errors module yet
            continue
    return tuple(roots)


USER_ERRORS: tuple[type[BaseException], ...] = _roots()


def exit_code_for(exc: BaseException) -> int:
    """2 for bad input/config, 3 for unreachable services, 1 otherwise."""
    name = type(exc).__name__
    if isinstance(exc, ConfigError) or name in ("BlockedURL", "RunNotFound", "ModelNotPrepared", "MissingExtra", "TaskFileError",
                                                "StarError", "AdapterError"):
        return 2
    if name in ("EndpointUnavailable", "RequestTimeout", "ServerError", "PortInUse"):
        return 3
    return 1
