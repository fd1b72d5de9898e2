"""Errors raised by `evals`.

    EvalError                 base of everything below; `str(err)` is meant for the user
    ├── CorpusError           the offline wiki data file is missing or unreadable
    ├── StarError             the STaR loop was asked for something its run directory cannot give
    └── TaskFileError         a task file is malformed; carries path, line (or record) and field

`evals` sits on the middle floor (see ARCHITECTURE.md); the CLI catches `EvalError`
together with the other packages' roots.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CorpusError", "EvalError", "StarError", "TaskFileError"]


class EvalError(Exception):
    """Base of the evals' errors."""


class CorpusError(EvalError):
    pass


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
