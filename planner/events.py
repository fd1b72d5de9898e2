"""Typed progress events of a research run (what `ResearchAgent.stream` yields)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DoneEvent", "DraftEvent", "ErrorEvent", "Event", "NoteEvent", "PlanEvent", "ToolCallEvent",
           "SubquestionEvent", "ToolResultEvent", "UsageEvent", "VerifyEvent", "NodeEvent"]


@dataclass(frozen=True)
class Event:
    kind: str = field(init=False, default="event")


@dataclass(frozen=True)
class NodeEvent(Event):
    node: str
    kind: str = field(init=False, default="node")


@dataclass(frozen=True)
class PlanEvent(Event):
    subquestions: list[dict[str, Any]]  # each with its depends_on and template
    round: int = 0
    error: str | None = None  # a planning error: the plan fell back to the question
    kind: str = field(init=False, default="plan")


@dataclass(frozen=True)
class SubquestionEvent(Event):
    """A sub-question changed state: dispatched (`running`, its text with the dependencies'
    answers substituted), finished, or failed because a dependency went unanswered."""

    id: str
    status: str
    text: str
    reason: str | None = None
    kind: str = field(init=False, default="subquestion")


@dataclass(frozen=True)
class ToolCallEvent(Event):
    branch: str
    name: str
    arguments: dict[str, Any]
    kind: str = field(init=False, default="tool_call")


@dataclass(frozen=True)
class ToolResultEvent(Event):
    branch: str
    name: str
    ok: bool
    summary: str
    kind: str = field(init=False, default="tool_result")


@dataclass(frozen=True)
class NoteEvent(Event):
    branch: str
    note: dict[str, Any]
    kind: str = field(init=False, default="note")


@dataclass(frozen=True)
class DraftEvent(Event):
    answer: str
    report: str
    kind: str = field(init=False, default="draft")


@dataclass(frozen=True)
class VerifyEvent(Event):
    citation_support: float
    citations: list[dict[str, Any]]
    statements: list[dict[str, Any]] = field(default_factory=list)  # the report's claims, checked
    kind: str = field(init=False, default="verify")


@dataclass(frozen=True)
class UsageEvent(Event):
    node: str
    prompt_tokens: int
    completion_tokens: int
    kind: str = field(init=False, default="usage")


@dataclass(frozen=True)
class DoneEvent(Event):
    result: Any
    kind: str = field(init=False, default="done")


@dataclass(frozen=True)
class ErrorEvent(Event):
    message: str
    kind: str = field(init=False, default="error")
