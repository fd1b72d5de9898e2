"""Plan-mode demonstrations: the plan call a task kind teaches, then the whole graph's calls
(plan, research turns, write) built against the REAL local wiki site."""

from __future__ import annotations

import json

import pytest

from evals.demos import build_plan_demo, demo_plan
from evals.trajectory import training_rows
from planner import prompts
from planner.plans import build_plan


def test_the_plan_a_demo_teaches_per_kind():
    single = {"question": "In what year was the Eiffel Tower completed?", "kind": "single"}
    bridge = {"question": "On which continent is the country where Antwerp is located?", "kind": "bridge",
              "relation": "located_country>continent", "supporting_titles": ["Antwerp", "Belgium"]}
    comparison = {"question": "Who was born earlier, Isaac Newton or Albert Einstein?", "kind": "comparison",
                  "relation": "born_earlier", "options": ["Isaac Newton", "Albert Einstein"]}
    assert demo_plan(single) == [single["question"]]
    assert demo_plan(bridge) == ["What is the country where Antwerp is located?", "On which continent is {q0}?"]
    assert demo_plan(comparison) == ["In what year was Isaac Newton born?", "In what year was Albert Einstein born?"]
    # each is a plan the planner accepts as written (nothing dropped by the guard), the bridge's with its dependency
    for task in (single, bridge, comparison):
        subs = build_plan(demo_plan(task), question=task["question"], k=3, max_depth=3)
        assert [s["template"] for s in subs] == demo_plan(task)
    assert build_plan(demo_plan(bridge), question=bridge["question"], k=3, max_depth=3)[1]["depends_on"] == ["q0"]


@pytest.fixture(scope="module")
def plan_demos(demo_tasks, tmp_path_factory):
    import asyncio

    from agent.config import AgentConfig
    from agent.web import open_web

    cfg = AgentConfig(home=tmp_path_factory.mktemp("plan-demo-home"), web="wiki")

    async def build():
        async with open_web(cfg) as box:
            return [await build_plan_demo(t, box, prompts=prompts) for t in demo_tasks]

    return asyncio.run(build())


@pytest.mark.integration
def test_plan_demos_against_the_real_wiki_are_whole_graph_trajectories(plan_demos, demo_tasks):
    kept = {t["kind"]: 0 for t in demo_tasks}
    for record, task in zip(plan_demos, demo_tasks, strict=True):
        print(task["kind"], record["success"], record["filter_reason"], task["question"])
        if not record["success"]:
            assert record["filter_reason"]
            continue
        kept[task["kind"]] += 1
        calls = record["calls"]
        plan_call = calls[0]
        assert (plan_call["node"], plan_call["parent"]) == ("plan", None)
        assert plan_call["messages"][0]["content"] == prompts.PLAN_SYSTEM.format(k=3)
        assert json.loads(plan_call["messages"][-1]["content"]) == {"subquestions": demo_plan(task)}
        branches = [s["id"] for s in record["plan"]]
        assert {c["branch"] for c in calls if c["node"] == "research"} == set(branches)
        for c in calls:
            if c["node"] == "research":
                assert c["messages"][1]["content"] == prompts.branch_user(
                    task["question"], next(s["text"] for s in record["plan"] if s["id"] == c["branch"]))
        if task["kind"] == "bridge":  # the second hop is asked with the first hop's answer
            q0, q1 = record["plan"]
            assert q1["depends_on"] == ["q0"] and q0["answer"] in q1["text"]
        assert (calls[-1]["node"] == "write") == (len(branches) > 1)
        if len(branches) > 1:
            assert json.loads(calls[-1]["messages"][-1]["content"]) == {"answer": task["answers"][0]}
        assert record["reward"]["em"] == 1.0 and record["final_answer"] == task["answers"][0]
        rows = training_rows(record)  # plan call, one conversation per branch, write
        assert [r["node"] for r in rows] == ["plan", *["research"] * len(branches)] + (["write"] if len(branches) > 1 else [])
    assert all(kept.values()), kept  # every kind yields demonstrations


@pytest.mark.integration
def test_deepstar_export_calls_writes_one_row_per_model_call_of_the_plan_demos(plan_demos, tmp_path):
    from typer.testing import CliRunner

    from agent.cli import app
    from evals.demos import write_jsonl

    kept = [r for r in plan_demos if r["success"]]
    source = write_jsonl(kept, tmp_path / "plan_demos.jsonl")
    out = tmp_path / "calls.jsonl"
    result = CliRunner().invoke(app, ["export", "--format", "calls", "--from-jsonl", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == sum(len(r["calls"]) for r in kept)
    assert {r["node"] for r in rows} == {"plan", "research", "write"}
    assert all(r["parent"] is None for r in rows if r["node"] == "plan")
    assert "one row per model call" in (tmp_path / "README.md").read_text()
