"""SearXNG provider: `GET {base}/search?q=…&format=json` → `{"query", "results": [...]}`."""

from __future__ import annotations

import httpx

from tools.errors import SearchError
from tools.search import SearchResult

__all__ = ["SearxngProvider"]


class SearxngProvider:
    name = "searxng"

    def __init__(self, base_url: str, *, client: httpx.AsyncClient | None = None,
                 timeout_s: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(trust_env=False)
        self._timeout = httpx.Timeout(timeout_s)

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    async def search(self, query: str, limit: int) -> list[SearchResult]:
        if not query or not query.strip():
            raise SearchError("empty search query", query=query)
        url = f"{self.base_url}/search"
        try:
            response = await self._client.get(url, params={"q": query, "format": "json"},
                                              timeout=self._timeout,
                                              headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise SearchError(f"{self.name} search failed: {type(exc).__name__}: {exc}", query=query) from None
        if response.status_code != 200:
            raise SearchError(f"{self.name} search answered HTTP {response.status_code}", query=query)
        try:
            data = response.json()
            results = data["results"]
        except (ValueError, KeyError, TypeError):
            raise SearchError(f"{self.name} search did not return SearXNG JSON", query=query) from None
        out: list[SearchResult] = []
        for item in results if isinstance(results, list) else []:
            if not isinstance(item, dict) or not item.get("url"):
                continue
            out.append(SearchResult(title=str(item.get("title") or item["url"]), url=str(item["url"]),
                                    snippet=str(item.get("content") or ""), rank=len(out) + 1,
                                    provider=self.name))
            if len(out) >= limit:
                break
        return out
