"""Search results, the provider protocol, and the factory that picks a provider.

Providers (one module each): `search_searxng.SearxngProvider` (any SearXNG JSON API),
`search_wiki.WikiSearchProvider` (the same protocol against the local wiki site), and
`search_ddgs.DdgsProvider` (DuckDuckGo through the optional `ddgs` package).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import httpx

from tools.errors import SearchError

__all__ = ["SearchProvider", "SearchResult", "make_search_provider"]


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    snippet: str
    rank: int
    provider: str


@runtime_checkable
class SearchProvider(Protocol):
    name: str

    async def search(self, query: str, limit: int) -> list[SearchResult]: ...


def make_search_provider(name: str, *, searxng_url: str | None = None, wiki_url: str | None = None,
                         client: httpx.AsyncClient | None = None) -> SearchProvider:
    """`wiki` needs `wiki_url` (a running wiki site), `searxng` needs `searxng_url`."""
    if name == "wiki":
        if not wiki_url:
            raise SearchError("the wiki provider needs the URL of a running wiki site (wiki_url)")
        from tools.search_wiki import WikiSearchProvider
        return WikiSearchProvider(wiki_url, client=client)
    if name == "searxng":
        if not searxng_url:
            raise SearchError("the searxng provider needs searxng_url")
        from tools.search_searxng import SearxngProvider
        return SearxngProvider(searxng_url, client=client)
    if name == "ddgs":
        from tools.search_ddgs import DdgsProvider
        return DdgsProvider()
    raise SearchError(f"unknown search provider {name!r} (choose wiki, searxng or ddgs)")
