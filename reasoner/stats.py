"""Paired bootstrap intervals: the one implementation deepstar's reports use.

Two systems measured on the same units (the same dev tasks, the same held-out chunks) are
compared by the mean of their per-unit differences. Resampling whole units with
replacement keeps the pairing: a draw picks unit i for both systems at once. A unit may
carry several observations (a chunk of 96 tokens): it then contributes the sum of its
differences and its count, and a draw's estimate is the ratio of the drawn sums to the drawn
counts, so long units weigh by their size (a cluster bootstrap). The interval is the
percentile interval of the draws. It sits on the bottom floor because both STaR (evals) and
Quiet-STaR (reasoner) report with it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

__all__ = ["bootstrap_ratio", "paired_difference"]


def bootstrap_ratio(sums: Sequence[float], counts: Sequence[float] | None = None, *, resamples: int = 10_000,
                    seed: int = 0, level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """sum(sums)/sum(counts) and its percentile interval over units resampled with replacement.
    `counts` defaults to one observation per unit (the mean of `sums`). A draw whose counts
    add up to 0 (no observation of this kind was drawn) is left out."""
    n = len(sums)
    if counts is None:
        counts = [1.0] * n
    if n == 0 or len(counts) != n:
        raise ValueError(f"need as many counts as sums (got {n} sums, {len(counts)} counts), and at least one unit")
    total = float(sum(counts))
    point = float(sum(sums)) / total if total else math.nan
    rng = random.Random(seed)
    draws: list[float] = []
    for _ in range(resamples):
        s = c = 0.0
        for _ in range(n):
            k = rng.randrange(n)
            s += sums[k]
            c += counts[k]
        if c:
            draws.append(s / c)
    if not draws:
        return point, (math.nan, math.nan)
    draws.sort()
    tail = (1.0 - level) / 2
    lo = draws[min(len(draws) - 1, int(math.floor(tail * len(draws))))]
    hi = draws[min(len(draws) - 1, int(math.ceil((1.0 - tail) * len(draws))) - 1)]
    return point, (lo, hi)


def paired_difference(a: Mapping[str, float], b: Mapping[str, float], *, resamples: int = 10_000, seed: int = 0,
                      level: float = 0.95) -> dict[str, object]:
    """mean(a - b) over the units both measured (by id), with its paired bootstrap interval;
    `excludes_zero` says whether the interval lies wholly on one side of 0."""
    shared = sorted(set(a) & set(b))
    if not shared:
        raise ValueError("the two systems share no unit: they must be measured on the same tasks")
    point, (lo, hi) = bootstrap_ratio([float(a[k]) - float(b[k]) for k in shared], resamples=resamples, seed=seed,
                                      level=level)
    return {"delta": round(point, 4), "ci95": [round(lo, 4), round(hi, 4)], "n": len(shared),
            "excludes_zero": bool(lo > 0 or hi < 0), "resamples": resamples}
