from __future__ import annotations

import asyncio
import time

from tools.errors import FetchError
from tools.robots import HostLimiter, RobotsCache


async def test_robots_cache_fetches_once_per_origin() -> None:
    calls: list[str] = []

    async def fetch(url: str) -> tuple[int, str]:
        calls.append(url)
        return 200, "User-agent: deepstar\nDisallow: /no\n\nUser-agent: *\nDisallow:\n"

    robots = RobotsCache(fetch, "deepstar/0.1 (+research agent)")
    assert not await robots.allowed("http://h.test/no/x")
    assert await robots.allowed("http://h.test/yes")
    assert calls == ["http://h.test/robots.txt"]


async def test_robots_failure_means_allow() -> None:
    async def fetch(url: str) -> tuple[int, str]:
        raise FetchError("timed out", url=url)

    assert await RobotsCache(fetch, "deepstar").allowed("http://h.test/x")


async def test_host_limiter_concurrency_and_delay() -> None:
    limiter = HostLimiter(concurrency=2, delay_s=0.05)
    active, peak = 0, 0
    starts: list[float] = []

    async def job(exempt: bool) -> None:
        nonlocal active, peak
        async with limiter.slot("h", exempt_from_delay=exempt):
            starts.append(time.monotonic())
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.01)
            active -= 1

    await asyncio.gather(*(job(False) for _ in range(4)))
    assert peak <= 2
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert all(g >= 0.04 for g in gaps)
    starts.clear()
    await asyncio.gather(*(job(True) for _ in range(4)))
    assert len(starts) == 4
