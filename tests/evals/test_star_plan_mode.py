"""`deepstar star --mode plan`: the loop's rollouts are whole planner-graph runs (the real
agent, graph, store and record builder; a scripted model and a fake toolbox), and the
training set holds every model call of each run that passed the filter — the plan call
included — with rationalization's hint removed from, and its smuggling check applied to,
every call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent import AgentConfig, ResearchAgent
from evals.star import StarConfig, StarDeps, StarLoop, hint_smuggled, passes_filter, rebuild_dataset
from evals.trajectory import training_rows
from tests.planner.fakes import FakeToolbox, ScriptedClient, call, reply

CITIES = ("Antwerp", "Bruges", "Ghent")
PAGES = {f"http://site/wiki/{c}": f"{c} is a city in Belgium." for c in CITIES}
PAGES["http://site/wiki/Belgium"] = "Belgium is a country in Europe."
TASKS = [{"id": f"t{i}", "question": f"On which continent is the country where {c} is located?",
          "answers": ["Europe"], "kind": "bridge", "split": "train"} for i, c in enumerate(CITIES)]


def policy(messages, kwargs):
    """Plans the two hops; Antwerp is solved outright, Bruges only with the hint (honestly),
    Ghent with the hint by searching for the answer before any page showed it."""
    schema = (kwargs.get("structured_outputs") or {}).get("json", {}).get("properties", {})
    question = next(m["content"] for m in messages if m["role"] == "user")
    city = next(c for c in CITIES if c in question.splitlines()[0] or c in question.splitlines()[-1])
    if "subquestions" in schema:
        return reply(json.dumps({"subquestions": [f"Which country is {city} located in?", "On which continent is {q0}?"]}))
    if "missing" in schema:
        return reply(json.dumps({"missing": []}))
    if not kwargs.get("tools"):  # the writer: the last finding's answer
        return reply(json.dumps({"answer": question.splitlines()[-1].split(" -> ")[1].split(" (")[0]}))
    hinted = "Hint: the answer is Europe" in question
    second = "continent" in question.splitlines()[0]
    url = "http://site/wiki/Belgium" if second else f"http://site/wiki/{city}"
    turns = sum(1 for m in messages if m["role"] == "tool")
    if turns == 0:
        smuggle = hinted and city == "Ghent" and second
        return call("search", query="Europe continent" if smuggle else question.splitlines()[0])
    if turns == 1:
        return call("open", url=url)
    right = city == "Antwerp" or hinted
    return call("answer", answer=("Europe" if right else "Asia") if second else "Belgium", url=url)


def toolbox() -> FakeToolbox:
    box = FakeToolbox(PAGES)
    for url, page in box.site.items():  # the store keeps snapshots by content hash: one per page
        page.content_hash = url
    return box


@pytest.fixture
def loop(tmp_path):
    agent = ResearchAgent(AgentConfig(home=tmp_path / "home", mode="plan", max_reflect_rounds=0),
                          client=ScriptedClient(policy), toolbox=toolbox())
    trained: list[list[dict]] = []
    loaded: list[tuple[str, Path]] = []

    async def run(task, *, model, hint, temperature, seed, exemplars):
        result = await agent.research(task["question"], task=task, hint=hint, model=model, mode="plan",
                                      sampling={"temperature": temperature, "seed": seed})
        return result.record

    async def train(records, adapter, *, steps, seed, extra):
        trained.append(records)
        adapter.mkdir(parents=True, exist_ok=True)
        return {}

    async def load(name, path):  # the adapter the iteration serves next (checked by the tests)
        loaded.append((name, Path(path)))

    cfg = StarConfig(out_dir=str(tmp_path / "star"), iterations=1, samples_per_task=1, mode="plan", concurrency=2)
    deps = StarDeps(run=run, train=train, load_adapter=load, base_model="base", progress=lambda m: None)
    return StarLoop(cfg, deps, system="S"), trained, agent, loaded


async def test_star_plan_mode_trains_on_every_call_of_successful_runs_the_plan_call_included(loop, tmp_path):
    star, trained, agent, loaded = loop
    async with agent:
        metrics = await star.iteration(1, "base", TASKS, TASKS[:1], demos=[], exemplars=None)
    assert metrics["kept"] == 1 and metrics["rationalized"] == 1  # Antwerp; Bruges honestly with the hint
    data = [json.loads(line) for line in (tmp_path / "star/iter_1/dataset.jsonl").read_text().splitlines()]
    assert data == trained[0]
    # the adapter trained on that data is the one loaded for the iteration's eval
    assert len(loaded) == 1 and loaded[0][1].is_dir() and "iter_1" in loaded[0][1].parts
    by_run = {}
    for row in data:
        by_run.setdefault(row["question"], []).append((row["node"], row["branch"], row["origin"]))
    assert by_run == {TASKS[0]["question"]: [("plan", "plan", "rollout"), ("research", "q0", "rollout"),
                                             ("research", "q1", "rollout"), ("write", "write", "rollout")],
                      TASKS[1]["question"]: [("plan", "plan", "rationalized"), ("research", "q0", "rationalized"),
                                             ("research", "q1", "rationalized"), ("write", "write", "rationalized")]}
    plan_row = data[0]
    assert plan_row["messages"][0]["content"].startswith("You are deepstar's planner")  # its own system prompt
    assert json.loads(plan_row["messages"][-1]["content"])["subquestions"][1] == "On which continent is {q0}?"
    q1 = next(r for r in data if r["branch"] == "q1")
    assert q1["messages"][0]["content"] == "S"  # a branch trains on the stable system prompt
    assert q1["messages"][1]["content"].startswith("Question: On which continent is Belgium?")
    assert [m["role"] for m in q1["messages"]][-1] == "assistant"  # the branch's whole conversation, every turn
    assert not any("Hint" in (m.get("content") or "") for r in data for m in r["messages"])


async def test_a_plan_mode_rationalization_is_checked_for_smuggling_in_every_call(loop):
    star, trained, agent, loaded = loop
    async with agent:
        ghent = await star.deps.run(TASKS[2], model="base", hint="Europe", temperature=0.0, seed=0, exemplars=None)
        bruges = await star.deps.run(TASKS[1], model="base", hint="Europe", temperature=0.0, seed=0, exemplars=None)
    # the smuggled search is in the q1 branch only: the linear log hides nothing, every call is checked
    assert hint_smuggled({"question": ghent["question"], "calls": ghent["calls"]}, ["Europe"])
    assert passes_filter(ghent, rationalized=True) == (False, "hint_smuggled")
    assert passes_filter(bruges, rationalized=True) == (True, None)
    assert not any("Hint" in (m.get("content") or "") for c in bruges["calls"] for m in c["messages"])
    rows = rebuild_dataset([], [], [bruges], system="S")
    assert [r["node"] for r in rows] == ["plan", "research", "research", "write"]
    assert len(training_rows(bruges)) == 4


def test_a_plan_call_whose_plan_the_guard_cleaned_is_not_taught():
    # the plan the model wrote had an off-question item: the run used a cleaned plan, so the
    # plan call is not a demonstration of planning
    calls = [{"id": "c0", "node": "plan", "branch": "plan", "trainable": False,
              "messages": [{"role": "system", "content": "P"}, {"role": "user", "content": "Q"},
                           {"role": "assistant", "content": '{"subquestions":["2013","Q"]}'}]},
             {"id": "c1", "node": "research", "branch": "q0", "trainable": True,
              "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"},
                           {"role": "assistant", "content": "", "tool_calls": []}]}]
    assert [r["node"] for r in training_rows({"calls": calls})] == ["research"]
