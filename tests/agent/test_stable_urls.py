"""The offline wiki has one origin in every run and session: two runs on different days,
in different workspaces, with different (and busy) wiki ports, record identical URLs in
their trajectories, steps and page snapshots."""

from __future__ import annotations

import socket

import pytest

from agent.api import ResearchAgent
from agent.config import AgentConfig
from agent.faults.scripted import ScriptedModel
from agent.faults.web import eiffel_policy
from agent.store import TrajectoryStore

pytestmark = pytest.mark.integration

QUESTION = "In what year was the Eiffel Tower completed?"


def _urls(cfg: AgentConfig, run_id: str) -> dict[str, list[str]]:
    store = TrajectoryStore(cfg.db_path)
    try:
        record = store.get_trajectory(run_id)
        steps = store.steps(run_id)
        pages = sorted(store.pages_for(run_id))
    finally:
        store.close()
    tool_urls = [str((s["output"] or {}).get("url")) for s in steps if s["kind"] == "tool"]
    searched = [line.strip() for s in steps if s["kind"] == "tool" and s["name"] == "search"
                for line in (s["output"] or {}).get("text", "").splitlines() if line.strip().startswith("http")]
    return {"citations": [c["url"] for c in record["citations"]], "tool_steps": tool_urls,
            "search_results": searched, "snapshots": pages}


async def _run(home, wiki_port: int) -> dict[str, list[str]]:
    with ScriptedModel(eiffel_policy) as model:
        cfg = AgentConfig(home=home, base_url=model.url, model="scripted-model", web="wiki", wiki_port=wiki_port,
                          mode="react", max_steps=6)
        async with ResearchAgent(cfg) as agent:
            result = await agent.research(QUESTION)
    assert result.answer == "1889" and result.citations
    return _urls(cfg, result.trajectory_id)


async def test_two_runs_on_different_days_and_ports_record_identical_urls(tmp_path):
    with socket.socket() as busy:  # the second "day": its configured port is taken by something else
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        first = await _run(tmp_path / "monday", wiki_port=8021 if _free(8021) else _any_free())
        second = await _run(tmp_path / "tuesday", wiki_port=busy.getsockname()[1])
    assert first == second
    assert first["citations"] == ["http://wiki.deepstar/wiki/Eiffel_Tower"]
    assert all(u.startswith("http://wiki.deepstar/") for u in first["search_results"] + first["snapshots"])


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _any_free() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
