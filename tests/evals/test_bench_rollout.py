"""The rollout benchmark's phases with fakes: concurrency bounds, the raw load's shape,
metrics parsing and the target verdicts."""

from __future__ import annotations

import asyncio

import pytest

from evals.bench_rollout import (
    RunSample,
    agent_phase,
    engine_breakdown,
    parse_prometheus,
    raw_phase,
    verdicts,
)

METRICS = """# HELP vllm:prefix_cache_queries_total x
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 1000.0
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 750.0
vllm:generation_tokens_total{engine="0",model_name="m"} 42.0
"""


def test_prometheus_text_is_parsed_and_summed_over_labels():
    m = parse_prometheus(METRICS + 'vllm:generation_tokens_total{engine="1",model_name="m"} 8.0\n')
    assert m["vllm:prefix_cache_hits_total"] == 750.0
    assert m["vllm:generation_tokens_total"] == 50.0


def test_engine_breakdown_is_the_mean_per_request_of_the_phase():
    before = {"vllm:e2e_request_latency_seconds_count": 10, "vllm:request_queue_time_seconds_sum": 1.0,
              "vllm:time_to_first_token_seconds_sum": 2.0, "vllm:request_prefill_time_seconds_sum": 1.5,
              "vllm:request_decode_time_seconds_sum": 5.0, "vllm:e2e_request_latency_seconds_sum": 8.0,
              "vllm:request_prefill_kv_computed_tokens_sum": 300, "vllm:generation_tokens_total": 100}
    after = {"vllm:e2e_request_latency_seconds_count": 14, "vllm:request_queue_time_seconds_sum": 1.4,
             "vllm:time_to_first_token_seconds_sum": 4.0, "vllm:request_prefill_time_seconds_sum": 3.5,
             "vllm:request_decode_time_seconds_sum": 9.0, "vllm:e2e_request_latency_seconds_sum": 14.0,
             "vllm:request_prefill_kv_computed_tokens_sum": 1300, "vllm:generation_tokens_total": 180}
    e = engine_breakdown(after, before)
    assert e["requests"] == 4
    assert e["queue_s"] == pytest.approx(0.1) and e["ttft_s"] == pytest.approx(0.5)
    assert e["prefill_s"] == pytest.approx(0.5) and e["decode_s"] == pytest.approx(1.0) and e["e2e_s"] == 1.5
    assert e["prefill_tokens_per_s"] == pytest.approx(500) and e["decode_tokens_per_s"] == pytest.approx(20)
    # an endpoint without vLLM's histograms: nothing invented
    assert set(engine_breakdown({}, {}).values()) == {0.0, None}


class Counter:
    def __init__(self):
        self.now = self.peak = 0

    async def hold(self, seconds: float):
        self.now += 1
        self.peak = max(self.peak, self.now)
        await asyncio.sleep(seconds)
        self.now -= 1


async def test_agent_phase_never_runs_more_than_the_concurrency_and_counts_tokens():
    c = Counter()
    calls = {"m": 0}

    async def metrics():  # between the two reads: 200 more queries, 150 more hits
        calls["m"] += 1
        k = calls["m"] - 1
        return parse_prometheus(METRICS.replace("1000.0", str(1000.0 + 200 * k)).replace("750.0", str(750.0 + 150 * k)))

    async def run_task(task):
        await c.hold(0.01)
        return RunSample(wall_s=1.0, model_s=0.7, tool_s=0.2, calls=[(100, 10), (150, 5)])

    row, samples = await agent_phase(run_task, [{"id": i} for i in range(9)], 3, metrics=metrics)
    assert 0.0 <= row["loop_busy_fraction"] <= 1.0 and row["loop_cpu_s"] >= 0.0
    assert c.peak == 3
    assert row["runs"] == 9 and row["generated_tokens"] == 9 * 15 and row["prompt_tokens"] == 9 * 250
    assert row["split_timestamps"] == pytest.approx({"model": 0.7, "tools": 0.2, "other": 0.1})
    assert row["prefix_cache_hit_rate"] == pytest.approx(0.75)
    assert row["peak_rss_bytes"] > 0


