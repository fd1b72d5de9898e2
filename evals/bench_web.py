"""Performance benchmarks of the web layer: wiki index search latency, fetch throughput.

Each function takes what it measures as arguments (an index, a URL list, a fetcher
factory) and returns plain data; `deepstar bench search|fetch` wires them up.
"""

from __future__ import annotations

import asyncio
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from tools.fetch import Fetcher
from tools.wiki_corpus import Corpus
from tools.wiki_index import WikiIndex

__all__ = ["bench_fetch", "bench_search", "derive_queries", "machine_info", "percentile"]


def machine_info() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "python": platform.python_version(),
            "implementation": platform.python_implementation(), "platform": platform.platform()}


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def derive_queries(corpus: Corpus, n: int, *, seed: int = 0) -> list[str]:
    """`n` varied, deterministic queries: titles, title + description words, extract word mixes."""
    rnd = random.Random(seed)
    articles = corpus.articles
    out: list[str] = []
    while len(out) < n:
        a = rnd.choice(articles)
        kind = len(out) % 4
        if kind == 0:
            out.append(a.title)
        elif kind == 1:
            out.append(f"{a.title} {a.description}".strip())
        elif kind == 2:
            words = [w for w in a.extract.split() if len(w) > 3]
            out.append(" ".join(rnd.sample(words, min(3, len(words)))) or a.title)
        else:
            out.append(f"what is {a.title.lower()}")
    return out


def bench_search(index: WikiIndex, queries: Sequence[str], *, limit: int = 10,
                 warmup: int = 20) -> dict[str, Any]:
    for q in queries[:warmup]:
        index.search(q, limit)
    times: list[float] = []
    hits = 0
    for q in queries:
        t0 = time.perf_counter()
        results = index.search(q, limit)
        times.append((time.perf_counter() - t0) * 1000)
        hits += bool(results)
    return {"queries": len(queries), "limit": limit, "p50_ms": percentile(times, 50),
            "p95_ms": percentile(times, 95), "p99_ms": percentile(times, 99),
            "mean_ms": statistics.fmean(times), "with_results": hits}


async def bench_fetch(urls: Sequence[str], make_fetcher: Callable[[int], Fetcher], *,
                      concurrency: int) -> dict[str, Any]:
    """Fetch + extract every URL with `concurrency` workers; pages/s over the whole run."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    errors = 0
    chars = 0

    async with make_fetcher(concurrency) as fetcher:
        await fetcher.fetch(urls[0])  # warm: robots.txt, connection

        async def worker() -> None:
            nonlocal errors, chars
            while not queue.empty():
                url = queue.get_nowait()
                try:
                    page = await fetcher.fetch(url)
                    chars += len(page.text)
                except Exception:  # counted, not fatal: a benchmark reports failures
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return {"concurrency": concurrency, "pages": len(urls), "errors": errors, "seconds": elapsed,
            "pages_per_s": len(urls) / elapsed if elapsed else float("inf"), "text_chars": chars}
