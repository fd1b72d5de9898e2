"""Raw generation throughput of a served model: one request, then C at once; the share of
the memory-bandwidth bound that single-stream decoding reaches; and what a structured-output
grammar costs the first time a schema is seen and after (vLLM caches compiled grammars)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from reasoner.client import ReasonerClient

__all__ = ["bench_generate", "bench_grammar"]

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


async def bench_grammar(client: ReasonerClient, schema: dict[str, Any], *, prompt: str, model: str | None = None,
                        repeats: int = 3) -> dict[str, float]:
    """Latency of a one-token request without a grammar, with a schema never seen before
    (its grammar compiled for this request) and with the same schema again (cached). The
    differences are the grammar's cost; the schema is made new by a unique title."""

    async def one(constraint: dict[str, Any] | None) -> float:
        t0 = time.perf_counter()
        await client.complete(prompt, model=model, max_tokens=1, temperature=0.0, structured_outputs=constraint)
        return time.perf_counter() - t0

    plain = min([await one(None) for _ in range(repeats)])
    first, cached = [], []
    for k in range(repeats):
        fresh = {**schema, "title": f"deepstar-bench-{time.time_ns()}-{k}"}
        constraint = {"json": fresh, "disable_any_whitespace": True}
        first.append(await one(constraint))
        cached.append(min([await one(constraint) for _ in range(repeats)]))
    return {"plain_s": round(plain, 4), "first_s": round(sorted(first)[len(first) // 2], 4),
            "cached_s": round(min(cached), 4),
            "compile_s": round(max(0.0, sorted(first)[len(first) // 2] - plain), 4),
            "cached_overhead_s": round(max(0.0, min(cached) - plain), 4)}
