"""Live progress of a research run on the terminal (plain lines when not a terminal)."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from planner.events import (
    DraftEvent,
    Event,
    NodeEvent,
    NoteEvent,
    PlanEvent,
    SubquestionEvent,
    ToolCallEvent,
    ToolResultEvent,
    UsageEvent,
    VerifyEvent,
)

__all__ = ["RunProgress"]


class RunProgress:
    """Feed it events; it keeps the run's picture and draws it (to stderr)."""

    def __init__(self, console: Console | None = None, *, live: bool | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.live_enabled = sys.stderr.isatty() if live is None else live
        self.started = time.monotonic()
        self.node = "starting"
        self.subquestions: dict[str, dict[str, Any]] = {}
        self.tool_calls = 0
        self.tokens = 0
        self.last = ""
        self._live: Live | None = None

    def __enter__(self) -> RunProgress:
        if self.live_enabled:
            self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def _line(self, text: str) -> None:
        if self._live is None:
            self.console.print(f"[{time.monotonic() - self.started:6.1f}s] {text}", highlight=False, markup=False)

    def __call__(self, event: Event) -> None:
        if isinstance(event, NodeEvent):
            self.node = event.node
            self._line(f"node {event.node}")
        elif isinstance(event, PlanEvent):
            if event.error:
                self._line(f"planning error, researching the question itself: {event.error}")
            for s in event.subquestions:
                self.subquestions[s["id"]] = dict(s)
                after = f" (after {', '.join(s['depends_on'])})" if s.get("depends_on") else ""
                self._line(f"sub-question {s['id']}: {s['text']}{after}")
        elif isinstance(event, SubquestionEvent):
            sub = self.subquestions.setdefault(event.id, {"id": event.id})
            sub.update(status=event.status, text=event.text)
            if event.status in ("running", "failed"):
                self._line(f"{event.id} {event.status}: {event.text}" + (f" ({event.reason})" if event.reason else ""))
        elif isinstance(event, ToolCallEvent):
            self.tool_calls += 1 if event.name != "answer" else 0
            self.last = f"{event.branch}: {event.name}({', '.join(f'{k}={v!r}' for k, v in event.arguments.items())})"
            self._line(self.last[:200])
        elif isinstance(event, ToolResultEvent):
            if not event.ok:
                self._line(f"{event.branch}: {event.name} failed: {event.summary}")
        elif isinstance(event, NoteEvent):
            if event.branch in self.subquestions:
                self.subquestions[event.branch]["status"] = "done"
                self.subquestions[event.branch]["answer"] = event.note.get("answer")
            self._line(f"{event.branch}: answer {event.note.get('answer')!r}")
        elif isinstance(event, UsageEvent):
            self.tokens += event.prompt_tokens + event.completion_tokens
        elif isinstance(event, DraftEvent):
            self._line(f"draft answer: {event.answer!r}")
        elif isinstance(event, VerifyEvent):
            cited = [s for s in event.statements if s.get("cites") or s.get("rejected")]
            self._line(f"citation support {event.citation_support:.2f} over {len(event.citations)} citations; "
                       f"{sum(bool(s.get('supported')) for s in cited)} of {len(cited)} cited sentences supported")
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Group:
        head = Text(f"deepstar · {self.node} · {self.tool_calls} tool calls · {self.tokens} tokens · "
                    f"{time.monotonic() - self.started:.0f}s", style="bold")
        table = Table(show_header=True, header_style="dim", box=None)
        table.add_column("id")
        table.add_column("sub-question")
        table.add_column("status")
        for s in self.subquestions.values():
            status = s.get("status", "pending")
            table.add_row(s["id"], s["text"][:70], status + (f" → {s['answer']}" if s.get("answer") else ""))
        return Group(head, table, Text(self.last[:120], style="dim"))
