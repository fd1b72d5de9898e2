"""DuckDuckGo through the optional `ddgs` package (`pip install 'deepstar[web]'`)."""

from __future__ import annotations

import asyncio
from typing import Any

from tools.errors import MissingExtra, SearchError
from tools.search import SearchResult

__all__ = ["DdgsProvider"]


class DdgsProvider:
    name = "ddgs"

    def __init__(self, *, region: str = "wt-wt", safesearch: str = "moderate",
                 timeout_s: int = 15) -> None:
        self.region = region
        self.safesearch = safesearch
        self.timeout_s = timeout_s

    async def search(self, query: str, limit: int) -> list[SearchResult]:
        if not query or not query.strip():
            raise SearchError("empty search query", query=query)
        try:
            from ddgs import DDGS
        except ImportError:
            raise MissingExtra("web", "ddgs") from None

        def run() -> list[dict[str, Any]]:
            return DDGS(timeout=self.timeout_s).text(query, region=self.region,
                                                     safesearch=self.safesearch, max_results=limit)
        try:
            rows = await asyncio.to_thread(run)
        except Exception as exc:  # ddgs raises its own exception family; report it as a search failure
            raise SearchError(f"ddgs search failed: {type(exc).__name__}: {exc}", query=query) from None
        out: list[SearchResult] = []
        for row in rows or []:
            url = row.get("href") or row.get("url")
            if not url:
                continue
            out.append(SearchResult(title=str(row.get("title") or url), url=str(url),
                                    snippet=str(row.get("body") or ""), rank=len(out) + 1,
                                    provider=self.name))
        return out[:limit]
