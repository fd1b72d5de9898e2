"""Rollout throughput: many research runs at once against one server, measured against the
server's own limit in the same run (`deepstar bench rollout`).

For each concurrency level:

1. agent phase: the same N tasks run through the real agent, at most `c` at once. Each run
   reports its wall time, the time it spent waiting on the model and on tools, the
   (prompt, completion) token counts of every model call, whether the STaR filter keeps it
   and how many tokens SFT would train on; the row gives prompt and completion tokens per
   trajectory, trajectories per minute and training tokens per kept trajectory.
2. raw phase: the server's limit for that very load. Every agent run becomes a synthetic
   run of plain completion requests with the same prompt and output lengths, in the same
   order, at the same concurrency, through the same client, with nothing in between:
   no tools, no graph, no store. Each request replays the agent's own prompt for that
   call (re-rendered from the recorded messages, cut or padded to the exact recorded
   length), so the raw load has the agent's prompt lengths and its prefix-cache
   structure; outputs are forced to the recorded length (`min_tokens`, `ignore_eos`).

Greedy runs of the same tasks repeat their prompts, so every phase after the first
would find them in the server's prefix cache. The CLI therefore runs one unmeasured
warm-up pass first: every measured phase, agent and raw, then sees a warm cache alike.

efficiency = agent generated tokens/s ÷ raw generated tokens/s. `evals` does not import
`agent`: the agent phase runs whatever `run_task` callable the CLI passes in.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PeakRSS", "RunSample", "TARGETS", "agent_phase", "engine_breakdown", "parse_prometheus", "raw_phase",
           "verdicts"]

TARGETS = {"efficiency_at_16": 0.8, "speedup_16_over_1": 4.0, "other_fraction": 0.05, "peak_rss_gb": 1.5}


@dataclass
class RunSample:
    """One research run as the benchmark sees it."""

    wall_s: float
    model_s: float                                   # waiting on model calls
    tool_s: float                                    # waiting on tool calls
    calls: list[tuple[int, int]]                     # (prompt_tokens, completion_tokens) per model call, in order
    prompts: list[str] = field(default_factory=list)  # the rendered prompt of each call (for the raw replay)
    ok: bool = True
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    kept: bool | None = None             # whether the STaR filter keeps the trajectory (None: not judged)
    training_tokens: int | None = None   # the tokens SFT would train on (labelled), when known

    @property
    def other_s(self) -> float:
        return max(0.0, self.wall_s - self.model_s - self.tool_s)


# --- server metrics ---------------------------------------------------------------------------------------
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEinfINFaN]+)$")


def parse_prometheus(text: str) -> dict[str, float]:
    """Sum each metric over its label sets (one engine, one model here: the sum is the value)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line.strip())
        if m:
            try:
                out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
            except ValueError:
                continue
    return out


def _delta(after: dict[str, float], before: dict[str, float], name: str) -> float | None:
    if name not in after:
        return None
    return after[name] - before.get(name, 0.0)


def _cache_hit_rate(after: dict[str, float], before: dict[str, float]) -> float | None:
    queries = _delta(after, before, "vllm:prefix_cache_queries_total")
    hits = _delta(after, before, "vllm:prefix_cache_hits_total")
    if not queries or hits is None:
        return None
    return hits / queries


def engine_breakdown(after: dict[str, float], before: dict[str, float]) -> dict[str, float | None]:
    """Where the server spent a phase's requests, per request on average, from vLLM's own
    histograms: waiting in the queue (grammar compilation included: a structured request
    waits there until its grammar is ready), time to first token, prefill and decode, and the
    rates prefill and decode ran at (prefill counts only the tokens computed, not those the
    prefix cache served)."""
    n = _delta(after, before, "vllm:e2e_request_latency_seconds_count") or 0.0

    def mean(name: str) -> float | None:
        total = _delta(after, before, name)
        return None if total is None or not n else total / n

    def rate(tokens: str, seconds: str) -> float | None:
        tok, sec = _delta(after, before, tokens), _delta(after, before, seconds)
        return None if tok is None or not sec else tok / sec

    return {"requests": n,
            "queue_s": mean("vllm:request_queue_time_seconds_sum"),
            "ttft_s": mean("vllm:time_to_first_token_seconds_sum"),
            "prefill_s": mean("vllm:request_prefill_time_seconds_sum"),
            "decode_s": mean("vllm:request_decode_time_seconds_sum"),
            "e2e_s": mean("vllm:e2e_request_latency_seconds_sum"),
            "prefill_tokens_per_s": rate("vllm:request_prefill_kv_computed_tokens_sum",
                                         "vllm:request_prefill_time_seconds_sum"),
            "decode_tokens_per_s": rate("vllm:generation_tokens_total", "vllm:request_decode_time_seconds_sum")}


