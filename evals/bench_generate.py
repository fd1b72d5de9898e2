"""Raw generation throughput of a served model: one request, then C at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from reasoner.client import ReasonerClient

__all__ = ["bench_generate"]

PROMPTS = [
    "The history of the printing press begins",
    "Photosynthesis is the process by which",
    "The Roman Empire was",
    "In mathematics, a prime number",
    "The Amazon river flows",
    "Mount Everest is",
    "The French Revolution began",
    "Jupiter is the largest planet",
]


async def bench_generate(client: ReasonerClient, *, tokens: int = 128, concurrency: tuple[int, ...] = (1, 8),
                         model: str | None = None) -> list[dict[str, Any]]:
    """Generated tokens/s at each concurrency (fixed-length outputs: EOS ignored)."""
    rows = []
    await client.complete("Warm-up:", model=model, max_tokens=4)
    for c in concurrency:
        t0 = time.perf_counter()
        results = await asyncio.gather(*(
            client.complete(PROMPTS[i % len(PROMPTS)], model=model, max_tokens=tokens, temperature=0.8, seed=i,
                            extra={"ignore_eos": True})
            for i in range(c)))
        wall = time.perf_counter() - t0
        generated = sum(r.usage.completion_tokens for r in results)
        rows.append({"concurrency": c, "generated_tokens": generated, "wall_s": round(wall, 3),
                     "tokens_per_s": round(generated / wall, 2),
                     "per_request_tokens_per_s": round(generated / c / wall, 2)})
    return rows
