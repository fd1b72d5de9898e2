"""Errors of the research graph.

    PlannerError              base; a run that cannot go on
    ├── TooManyInvalidOutputs the model produced N invalid outputs in a row
    └── PlanningError         the plan's dependency structure is unusable; the run is not
        │                     stopped: it falls back to the question itself (recorded)
        ├── PlanCycle         sub-questions that depend on each other in a ring
        ├── MissingReference  a sub-question names one the plan does not have
        └── PlanTooDeep       a dependency chain longer than `max_plan_depth`
"""

from __future__ import annotations

__all__ = ["MissingReference", "PlanCycle", "PlanTooDeep", "PlannerError", "PlanningError", "TooManyInvalidOutputs"]


class PlannerError(Exception):
    pass


class TooManyInvalidOutputs(PlannerError):
    def __init__(self, count: int, last_error: str) -> None:
        self.count = count
        self.last_error = last_error
        super().__init__(f"the model produced {count} invalid outputs in a row (last: {last_error})")


class PlanningError(PlannerError):
    """The plan cannot be scheduled; `subquestion` is the id it is about."""

    def __init__(self, subquestion: str, message: str) -> None:
        self.subquestion = subquestion
        super().__init__(message)


class PlanCycle(PlanningError):
    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        super().__init__(ids[0], f"the plan's dependencies form a cycle: {' -> '.join([*ids, ids[0]])}")


class MissingReference(PlanningError):
    def __init__(self, subquestion: str, reference: str) -> None:
        self.reference = reference
        super().__init__(subquestion, f"sub-question {subquestion} depends on {reference}, which the plan does not have")


class PlanTooDeep(PlanningError):
    def __init__(self, subquestion: str, depth: int, max_depth: int) -> None:
        self.depth, self.max_depth = depth, max_depth
        super().__init__(subquestion, f"sub-question {subquestion} ends a dependency chain of {depth} steps; "
                                      f"max_plan_depth is {max_depth}")