# --- memory ----------------------------------------------------------------------------------------------
class PeakRSS:
    """Peak resident memory of this process over a phase: Linux's high-water mark, reset
    at the start (`/proc/self/clear_refs`), with a sampling thread as the fallback."""

    def __init__(self) -> None:
        self._sampled = 0
        self._stop = False
        self._reset_ok = False

    @staticmethod
    def _status(key: str) -> int:
        try:
            with open("/proc/self/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    async def __aenter__(self) -> PeakRSS:
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
                f.write("5")  # resets VmHWM to the current RSS
            self._reset_ok = True
        except OSError:
            self._reset_ok = False
        self._sampled = self._status("VmRSS")
        self._task = asyncio.create_task(self._sample())
        return self

    async def _sample(self) -> None:
        while not self._stop:
            self._sampled = max(self._sampled, self._status("VmRSS"))
            await asyncio.sleep(0.2)

    async def __aexit__(self, *exc: object) -> None:
        self._stop = True
        await self._task

    @property
    def bytes(self) -> int:
        hwm = self._status("VmHWM") if self._reset_ok else 0
        return max(hwm, self._sampled)


# --- the two phases ---------------------------------------------------------------------------------------
async def _bounded(items: Sequence[Any], concurrency: int, work: Callable[[Any], Awaitable[Any]],
                   progress: Callable[[int, int], None] | None = None) -> list[Any]:
    sem = asyncio.Semaphore(concurrency)
    done = 0

    async def one(item: Any) -> Any:
        nonlocal done
        async with sem:
            result = await work(item)
        done += 1
        if progress:
            progress(done, len(items))
        return result

    return list(await asyncio.gather(*(one(i) for i in items)))


async def agent_phase(run_task: Callable[[dict], Awaitable[RunSample]], tasks: Sequence[dict], concurrency: int,
                      *, metrics: Callable[[], Awaitable[dict[str, float]]],
                      progress: Callable[[int, int], None] | None = None) -> tuple[dict[str, Any], list[RunSample]]:
    before = await metrics()
    async with PeakRSS() as rss:
        # CPU time of the event loop's thread: the time the loop was busy running
        # deepstar's own code (graph, store, rendering, parsing, in-loop tool work), during
        # which a finished model call could not be picked up. Unlike a wake-up probe it
        # does not count time the OS gave to other processes.
        cpu0, t0 = time.thread_time(), time.monotonic()
        samples = await _bounded(tasks, concurrency, run_task, progress)
        wall, loop_cpu = time.monotonic() - t0, time.thread_time() - cpu0
    after = await metrics()
    prompt = sum(p for s in samples for p, _ in s.calls)
    gen = sum(g for s in samples for _, g in s.calls)
    run_wall = sum(s.wall_s for s in samples) or 1e-9
    model_s, tool_s = sum(s.model_s for s in samples), sum(s.tool_s for s in samples)
    stamps = {"model": model_s / run_wall, "tools": tool_s / run_wall,
              "other": max(0.0, 1 - (model_s + tool_s) / run_wall)}
    blocked = min(1.0, loop_cpu / wall)
    kept = [s for s in samples if s.kept]
    trained = [s.training_tokens for s in kept if s.training_tokens is not None]
    n = len(samples) or 1
    row = {
        "runs": len(samples), "ok": sum(s.ok for s in samples), "wall_s": wall,
        "trajectories_per_min": 60 * len(samples) / wall,
        # what one trajectory costs, and what a kept one is worth to training
        "prompt_tokens_per_trajectory": prompt / n, "completion_tokens_per_trajectory": gen / n,
        "kept": len(kept) if any(s.kept is not None for s in samples) else None,
        "training_tokens_per_kept": sum(trained) / len(trained) if trained else None,
        "model_calls": sum(len(s.calls) for s in samples),
        "prompt_tokens": prompt, "generated_tokens": gen,
        "prompt_tokens_per_s": prompt / wall, "generated_tokens_per_s": gen / wall,
        "prefix_cache_hit_rate": _cache_hit_rate(after, before),
        "server_generated_tokens": _delta(after, before, "vllm:generation_tokens_total"),
        "engine": engine_breakdown(after, before),
        # by the runs' own timestamps; then with the time the loop was busy moved from
        # "model" (every run in flight waited through it) to "other", where it belongs
        "split_timestamps": stamps,
        "split": {"model": max(0.0, stamps["model"] - blocked), "tools": stamps["tools"],
                  "other": min(1.0, stamps["other"] + min(blocked, stamps["model"]))},
        "loop_busy_fraction": blocked, "loop_cpu_s": loop_cpu,
        "peak_rss_bytes": rss.bytes,
        "errors": sorted({s.error for s in samples if s.error})[:5],
    }
    return row, samples


async def raw_phase(complete: Callable[[list[int], int], Awaitable[tuple[int, int]]],
                    tokenize: Callable[[str], Awaitable[list[int]]], samples: Sequence[RunSample], concurrency: int,
                    *, metrics: Callable[[], Awaitable[dict[str, float]]], seed: int = 0,
                    vocab: tuple[int, int] = (1000, 100_000),
                    progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """The agent's load without the agent: see the module docstring. `complete(prompt_ids,
    n_tokens)` returns the server's (prompt_tokens, completion_tokens) for one request."""
    rng = random.Random(seed)
    runs: list[list[tuple[list[int], int]]] = []  # per run: (prompt ids, output length) per call
    for s in samples:
        calls = []
        for k, (p, g) in enumerate(s.calls):
            ids = (await tokenize(s.prompts[k]))[:p] if k < len(s.prompts) and s.prompts[k] else []
            calls.append((ids + [rng.randrange(*vocab) for _ in range(p - len(ids))], g))
        if calls:
            runs.append(calls)
    counted = {"prompt": 0, "generated": 0, "requests": 0}
    sent: list[list[int]] = []  # [prompt asked, output asked, prompt served, output served] per request

    async def run(calls: list[tuple[list[int], int]]) -> None:
        for ids, g in calls:
            p = len(ids)
            got_p, got_g = await complete(ids, max(1, g))
            sent.append([p, max(1, g), got_p, got_g])
            counted["prompt"] += got_p
            counted["generated"] += got_g
            counted["requests"] += 1

    before = await metrics()
    t0 = time.monotonic()
    await _bounded(runs, concurrency, run, progress)
    wall = time.monotonic() - t0
    after = await metrics()
    return {"runs": len(runs), "requests": counted["requests"], "wall_s": wall,
            "prompt_tokens": counted["prompt"], "generated_tokens": counted["generated"],
            "prompt_tokens_per_s": counted["prompt"] / wall, "generated_tokens_per_s": counted["generated"] / wall,
            "prefix_cache_hit_rate": _cache_hit_rate(after, before), "engine": engine_breakdown(after, before),
            "lengths": sent}


# --- targets ---------------------------------------------------------------------------------------------
def verdicts(levels: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target against the measured figure, and what holds a missed one back."""
    by_c = {lv["concurrency"]: lv for lv in levels}
    out: list[dict[str, Any]] = []
    top = by_c.get(16) or by_c[max(by_c)]
    c_top = top["concurrency"]
    eff = top["efficiency"]
    split = top["agent"]["split"]
    hold = None
    if eff is not None and eff < TARGETS["efficiency_at_16"]:
        biggest = max(("tools", split["tools"]), ("other", split["other"]), key=lambda kv: kv[1])
        hold = (f"the agent keeps fewer requests in the server's batch than the raw load: "
                f"{biggest[0]} take {biggest[1]:.1%} of run time")
    out.append({"target": f"efficiency at concurrency {c_top} >= {TARGETS['efficiency_at_16']}",
                "value": eff, "met": eff is not None and eff >= TARGETS["efficiency_at_16"], "held_back_by": hold})
    if 1 in by_c and by_c[1]["agent"]["trajectories_per_min"] > 0:
        speedup = top["agent"]["trajectories_per_min"] / by_c[1]["agent"]["trajectories_per_min"]
        raw_speedup = (top["raw"]["generated_tokens_per_s"] / by_c[1]["raw"]["generated_tokens_per_s"]
                       if by_c[1]["raw"]["generated_tokens_per_s"] else None)
        hold = None
        if speedup < TARGETS["speedup_16_over_1"]:
            hold = (f"the server itself scales {raw_speedup:.2f}× from 1 to {c_top} concurrent runs of this load"
                    if raw_speedup is not None else "the server's scaling")
        out.append({"target": f"trajectories/min at {c_top} >= {TARGETS['speedup_16_over_1']}× at 1",
                    "value": speedup, "met": speedup >= TARGETS["speedup_16_over_1"], "held_back_by": hold})
    other = split["other"]
    out.append({"target": f"neither model nor tools <= {TARGETS['other_fraction']:.0%} of wall time",
                "value": other, "met": other <= TARGETS["other_fraction"],
                "held_back_by": None if other <= TARGETS["other_fraction"] else "graph, store and parsing in the agent process"})
    rss_gb = top["agent"]["peak_rss_bytes"] / 2**30
    out.append({"target": f"peak RSS of the deepstar process at {c_top} <= {TARGETS['peak_rss_gb']} GB",
                "value": rss_gb, "met": rss_gb <= TARGETS["peak_rss_gb"],
                "held_back_by": None if rss_gb <= TARGETS["peak_rss_gb"] else "modules and caches held by the process"})
    return out


def machine(server: dict[str, Any]) -> dict[str, Any]:
    return {"cores": os.cpu_count(), **server}
