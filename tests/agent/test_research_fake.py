"""A full research run over real HTTP: an OpenAI-protocol fake with native tool calls,
the real offline wiki site, real fetches, the real SQLite store and checkpointer."""

from __future__ import annotations

import pytest

from agent import AgentConfig, ResearchAgent
from agent.store import TrajectoryStore
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.integration


async def test_plan_research_write_verify_with_real_fetches(tmp_path):
    plan = ["Who designed the Eiffel Tower?", "When was the Eiffel Tower completed?"]
    fake = FakeOpenAI(plan=plan, answers={"designed": "Gustave Eiffel", "completed": "1889"},
                      # a planted citation: a quote that is not on the page
                      quotes={"designed": "The tower was designed by visitors from Mars."},
                      final_answer="1889")
    with fake:
        cfg = AgentConfig(home=tmp_path, base_url=fake.url, web="wiki", mode="plan", max_reflect_rounds=1)
        result = await ResearchAgent(cfg).research("When was the Eiffel Tower completed, and who designed it?")

    store = TrajectoryStore(cfg.db_path)
    fetched = store.pages_for(result.trajectory_id)
    assert result.answer == "1889"
    assert result.citations, result.report
    for c in result.citations:
        assert c["url"] in fetched  # [n] refers only to pages fetched in this run
        assert f"[{c['n']}]" in result.report
    planted = [c for c in result.citations if c["snippet"].startswith("The tower was designed by visitors")]
    assert planted and planted[0]["supported"] is False
    assert "unverified" in result.report
    honest = [c for c in result.citations if not c["snippet"].startswith("The tower was designed by visitors")]
    assert all(c["supported"] for c in honest)
    assert 0 < result.record["reward"]["citation_support"] < 1

    record = store.get_trajectory(result.trajectory_id)
    assert [s["text"] for s in record["plan"]] == plan
    steps = store.steps(result.trajectory_id)
    llm_steps = [s for s in steps if s["kind"] == "llm"]
    assert len(llm_steps) == len(fake.requests)  # every model call recorded
    tools = [s for s in steps if s["kind"] == "tool"]
    assert {s["name"] for s in tools} == {"search", "open"}
    assert record["usage"]["turns"] == len(fake.requests)
    assert record["usage"]["prompt_tokens"] == 100 * len(fake.requests)
    # OpenAI-format messages: every tool reply answers a call made just before it
    ids = set()
    for m in record["messages"]:
        for call in m.get("tool_calls") or []:
            ids.add(call["id"])
            assert isinstance(call["function"]["arguments"], str)
        if m["role"] == "tool":
            assert m["tool_call_id"] in ids
    store.close()


async def test_react_mode_records_the_exact_conversation(tmp_path):
    fake = FakeOpenAI(answers={"Eiffel": "1889"})
    with fake:
        cfg = AgentConfig(home=tmp_path, base_url=fake.url, web="wiki", mode="react")
        result = await ResearchAgent(cfg).research("In what year was the Eiffel Tower completed?",
                                                   task={"id": "t1", "answers": ["1889"], "kind": "single"})
    record = result.record
    assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant", "tool", "assistant", "tool",
                                                       "assistant", "tool"]
    assert record["messages"][1]["content"] == "Question: In what year was the Eiffel Tower completed?"
    assert record["reward"]["em"] == 1.0 and record["success"] is True
    question = "In what year was the Eiffel Tower completed?"
    assert record["plan"] == [{"id": "q0", "text": question, "template": question, "depends_on": [],
                               "status": "done", "parent": None, "round": 0, "answer": "1889"}]
    # react mode is one branch: its last research call's conversation is the record's conversation;
    # the fake has native tool calls, so report='auto' composes the report in one write call after it
    assert [c["node"] for c in record["calls"]] == ["research"] * 3 + ["write"]
    assert record["calls"][2]["messages"] == record["messages"][:-1]  # all but the tool's "Answer recorded."


async def test_hint_is_removed_before_saving(tmp_path):
    fake = FakeOpenAI(answers={"Eiffel": "1889"})
    with fake:
        cfg = AgentConfig(home=tmp_path, base_url=fake.url, web="wiki", mode="react")
        result = await ResearchAgent(cfg).research("In what year was the Eiffel Tower completed?", hint="1889")
    sent = fake.requests[0]["messages"][1]["content"]
    assert "Hint: the answer is 1889" in sent
    saved = TrajectoryStore(cfg.db_path).get_trajectory(result.trajectory_id)
    assert saved["rationalized"] is True
    assert all("Hint" not in (m.get("content") or "") for m in saved["messages"])


async def test_invalid_outputs_in_a_row_end_the_run_with_a_recorded_error(tmp_path):
    fake = FakeOpenAI(invalid=10)
    with fake:
        cfg = AgentConfig(home=tmp_path, base_url=fake.url, web="wiki", mode="react", max_invalid_outputs=3)
        result = await ResearchAgent(cfg).research("In what year was the Eiffel Tower completed?")
    assert "3 invalid outputs in a row" in result.error
    assert len(fake.requests) == 3
    store = TrajectoryStore(cfg.db_path)
    assert store.get_run(result.trajectory_id)["status"] == "failed"


async def test_step_budget_stops_cleanly_and_flags_truncation(tmp_path):
    fake = FakeOpenAI(answers={"Eiffel": "1889"})
    with fake:
        cfg = AgentConfig(home=tmp_path, base_url=fake.url, web="wiki", mode="react", max_steps=2)
        result = await ResearchAgent(cfg).research("In what year was the Eiffel Tower completed?")
    assert result.truncated and "step budget" in result.report
    assert len(fake.requests) == 2


def test_cli_with_an_unreachable_endpoint_is_a_clear_error(tmp_path):
    import socket

    from tests.conftest import deepstar

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = deepstar("research", "Anything?", "--base-url", f"http://127.0.0.1:{port}/v1", home=tmp_path,
                    timeout=120, env={"DEEPSTAR_MAX_RETRIES": "1"})
    assert proc.returncode == 3
    assert f"cannot reach the model endpoint http://127.0.0.1:{port}/v1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_research_writes_the_report_to_a_file(tmp_path):
    from tests.conftest import deepstar

    fake = FakeOpenAI(answers={"Eiffel": "1889"})
    with fake:
        out = tmp_path / "report.md"
        proc = deepstar("research", "In what year was the Eiffel Tower completed?", "--base-url", fake.url,
                        "--mode", "react", "--out", str(out), home=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = out.read_text()
    assert report.startswith("# In what year") and "**Answer:** 1889 [1]" in report and "## Sources" in report
    assert "node research:q0" in proc.stderr  # plain progress lines when stderr is not a terminal
