"""Plans with dependencies: `planner.plans` on its own, then the graph driven by a scripted
fake model (sub-questions that name earlier answers, waves of Send, bounds, planning errors)."""

from __future__ import annotations

import asyncio
import json

import pytest

from planner.configuration import PlannerConfig
from planner.errors import MissingReference, PlanCycle, PlanTooDeep
from planner.events import SubquestionEvent
from planner.graph import Budget, RunContext, build_graph
from planner.plans import blocked, build_plan, ready, substitute
from tests.planner.fakes import FakeToolbox, ListRecorder, ScriptedClient, call, reply

QUESTION = "On which continent is the country where Antwerp is located?"
ANTWERP = "http://site/wiki/Antwerp"
BELGIUM = "http://site/wiki/Belgium"
PAGES = {ANTWERP: "Antwerp is a city in Belgium. It lies on the Scheldt.",
         BELGIUM: "Belgium is a country in Europe. Its capital is Brussels."}
# what the scripted researcher answers, by a phrase of the sub-question it was given
ANSWERS = {"Antwerp located": ("Belgium", ANTWERP), "continent is Belgium": ("Europe", BELGIUM),
           "river": ("Scheldt", ANTWERP)}


# --- planner.plans ---------------------------------------------------------------------------------
def plan_of(raw, **kw):
    return build_plan(raw, question=QUESTION, k=kw.pop("k", 3), max_depth=kw.pop("max_depth", 3), **kw)


def test_a_plain_list_of_strings_is_still_a_plan():
    subs = plan_of(["Which country is Antwerp located in?", "On which continent is Antwerp?"])
    assert [(s["id"], s["text"], s["depends_on"]) for s in subs] == [
        ("q0", "Which country is Antwerp located in?", []), ("q1", "On which continent is Antwerp?", [])]


def test_placeholders_and_depends_on_make_dependencies():
    subs = plan_of(["Which country is Antwerp located in?", "On which continent is {q0}?",
                    {"text": "Which river flows through Antwerp?", "depends_on": ["q0"]}])
    assert [s["depends_on"] for s in subs] == [[], ["q0"], ["q0"]]
    assert subs[1]["template"] == "On which continent is {q0}?"


@pytest.mark.parametrize("raw, error", [
    (["Which country is Antwerp located in?", "On which continent is {q5}?"], MissingReference),
    ([{"text": "Which country is Antwerp in, given {q1}?"}, "On which continent is {q0}?"], PlanCycle),
    (["Which country is Antwerp in, given {q0}?"], PlanCycle),
])
def test_a_cycle_or_a_missing_reference_is_a_planning_error(raw, error):
    with pytest.raises(error):
        plan_of(raw)


def test_a_chain_deeper_than_max_depth_is_a_planning_error():
    raw = ["Which country is Antwerp located in?", "On which continent is {q0}?"]
    assert len(plan_of(raw, max_depth=2)) == 2
    with pytest.raises(PlanTooDeep):
        plan_of(raw, max_depth=1)


def test_the_guard_judges_a_dependent_subquestion_by_its_words_without_placeholders():
    # "{q0}?" alone names nothing of the question; "On which continent is {q0}?" does
    subs = plan_of(["Which country is Antwerp located in?", "{q0}?", "On which continent is {q0}?"])
    assert [s["template"] for s in subs] == ["Which country is Antwerp located in?", "On which continent is {q0}?"]
    assert subs[1]["id"] == "q1" and subs[1]["depends_on"] == ["q0"]  # renumbered, placeholder rewritten


def test_the_guard_drops_a_subquestion_whose_dependency_it_dropped():
    subs = plan_of(["2013", "On which continent is {q0}?", "Which country is Antwerp located in?"])
    assert [s["text"] for s in subs] == ["Which country is Antwerp located in?"]
    assert subs[0]["id"] == "q0"


def test_ready_blocked_and_substitute():
    subs = [{"id": "q0", "status": "done", "answer": "Belgium"}, {"id": "q1", "status": "pending", "depends_on": ["q0"]},
            {"id": "q2", "status": "failed"}, {"id": "q3", "status": "pending", "depends_on": ["q2"]},
            {"id": "q4", "status": "pending", "depends_on": ["q3"]}]
    assert [s["id"] for s in ready(subs)] == ["q1"]
    assert blocked(subs) == {"q3": "q2", "q4": "q3"}
    assert substitute("On which continent is {q0}?", {"q0": "Belgium"}) == "On which continent is Belgium?"


# --- the graph -------------------------------------------------------------------------------------------
def researcher(plan):
    """Plan `plan`; in a branch, search, open the page of the sub-question's answer, answer."""
    def policy(messages, kwargs):
        schema = (kwargs.get("structured_outputs") or {}).get("json", {}).get("properties", {})
        if "subquestions" in schema:
            return reply(json.dumps({"subquestions": plan}))
        if "missing" in schema:
            return reply(json.dumps({"missing": []}))
        if not kwargs.get("tools"):
            return reply(json.dumps({"answer": "Europe"}))
        asked = messages[1]["content"].splitlines()[0]
        answer, url = next((v for k, v in ANSWERS.items() if k in asked), ("unknown", ANTWERP))
        turns = sum(1 for m in messages if m["role"] == "tool")
        if isinstance(kwargs.get("tool_choice"), dict):  # the last allowed turn: answer forced
            return call("answer", answer=answer, url=url)
        if turns == 0:
            return call("search", query=asked)
        if turns == 1:
            return call("open", url=url)
        return call("answer", answer=answer, url=url)
    return policy


