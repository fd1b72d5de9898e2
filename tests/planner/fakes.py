"""In-process fakes injected through the planner's seams (chat client, toolbox)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reasoner.client import ChatResult, Choice, Usage


@dataclass
class FakePage:
    url: str
    title: str
    text: str
    final_url: str = ""
    status: int = 200
    fetched_at: str = "2026-01-01T00:00:00Z"
    content_hash: str = "h"


class FakeToolbox:
    """search returns one URL per query; open returns that page's text."""

    def __init__(self, pages: dict[str, str]) -> None:
        self.site = {url: FakePage(url, url.rsplit("/", 1)[-1], text) for url, text in pages.items()}
        self.pages: dict[str, FakePage] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.focus: list[str | None] = []  # the question each call was given (Toolbox.call(focus=...))
        self.schemas = [
            {"type": "function", "function": {"name": "search", "description": "search", "parameters": {
                "type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
            {"type": "function", "function": {"name": "open", "description": "open", "parameters": {
                "type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}}},
        ]

    async def call(self, name: str, arguments: dict[str, Any], *, focus: str | None = None):
        from tools.toolbox import ToolOutcome

        self.calls.append((name, arguments))
        self.focus.append(focus)
        if name == "search":
            return ToolOutcome(ok=True, text="\n".join(f"[{i}] {u}" for i, u in enumerate(self.site, 1)))
        if name == "open" and arguments.get("url") in self.site:
            page = self.site[arguments["url"]]
            self.pages[page.url] = page
            return ToolOutcome(ok=True, text=page.text, url=page.url, page=page)
        return ToolOutcome(ok=False, text="error: not found", error="not found", url=arguments.get("url"))


def reply(content: str = "", calls: list[dict[str, Any]] | None = None, error: str | None = None) -> ChatResult:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [{"id": f"c{i}", "type": "function",
                                  "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
                                 for i, c in enumerate(calls)]
    return ChatResult(choices=[Choice(message=message, finish_reason="stop", text=content, error=error)],
                      usage=Usage(50, 5, 1), model="fake", latency_s=0.0)


def call(name: str, **arguments: Any) -> ChatResult:
    return reply(calls=[{"name": name, "arguments": arguments}])


@dataclass
class ScriptedClient:
    """Answers each chat() with the next scripted reply chosen by `policy(messages, kwargs)`."""

    policy: Callable[[list[dict[str, Any]], dict[str, Any]], ChatResult]
    seen: list[dict[str, Any]] = field(default_factory=list)
    yields: int = 0  # event-loop turns each call takes, so concurrent branches' calls overlap
    in_flight: int = 0
    max_in_flight: int = 0

    async def chat(self, messages: list[dict[str, Any]], **kwargs: Any) -> ChatResult:
        self.seen.append({"messages": [dict(m) for m in messages], **kwargs})
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(self.yields):
                await asyncio.sleep(0)
        finally:
            self.in_flight -= 1
        return self.policy(messages, kwargs)


class ListRecorder:
    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []

    def llm_call(self, **kw: Any) -> None:
        self.steps.append({"kind": "llm", **kw})

    def tool_call(self, **kw: Any) -> None:
        self.steps.append({"kind": "tool", **kw})
