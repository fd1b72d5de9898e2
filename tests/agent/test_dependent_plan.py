"""A plan with a dependency, end to end over real HTTP: the scripted OpenAI-protocol server
plans a bridge's two hops plus an independent sub-question, the real offline wiki site
answers the searches and fetches, the real store records every model call; then the run is
exported one conversation per model call."""

from __future__ import annotations

import json

import pytest

from agent import AgentConfig, ResearchAgent
from agent.store import TrajectoryStore
from evals.export import write_export
from planner.events import SubquestionEvent
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.integration

QUESTION = "On which continent is the country where Antwerp is located?"
PLAN = ["Which country is Antwerp located in?", "On which continent is {q0}?", "What is the population of Antwerp?"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    fake = FakeOpenAI(plan=PLAN, answers={"Antwerp located": "Belgium", "continent is Belgium": "Europe",
                                          "population of Antwerp": "565,039"},
                      # the two independent branches are slow, so they can only finish on time together
                      delays={"Antwerp located": 0.3, "population of Antwerp": 0.3}, final_answer="Europe")
    events = []
    with fake:
        cfg = AgentConfig(home=home, base_url=fake.url, web="wiki", mode="plan", max_reflect_rounds=1)
        agent = ResearchAgent(cfg)
        result = agent.research_sync(QUESTION, task={"id": "b1", "answers": ["Europe"], "kind": "bridge"},
                                     emit=events.append)
    return result, fake, events, cfg


def branch_calls(record, branch):
    return [c for c in record["calls"] if c["branch"] == branch]


def test_the_second_hop_is_asked_with_the_first_hops_answer(run):
    result, fake, events, cfg = run
    asked = [r["messages"][1]["content"].splitlines()[0] for r in fake.requests if r.get("tools")]
    hop2 = [a for a in asked if "continent" in a]
    assert hop2 and set(hop2) == {"Question: On which continent is Belgium?"}
    assert result.answer == "Europe"
    # the dependency graph, node states and substituted text: in the record in the store ...
    record = TrajectoryStore(cfg.db_path).get_trajectory(result.trajectory_id)
    assert [(s["id"], s["depends_on"], s["status"]) for s in record["plan"]] == [
        ("q0", [], "done"), ("q1", ["q0"], "done"), ("q2", [], "done")]
    assert record["plan"][1]["template"] == "On which continent is {q0}?"
    assert record["plan"][1]["text"] == "On which continent is Belgium?"
    assert record["plan_source"] == "model" and record["plan_error"] is None
    # ... and in the live progress
    running = {e.id: e.text for e in events if isinstance(e, SubquestionEvent) and e.status == "running"}
    assert running == {"q0": PLAN[0], "q1": "On which continent is Belgium?", "q2": PLAN[2]}


def test_branches_without_a_dependency_overlap_in_time_and_the_dependent_one_waits(run):
    record = run[0].record
    span = {b: (branch_calls(record, b)[0]["started_at"], branch_calls(record, b)[-1]["finished_at"])
            for b in ("q0", "q1", "q2")}
    assert max(span["q0"][0], span["q2"][0]) < min(span["q0"][1], span["q2"][1])  # q0 and q2 overlap
    assert span["q1"][0] >= span["q0"][1]  # q1 starts once q0 has its answer


def test_the_record_holds_every_model_call_with_node_branch_and_parent(run):
    result, fake, _, cfg = run
    record = result.record
    calls = record["calls"]
    assert len(calls) == len(fake.requests)  # one entry per model call the server answered
    assert [c["node"] for c in calls][:1] == ["plan"] and calls[-1]["node"] == "write"
    assert {c["branch"] for c in calls if c["node"] == "research"} == {"q0", "q1", "q2"}
    plan_call = calls[0]["id"]
    for b in ("q0", "q1", "q2"):
        turns = branch_calls(record, b)
        assert turns[0]["parent"] == plan_call  # proposed by the plan call
        assert [t["parent"] for t in turns[1:]] == [t["id"] for t in turns[:-1]]  # then turn after turn
        assert [t["turn"] for t in turns] == list(range(len(turns)))
    assert calls[-1]["parent"] == plan_call  # no reflect call was made: write follows the plan
    for c in calls:  # each conversation is the prompt the server got, then the output
        sent = next(r for r in fake.requests if r["messages"] == c["messages"][:-1])
        assert c["messages"][-1]["role"] == "assistant" and c["trainable"]
        assert (c["tools"] is None) == (not sent.get("tools"))
    assert json.loads(calls[0]["messages"][-1]["content"]) == {"subquestions": PLAN}
    assert record["reward"]["em"] == 1.0


def test_export_calls_is_one_conversation_per_model_call_loadable_and_renderable(run, tmp_path):
    record = run[0].record
    out = write_export([record], "calls", tmp_path / "calls.jsonl")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(record["calls"])
    assert {r["run_id"] for r in rows} == {record["id"]}
    assert [(r["node"], r["branch"], r["parent"]) for r in rows] == [
        (c["node"], c["branch"], c["parent"]) for c in record["calls"]]
    import datasets  # the train extra (CI installs it): a broken one fails, never skips
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    assert ds.num_rows == len(rows) and set(ds.column_names) >= {"run_id", "call_id", "node", "branch", "parent",
                                                                 "messages", "tools"}
    from transformers.utils.chat_template_utils import render_jinja_template

    from reasoner.prepare import chat_template
    from reasoner.protocol import render_prompt

    for row in ds:  # as loaded: transformers' (TRL's) chat-template rendering takes every conversation
        tools = row["tools"] or None
        rendered = render_jinja_template([row["messages"]], tools=tools, chat_template=chat_template(),
                                         add_generation_prompt=False, bos_token="<bos>")
        text = rendered[0][0] if isinstance(rendered, tuple) else rendered
        assert text == render_prompt(row["messages"], tools, add_generation_prompt=False)  # what training renders
        assert text.rstrip().endswith("<end_of_turn>")
    # the flat formats are still there, one row per run
    flat = write_export([record], "openai", tmp_path / "flat.jsonl")
    assert len(flat.read_text().splitlines()) == 1
