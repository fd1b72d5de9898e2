"""State of the research graph and the shapes that flow through it.

Fan-out branches write into reducer fields (`notes`, `transcripts`, `usage`,
`subquestions` merged by id), so parallel research branches never overwrite each other.
Everything here is plain JSON data: the state is checkpointed in SQLite after every
step, which is what lets `deepstar runs resume` continue without redoing branches.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

__all__ = ["BranchInput", "ResearchState", "add_usage", "merge_subquestions", "or_flag"]


def merge_subquestions(left: list[dict[str, Any]] | None, right: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Merge by `id`: a known id is updated in place (status changes), a new id appended."""
    out = [dict(s) for s in (left or [])]
    index = {s["id"]: i for i, s in enumerate(out)}
    for item in right or []:
        if item["id"] in index:
            out[index[item["id"]]].update(item)
        else:
            index[item["id"]] = len(out)
            out.append(dict(item))
    return out


def add_usage(left: dict[str, int] | None, right: dict[str, int] | None) -> dict[str, int]:
    out = dict(left or {})
    for key, value in (right or {}).items():
        out[key] = out.get(key, 0) + int(value)
    return out


def or_flag(left: bool | None, right: bool | None) -> bool:
    return bool(left) or bool(right)


def last_value(left: Any, right: Any) -> Any:
    return right if right is not None else left


class ResearchState(TypedDict, total=False):
    question: str
    hint: str | None  # STaR rationalization only; never saved in a trajectory's messages
    mode: str
    # {id, text, template, depends_on, status, parent, round, answer?, reason?}: the dependency
    # graph. status: pending -> running (dispatched; `text` = `template` with the dependencies'
    # answers written in) -> done | unsupported | truncated | failed (a dependency unanswered: `reason`)
    subquestions: Annotated[list[dict[str, Any]], merge_subquestions]
    notes: Annotated[list[dict[str, Any]], operator.add]  # {branch, subquestion, answer, url, title, snippet, fetched}
    transcripts: Annotated[list[dict[str, Any]], operator.add]  # {branch, messages}
    usage: Annotated[dict[str, int], add_usage]  # prompt_tokens, completion_tokens, model_calls, tool_calls
    round: int
    plan_source: str  # "model" (its plan as written), "cleaned" (the guard dropped some), "fallback" (the question)
    plan_error: Annotated[str | None, last_value]  # a PlanningError's message (the plan fell back to the question)
    truncated: Annotated[bool, or_flag]
    stop_reason: Annotated[str | None, last_value]
    error: Annotated[str | None, last_value]
    answer: str
    report: str
    citations: list[dict[str, Any]]
    citation_support: float
    statements: list[dict[str, Any]]  # the report's claims and their citations (planner.report), checked by verify


class BranchInput(TypedDict):
    question: str
    hint: str | None
    subquestion: dict[str, Any]
