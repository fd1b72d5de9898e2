"""SearXNG provider: `GET {base}/search?q=…&format=json` → `{"query", "results": [...]}`.

The response is streamed and refused past `max_bytes` (a broken or hostile instance
must not fill memory); the Toolbox bounds the call's wall-clock time.
"""

from __future__ import annotations

import json

import httpx

from tools.errors import SearchError
from tools.search import SearchResult

__all__ = ["SearxngProvider"]


class SearxngProvider:
    name = "searxng"

    def __init__(self, base_url: str, *, client: httpx.AsyncClient | None = None,
                 timeout_s: float = 15.0, max_bytes: int = 2_000_000) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_bytes = max_bytes
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
        request = self._client.build_request("GET", url, params={"q": query, "format": "json"},
                                             timeout=self._timeout, headers={"Accept": "application/json"})
        try:
            response = await self._client.send(request, stream=True)
            try:
                if response.status_code != 200:
                    raise SearchError(f"{self.name} search answered HTTP {response.status_code}", query=query)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise SearchError(f"{self.name} search answer is over {self.max_bytes} bytes", query=query)
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise SearchError(f"{self.name} search failed: {type(exc).__name__}: {exc}", query=query) from None
        try:
            data = json.loads(body)
            results = data["results"]
        except (ValueError, KeyError, TypeError, RecursionError):
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
