"""robots.txt (via protego) and per-host politeness.

`RobotsCache` asks a caller-supplied coroutine for `/robots.txt` (the fetcher passes its
own guarded fetch, so robots requests get the SSRF check too) and caches the parsed
rules per origin for the life of the object (one run). Policy: a missing robots.txt or
any 4xx means "allow all" (RFC 9309 §2.3.1.3); 5xx, timeouts and unreachable hosts also
mean "allow" — RFC 9309 suggests "disallow" there, but a research agent reading a few
pages should not lose a site to a flaky robots endpoint, and the page fetch itself will
surface the server's failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from protego import Protego

from tools.errors import BlockedURL, FetchError

__all__ = ["HostLimiter", "RobotsCache", "RobotsFetch"]

# Returns (status, body text) of GET url; raises FetchError/BlockedURL like the fetcher.
RobotsFetch = Callable[[str], Awaitable[tuple[int, str]]]


class RobotsCache:
    def __init__(self, fetch: RobotsFetch, user_agent: str) -> None:
        self._fetch = fetch
        self._agent = user_agent.split("/")[0]
        self._rules: dict[str, Protego | None] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        if origin not in self._rules:
            lock = self._locks.setdefault(origin, asyncio.Lock())
            async with lock:
                if origin not in self._rules:
                    self._rules[origin] = await self._load(origin)
        rules = self._rules[origin]
        return True if rules is None else rules.can_fetch(url, self._agent)

    async def check(self, url: str) -> None:
        if not await self.allowed(url):
            raise BlockedURL(url, "disallowed by the site's robots.txt")

    async def _load(self, origin: str) -> Protego | None:
        try:
            status, text = await self._fetch(origin + "/robots.txt")
        except BlockedURL:
            raise
        except FetchError:  # 4xx, 5xx, timeouts, unreadable: allow (see module docstring)
            return None
        if status >= 400:
            return None
        return Protego.parse(text)


class HostLimiter:
    """Per-host concurrency (a semaphore) and a minimum delay between request starts."""

    def __init__(self, concurrency: int = 4, delay_s: float = 0.0) -> None:
        self.concurrency = max(1, concurrency)
        self.delay_s = max(0.0, delay_s)
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._next: dict[str, float] = {}
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def slot(self, host: str, *, exempt_from_delay: bool = False) -> AsyncIterator[None]:
        sem = self._sems.setdefault(host, asyncio.Semaphore(self.concurrency))
        async with sem:
            if self.delay_s and not exempt_from_delay:
                async with self._lock:
                    now = time.monotonic()
                    start = max(now, self._next.get(host, now))
                    self._next[host] = start + self.delay_s
                if start > now:
                    await asyncio.sleep(start - now)
            yield
