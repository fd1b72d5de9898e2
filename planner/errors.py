"""Errors of the research graph.

    PlannerError           base; a run that cannot go on
    └── TooManyInvalidOutputs   the model produced N invalid outputs in a row
"""

from __future__ import annotations

__all__ = ["PlannerError", "TooManyInvalidOutputs"]


class PlannerError(Exception):
    pass


class TooManyInvalidOutputs(PlannerError):
    def __init__(self, count: int, last_error: str) -> None:
        self.count = count
        self.last_error = last_error
        super().__init__(f"the model produced {count} invalid outputs in a row (last: {last_error})")