def run(plan, *, yields=3, **cfg):
    client = ScriptedClient(researcher(plan), yields=yields)
    pcfg = PlannerConfig(mode="plan", **cfg)
    events, recorder = [], ListRecorder()
    ctx = RunContext(client=client, toolbox=FakeToolbox(PAGES), config=pcfg, recorder=recorder, emit=events.append,
                     budget=Budget(pcfg.max_steps, pcfg.max_total_tokens, pcfg.max_wall_clock_s))
    state = asyncio.run(build_graph().ainvoke({"question": QUESTION, "mode": "plan"}, context=ctx))
    return state, client, events, recorder


def branch_of(seen):
    return seen["messages"][1]["content"].splitlines()[0] if seen.get("tools") else None


def test_a_dependent_subquestion_runs_after_its_dependency_with_its_answer_written_in():
    state, client, events, _ = run(["Which country is Antwerp located in?", "On which continent is {q0}?"])
    q0, q1 = state["subquestions"]
    assert q1["template"] == "On which continent is {q0}?" and q1["depends_on"] == ["q0"]
    assert q1["text"] == "On which continent is Belgium?"  # the first hop's answer, substituted
    assert (q0["status"], q1["status"], q1["answer"]) == ("done", "done", "Europe")
    asked = [branch_of(s) for s in client.seen if branch_of(s)]
    # every turn of q0 comes before the first turn of q1, whose prompt names Belgium
    assert asked.index("Question: On which continent is Belgium?") > max(
        i for i, a in enumerate(asked) if a == "Question: Which country is Antwerp located in?")
    running = [e for e in events if isinstance(e, SubquestionEvent) and e.status == "running"]
    assert [(e.id, e.text) for e in running] == [("q0", "Which country is Antwerp located in?"),
                                                 ("q1", "On which continent is Belgium?")]
    assert state["answer"] == "Europe"


def test_independent_subquestions_still_run_in_parallel():
    _, client, *_ = run(["Which country is Antwerp located in?", "Which river flows through Antwerp?",
                         "On which continent is {q0}?"])
    assert client.max_in_flight >= 2


def test_max_plan_width_bounds_the_branches_dispatched_at_once():
    state, client, *_ = run(["Which country is Antwerp located in?", "Which river flows through Antwerp?"],
                            max_plan_width=1)
    assert client.max_in_flight == 1
    assert [s["status"] for s in state["subquestions"]] == ["done", "done"]


@pytest.mark.parametrize("plan, error", [
    (["Which country is Antwerp located in, after {q1}?", "On which continent is {q0}?"], "PlanCycle"),
    (["Which country is Antwerp located in?", "On which continent is {q7}?"], "MissingReference"),
])
def test_a_planning_error_is_recorded_and_falls_back_to_the_question(plan, error):
    state, client, events, _ = run(plan)
    assert [s["text"] for s in state["subquestions"]] == [QUESTION]
    assert state["plan_source"] == "fallback" and state["plan_error"].startswith(error)
    assert [e.error for e in events if e.kind == "plan"][0].startswith(error)
    assert sum(1 for s in client.seen if "subquestions" in json.dumps(s.get("structured_outputs"))) == 1  # no re-ask


def test_a_plan_deeper_than_max_plan_depth_falls_back_to_the_question():
    state, *_ = run(["Which country is Antwerp located in?", "On which continent is {q0}?"], max_plan_depth=1)
    assert [s["text"] for s in state["subquestions"]] == [QUESTION]
    assert state["plan_error"].startswith("PlanTooDeep")


def test_a_subquestion_whose_dependency_failed_is_failed_without_research():
    # one tool call per branch: q0 searches, then must answer from a page it never opened
    state, client, events, _ = run(["Which country is Antwerp located in?", "On which continent is {q0}?"],
                                   max_reflect_rounds=0, max_tool_calls_per_branch=1)
    q0, q1 = state["subquestions"]
    assert q0["status"] == "unsupported"
    assert q1["status"] == "failed" and q1["reason"] == "dependency q0 was not answered"
    assert q1["text"] == q1["template"]  # never substituted, never researched
    assert not any("continent" in (branch_of(s) or "") for s in client.seen)
    assert [(e.id, e.status) for e in events if isinstance(e, SubquestionEvent)][-1] == ("q1", "failed")


def test_the_total_step_budget_holds_across_dependent_waves():
    for max_steps in (2, 4, 6):
        state, client, *_ = run(["Which country is Antwerp located in?", "On which continent is {q0}?"],
                                max_steps=max_steps)
        assert len(client.seen) <= max_steps


def test_a_comparison_plans_one_branch_per_entity_and_the_writer_compares_from_the_notes():
    plan = ["Which country is Antwerp located in?", "Which river flows through Antwerp?"]
    state, client, *_ = run(plan)
    assert [(s["text"], s["depends_on"], s["status"]) for s in state["subquestions"]] == [
        (plan[0], [], "done"), (plan[1], [], "done")]
    write = [s for s in client.seen if (s.get("structured_outputs") or {}).get("json", {}).get("properties", {})
             .get("answer") and not s.get("tools")]
    assert len(write) == 1  # one compose call, shown both findings
    findings = write[0]["messages"][1]["content"]
    assert f"{plan[0]} -> Belgium" in findings and f"{plan[1]} -> Scheldt" in findings
    assert state["answer"] == "Europe"  # what the writer composed, not the last note's answer
