"""Errors raised by `evals`.

    EvalError                 base of everything below; `str(err)` is meant for the user
    ├── CorpusError           the offline wiki data file is missing or unreadable
    ├── StageFailed           too many runs of an eval or STaR stage raised: a systematic failure
    │                         (server down, unknown model), not a sample to score 0
    ├── StarError             the STaR loop was asked for something its run directory cannot give
    └── TaskFileError         a task file is malformed; carries path, line (or record) and field

`evals` sits on the middle floor (see ARCHITECTURE.md); the CLI catches `EvalError`
together with the other packages' roots.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CorpusError", "EvalError", "StageFailed", "StarError", "TaskFileError", "check_failures"]

# a stage survives a few runs that raise (a flaky request), not a systematic failure
MAX_RAISED_SHARE = 0.2


class EvalError(Exception):
    """Base of the evals' errors."""


class CorpusError(EvalError):
    pass


class StageFailed(EvalError):
    """More than `MAX_RAISED_SHARE` of a stage's runs raised; carries the stage and the first error."""

    def __init__(self, stage: str, raised: int, total: int, first_error: str) -> None:
        self.stage, self.raised, self.total, self.first_error = stage, raised, total, first_error
        super().__init__(f"{stage}: {raised} of {total} runs raised (first: {first_error}); this is a systematic "
                         f"failure, not a result: fix it (is the server up, is the model or adapter loaded?) "
                         f"and run the same command again to resume")


def check_failures(stage: str, errors: list[str], total: int, *, max_share: float = MAX_RAISED_SHARE) -> None:
    """Raise StageFailed when more than `max_share` of `total` runs raised (`errors`: their messages)."""
    if total and len(errors) > max(1, max_share * total):
        raise StageFailed(stage, len(errors), total, errors[0])


class StarError(EvalError):
    """e.g. ``--baseline seed`` before the loop trained its seed adapter; the message says what to run."""


class TaskFileError(EvalError):
    """A malformed task file: the message names the file, the line (or JSON record) and field.

    e.g. ``tasks.jsonl line 7: missing field 'question'``.
    """

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
        record: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.field = field
        self.record = record
        where = self.path.name
        if line is not None:
            where += f" line {line}"
        elif record is not None:
            where += f" record {record}"
        super().__init__(f"{where}: {message}")