async def test_raw_phase_replays_each_run_with_the_agents_lengths_in_order():
    c = Counter()
    seen: list[tuple[list[int], int]] = []

    async def complete(ids, n):
        await c.hold(0.005)
        seen.append((ids, n))
        return len(ids), n

    async def tokenize(text):
        return [7, 8, 9]

    async def metrics():
        return {}

    samples = [RunSample(wall_s=1, model_s=1, tool_s=0, calls=[(5, 3), (9, 2)], prompts=["hi", "hi there"]),
               RunSample(wall_s=1, model_s=1, tool_s=0, calls=[(4, 1)], prompts=[])]
    row = await raw_phase(complete, tokenize, samples, 2, metrics=metrics)
    assert c.peak <= 2
    assert sorted(tuple(x[:2]) for x in row["lengths"]) == [(4, 1), (5, 3), (9, 2)]
    assert all(x[0] == x[2] and x[1] == x[3] for x in row["lengths"])
    run1 = [ids for ids, _ in seen if len(ids) in (5, 9)]
    # each request replays the agent's own prompt for that call (tokenized), padded to its length
    assert all(ids[:3] == [7, 8, 9] for ids in run1)
    assert row["generated_tokens"] == 6 and row["prefix_cache_hit_rate"] is None


def level(c, tpm, agent_gen, raw_gen, other=0.01, rss=100 * 2**20):
    return {"concurrency": c, "efficiency": agent_gen / raw_gen,
            "agent": {"trajectories_per_min": tpm, "generated_tokens_per_s": agent_gen,
                      "split": {"model": 0.9, "tools": 0.09, "other": other}, "peak_rss_bytes": rss},
            "raw": {"generated_tokens_per_s": raw_gen}}


def test_verdicts_say_which_part_holds_a_missed_target_back():
    ok = verdicts([level(1, 1.0, 10, 11), level(16, 5.0, 90, 100)])
    assert all(v["met"] for v in ok) and not any(v["held_back_by"] for v in ok)
    bad = verdicts([level(1, 1.0, 10, 11), level(16, 2.0, 50, 100, other=0.2, rss=3 * 2**30)])
    by = {v["target"].split()[0]: v for v in bad}
    assert not by["efficiency"]["met"] and "other" in by["efficiency"]["held_back_by"]
    assert not by["trajectories/min"]["met"] and "server itself scales" in by["trajectories/min"]["held_back_by"]
    assert not by["neither"]["met"] and not by["peak"]["met"]


async def test_loop_busy_time_counts_synchronous_work_on_the_event_loop():
    import time

    async def run_task(task):
        # synchronous work (nothing else on the loop can run) of 0.1 s of this thread's CPU time,
        # so the test measures the same on a loaded machine as on a quiet one
        t = time.thread_time()
        while time.thread_time() - t < 0.1:
            pass
        await asyncio.sleep(0.05)
        return RunSample(wall_s=0.15, model_s=0.05, tool_s=0.0, calls=[(1, 1)])

    async def metrics():
        return {}

    row, _ = await agent_phase(run_task, [{"id": i} for i in range(3)], 3, metrics=metrics)
    assert row["loop_cpu_s"] >= 0.25
    assert row["split"]["other"] > row["split_timestamps"]["other"]


async def test_the_agent_row_reports_the_cost_per_trajectory_and_per_kept_one():
    async def metrics():
        return {}

    samples = iter([
        RunSample(wall_s=1.0, model_s=0.5, tool_s=0.1, calls=[(300, 20), (400, 30)], kept=True, training_tokens=60),
        RunSample(wall_s=1.0, model_s=0.5, tool_s=0.1, calls=[(200, 10)], kept=False),
        RunSample(wall_s=1.0, model_s=0.5, tool_s=0.1, calls=[(100, 10)], kept=True, training_tokens=40),
    ])

    async def run_task(task):
        return next(samples)

    row, _ = await agent_phase(run_task, [{"id": i} for i in range(3)], 1, metrics=metrics)
    assert row["prompt_tokens_per_trajectory"] == pytest.approx(1000 / 3)
    assert row["completion_tokens_per_trajectory"] == pytest.approx(70 / 3)
    assert row["kept"] == 2 and row["training_tokens_per_kept"] == 50
    assert row["trajectories_per_min"] > 0
