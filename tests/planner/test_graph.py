"""Every node of the research graph, driven by a scripted fake model injected through
the client seam and a fake toolbox (no network)."""

from __future__ import annotations

import json

import pytest

from planner.configuration import PlannerConfig
from planner.graph import Budget, RunContext, build_graph, evidence_snippet
from tests.planner.fakes import FakeToolbox, ListRecorder, ScriptedClient, call, reply
from tools.answer_types import answer_pattern

PAGE = "http://site/wiki/Eiffel_Tower"
TEXT = ("The Eiffel Tower is a lattice tower in Paris. It was completed in 1889 for the World's Fair. "
        "It is named after Gustave Eiffel.")


def react_policy(answer: str = "1889", url: str = PAGE):
    def policy(messages, kwargs):
        tools = [t["function"]["name"] for t in kwargs.get("tools") or []]
        if not tools:
            return reply(json.dumps({"answer": answer}))
        roles = [m["role"] for m in messages]
        if roles.count("tool") == 0 and "search" in tools:
            return call("search", query="Eiffel Tower")
        if roles.count("tool") == 1 and "open" in tools:
            return call("open", url=url)
        return call("answer", answer=answer, url=url)
    return policy


def run(policy, mode="react", pages=None, yields=0, question="When was the Eiffel Tower completed?", **cfg):
    client = ScriptedClient(policy, yields=yields)
    toolbox = FakeToolbox(pages or {PAGE: TEXT})
    pcfg = PlannerConfig(mode=mode, **cfg)
    recorder = ListRecorder()
    events = []
    ctx = RunContext(client=client, toolbox=toolbox, config=pcfg, recorder=recorder, emit=events.append,
                     budget=Budget(pcfg.max_steps, pcfg.max_total_tokens, pcfg.max_wall_clock_s))
    import asyncio

    state = asyncio.run(build_graph().ainvoke({"question": question, "mode": mode}, context=ctx))
    return state, client, toolbox, recorder, events


def test_compiled_graph_structure_snapshot():
    graph = build_graph().get_graph()
    edges = sorted((e.source, e.target, e.conditional) for e in graph.edges)
    assert edges == [
        ("__start__", "direct", True), ("__start__", "plan", True),
        ("direct", "schedule", False), ("plan", "schedule", False),
        ("reflect", "schedule", False), ("research", "schedule", False),
        ("schedule", "reflect", True), ("schedule", "research", True), ("schedule", "write", True),
        ("verify", "__end__", False), ("write", "verify", False),
    ]


def test_react_mode_runs_the_loop_and_cites_the_fetched_page():
    state, client, toolbox, recorder, events = run(react_policy())
    assert state["answer"] == "1889"
    assert state["citations"] == [{"n": 1, "url": PAGE, "title": "Eiffel_Tower", "claim": "1889",
                                   "snippet": "It was completed in 1889 for the World's Fair.",
                                   "supported": True}]
    assert state["citation_support"] == 1.0
    assert [c[0] for c in toolbox.calls] == ["search", "open"]
    assert [s["kind"] for s in recorder.steps] == ["llm", "tool", "llm", "tool", "llm"]
    assert {e.kind for e in events} >= {"plan", "tool_call", "tool_result", "note", "draft", "verify"}
    assert all(seen["tool_choice"] == "required" for seen in client.seen)


def test_plan_fans_out_one_branch_per_subquestion():
    def policy(messages, kwargs):
        structured = (kwargs.get("structured_outputs") or {}).get("json", {}).get("properties", {})
        if "subquestions" in structured:
            return reply(json.dumps({"subquestions": ["Where is the Eiffel Tower?", "When was it completed?"]}))
        return react_policy()(messages, kwargs)

    state, client, toolbox, recorder, events = run(policy, mode="plan")
    assert [s["text"] for s in state["subquestions"]] == ["Where is the Eiffel Tower?", "When was it completed?"]
    assert {s["status"] for s in state["subquestions"]} == {"done"}
    assert len(state["notes"]) == 2 and len(state["transcripts"]) == 2


@pytest.mark.parametrize("focus_reading", [True, False])
def test_each_branch_hands_the_tools_its_own_question_as_focus(focus_reading):
    def policy(messages, kwargs):
        structured = (kwargs.get("structured_outputs") or {}).get("json", {}).get("properties", {})
        if "subquestions" in structured:
            return reply(json.dumps({"subquestions": ["Where is the Eiffel Tower?", "When was it completed?"]}))
        return react_policy()(messages, kwargs)

    _, _, toolbox, _, _ = run(react_policy(), focus_reading=focus_reading)
    assert toolbox.focus == ["When was the Eiffel Tower completed?"] * 2 if focus_reading else [None, None]
    _, _, toolbox, _, _ = run(policy, mode="plan", focus_reading=focus_reading)
    expected = {"Where is the Eiffel Tower?", "When was it completed?"} if focus_reading else {None}
    assert set(toolbox.focus) == expected and len(toolbox.focus) == 4


def test_a_malformed_plan_is_re_asked_then_falls_back_to_the_question():
    asked = []

    def policy(messages, kwargs):
        structured = (kwargs.get("structured_outputs") or {}).get("json", {}).get("properties", {})
        if "subquestions" in structured:
            asked.append(1)
            return reply("not json at all")
        return react_policy()(messages, kwargs)

    state, *_ = run(policy, mode="plan")
    assert len(asked) == 2
    assert [s["text"] for s in state["subquestions"]] == ["When was the Eiffel Tower completed?"]


def test_reflect_adds_subquestions_for_unanswered_ones_within_its_rounds():
    def policy(messages, kwargs):
        structured = (kwargs.get("structured_outputs") or {}).get("json", {}).get("properties", {})
        if "subquestions" in structured:
            return reply(json.dumps({"subquestions": ["Q about the tower and nothing"]}))
        if "missing" in structured:
            return reply(json.dumps({"missing": ["When was the Eiffel Tower completed exactly?"]}))
        if "Q about the tower and nothing" in messages[1]["content"]:  # answers from a page it never opened
            return call("answer", answer="?", url="http://elsewhere/x")
        return react_policy()(messages, kwargs)

    state, *_ = run(policy, mode="plan", max_reflect_rounds=1)
    assert [(s["id"], s["status"], s["parent"]) for s in state["subquestions"]] == [
        ("q0", "unsupported", None), ("q1", "done", "q0")]
    assert state["answer"] == "1889"


def test_invalid_outputs_get_a_corrective_observation_then_end_the_run():
    state, client, *_ = run(lambda m, k: reply("blah", error="tool call is not valid JSON"), max_invalid_outputs=3)
    assert "3 invalid outputs in a row" in state["error"]
    assert len(client.seen) == 3
    last = client.seen[-1]["messages"]
    assert last[-1]["role"] == "user" and "not a valid tool call" in last[-1]["content"]
    assert state["answer"] == ""


def test_step_budget_stops_the_graph_cleanly_with_a_truncated_report():
    def looping(messages, kwargs):
        return call("search", query="again")

    state, client, *_ = run(looping, max_steps=4)
    assert len(client.seen) == 4
    assert state["truncated"] and "step budget" in state["stop_reason"]
    assert "Stopped early" in state["report"]


def three_branch_policy(messages, kwargs):
    structured = (kwargs.get("structured_outputs") or {}).get("json", {}).get("properties", {})
    if "subquestions" in structured:
        # each shares a content word with the question, so the plan guard keeps them all
        return reply(json.dumps({"subquestions": ["Where is the Eiffel Tower?", "Who built the Eiffel Tower?",
                                                  "When was the Eiffel Tower completed?"]}))
    if "missing" in structured:
        return reply(json.dumps({"missing": ["What is the Eiffel Tower made of?"]}))
    if "answer" in structured:
        return reply(json.dumps({"answer": "1889"}))
    return call("search", query="again")  # branches never answer: they spend every step offered


@pytest.mark.parametrize("max_steps", [2, 3, 4, 7])
def test_parallel_branches_asking_at_once_never_exceed_the_step_budget(max_steps):
    # plan takes one call; the three branches then ask for their next call at the same
    # moment (each call yields to the event loop, so they are all in flight together)
    state, client, _, recorder, _ = run(three_branch_policy, mode="plan", yields=3, max_steps=max_steps,
                                        max_subquestions=3)
    assert client.max_in_flight == 3 or max_steps < 4  # the calls really overlapped
    assert len(client.seen) == max_steps  # every step used, none beyond
    assert sum(s["kind"] == "llm" for s in recorder.steps) == max_steps
    assert state["usage"]["model_calls"] == max_steps
    assert state["truncated"] and "step budget" in state["stop_reason"]


def test_every_node_counts_against_the_step_budget():
    # plan, three one-step branches, reflect, a fourth branch and write: 7 calls in all
    def policy(messages, kwargs):
        if (kwargs.get("structured_outputs") or {}).get("json"):
            return three_branch_policy(messages, kwargs)
        return call("answer", answer="1889", url=PAGE)  # unopened page: reflect asks again

    _, client, _, recorder, _ = run(policy, mode="plan", yields=2, max_steps=50, max_subquestions=4)
    nodes = [s["node"] for s in recorder.steps if s["kind"] == "llm"]
    assert sorted(set(nodes)) == ["plan", "reflect", "research", "write"] and len(nodes) == 7
    for budget in range(1, len(nodes) + 1):
        state, client, _, recorder, _ = run(policy, mode="plan", yields=2, max_steps=budget, max_subquestions=4)
        assert len(client.seen) == sum(s["kind"] == "llm" for s in recorder.steps) <= budget
        assert state["usage"]["model_calls"] == len(client.seen)


def test_tool_calls_per_branch_are_bounded_then_answer_is_forced_with_every_tool_rendered():
    def looping(messages, kwargs):
        if isinstance(kwargs["tool_choice"], dict):
            return call("answer", answer="1889", url=PAGE)
        return call("search", query=f"again {len(messages)}")

    state, client, toolbox, *_ = run(looping, max_tool_calls_per_branch=2)
    assert len(toolbox.calls) == 2
    # the grammar forces `answer`; the prompt still describes every tool (as training renders it)
    assert client.seen[-1]["tool_choice"] == {"type": "function", "function": {"name": "answer"}}
    assert [t["function"]["name"] for t in client.seen[-1]["tools"]] == ["search", "open", "answer"]
    assert all(s["tool_choice"] == "required" for s in client.seen[:-1])
    assert state["answer"] == "1889"


def test_a_call_identical_to_an_earlier_one_fetches_nothing():
    def repeating(messages, kwargs):
        tools_seen = sum(m["role"] == "tool" for m in messages)
        if tools_seen < 3:
            return call("open", url=PAGE)  # the same call three times
        return call("answer", answer="1889", url=PAGE)

    state, client, toolbox, recorder, _ = run(repeating)
    assert toolbox.calls == [("open", {"url": PAGE})]  # fetched once
    observations = [m["content"] for m in state["transcripts"][0]["messages"] if m["role"] == "tool"]
    assert observations[0] == TEXT
    assert observations[1].startswith("Already done") and observations[2].startswith("Already done")
    assert state["answer"] == "1889" and state["citations"][0]["supported"]
    assert state["usage"]["tool_calls"] == 3  # each still counts against the branch's budget


def test_an_answer_citing_a_page_never_fetched_is_not_cited():
    state, *_ = run(react_policy(url="http://elsewhere/never-opened"))
    assert state["citations"] == []
    assert "(no fetched source)" in state["report"]


def test_verify_flags_a_quote_that_is_not_on_the_page():
    def policy(messages, kwargs):
        out = react_policy()(messages, kwargs)
        msg = out.message
        if msg.get("tool_calls") and msg["tool_calls"][0]["function"]["name"] == "answer":
            return call("answer", answer="1889", url=PAGE, quote="It was completed in 1066 by Normans.")
        return out

    state, *_ = run(policy)
    assert state["citations"][0]["supported"] is False
    assert state["citation_support"] == 0.0
    assert "unverified" in state["report"]


@pytest.mark.parametrize("answer, expected", [
    ("1889", "It was completed in 1889 for the World's Fair."),
    ("Gustave Eiffel", "It is named after Gustave Eiffel."),
])
def test_evidence_snippet_is_the_sentence_stating_the_answer(answer, expected):
    assert evidence_snippet(TEXT, answer) == expected


def test_a_full_context_window_stops_the_branch_as_a_budget_stop():
    from reasoner.errors import ContextLengthExceeded

    def policy(messages, kwargs):
        if sum(m["role"] == "tool" for m in messages) >= 1:
            raise ContextLengthExceeded("http://x/v1", 400, "maximum context length is 4096 tokens")
        return call("search", query="x")

    state, *_ = run(policy)
    assert state["truncated"] and state["stop_reason"] == "context window full"
    assert state["error"] is None and "Stopped early" in state["report"]


def test_plan_drops_subquestions_that_share_no_content_word_with_the_question():
    # what the untrained 270M base model wrote for the Eiffel Tower question
    def policy(messages, kwargs):
        structured = (kwargs.get("structured_outputs") or {}).get("json", {}).get("properties", {})
        if "subquestions" in structured:
            return reply(json.dumps({"subquestions": ["2013", "The Eiffel Tower was completed in the year:",
                                                      "What is the weather like?"]}))
        return react_policy()(messages, kwargs)

    state, client, *_ = run(policy, mode="plan", max_reflect_rounds=0)
    assert [s["text"] for s in state["subquestions"]] == ["The Eiffel Tower was completed in the year:"]


def test_an_empty_plan_falls_back_to_the_question():
    question = "When was the Eiffel Tower completed?"

    def policy(messages, kwargs):
        structured = (kwargs.get("structured_outputs") or {}).get("json", {}).get("properties", {})
        if "subquestions" in structured:
            return reply(json.dumps({"subquestions": ["2013", "answer", "Who won in 1998?"]}))
        return react_policy()(messages, kwargs)

    state, client, *_ = run(policy, mode="plan", max_reflect_rounds=0)
    assert [s["text"] for s in state["subquestions"]] == [question]
    assert state["answer"] == "1889"


@pytest.mark.parametrize("typed", [True, False])
def test_a_when_question_hands_the_grammar_a_dated_answer_tool(typed):
    """The research loop passes the answer tool held to the question's shape (a date here) on
    every call; `typed_answers=False` passes the plain tool."""
    state, client, _, _, _ = run(react_policy(), typed_answers=typed)
    assert state["answer"] == "1889"
    research = [seen for seen in client.seen if seen.get("tools")]
    assert research
    for seen in research:
        answer = next(t for t in seen["tools"] if t["function"]["name"] == "answer")
        pattern = answer["function"]["parameters"]["properties"]["answer"].get("pattern")
        assert (pattern == answer_pattern("When was the Eiffel Tower completed?")) if typed else pattern is None


def test_an_answer_that_repeats_the_question_is_turned_back_once_then_the_right_one_is_kept():
    question = "Which engineer's company built the Eiffel Tower?"
    answers = iter(["Eiffel Tower", "Gustave Eiffel"])

    def policy(messages, kwargs):
        roles = [m["role"] for m in messages]
        if roles.count("tool") == 0:
            return call("search", query="Eiffel Tower")
        if roles.count("tool") == 1:
            return call("open", url=PAGE)
        return call("answer", url=PAGE, answer=next(answers))

    client = ScriptedClient(policy)
    pcfg = PlannerConfig(mode="react")
    ctx = RunContext(client=client, toolbox=FakeToolbox({PAGE: TEXT}), config=pcfg, recorder=ListRecorder(),
                     emit=lambda e: None, budget=Budget(pcfg.max_steps, pcfg.max_total_tokens, pcfg.max_wall_clock_s))
    import asyncio

    state = asyncio.run(build_graph().ainvoke({"question": question, "mode": "react"}, context=ctx))
    assert state["answer"] == "Gustave Eiffel"
    last = client.seen[-1]["messages"]
    from reasoner.protocol import is_invalid_turn
    turned_back = [i for i, m in enumerate(last) if m["role"] == "assistant" and is_invalid_turn(last, i)]
    assert len(turned_back) == 1 and "only repeats the question" in last[turned_back[0] + 1]["content"]


def test_the_last_allowed_turn_takes_an_answer_even_if_it_repeats_the_question():
    def policy(messages, kwargs):
        return call("answer", url=PAGE, answer="Eiffel Tower")

    state, client, _, _, _ = run(policy, question="Which engineer's company built the Eiffel Tower?",
                                 max_tool_calls_per_branch=2)
    # bounded: two rejections (each counts as a tool call), then the last turn keeps the answer
    assert state["answer"] == "Eiffel Tower" and len(client.seen) == 3
    state, client, _, _, _ = run(policy, question="Which engineer's company built the Eiffel Tower?",
                                 max_tool_calls_per_branch=2, typed_answers=False)
    assert state["answer"] == "Eiffel Tower" and len(client.seen) == 1  # off: taken at once


def test_answer_spans_hold_the_answer_call_to_the_branchs_pages_and_their_spans():
    from reasoner.protocol import DECODING_KEY, tool_call_schema

    state, client, toolbox, recorder, _ = run(react_policy("Gustave Eiffel"), answer_spans=True,
                                              question="Who was the Eiffel Tower named after?")
    assert state["answer"] == "Gustave Eiffel"
    offered = [next(t for t in seen["tools"] if t["function"]["name"] == "answer") for seen in client.seen]
    # before a page was read the answer call is decoded as without spans
    assert DECODING_KEY not in offered[0]["function"] and DECODING_KEY not in offered[1]["function"]
    decoding = offered[2]["function"][DECODING_KEY]
    choices = decoding.get("anyOf", [decoding])
    assert {c["properties"]["url"]["const"] for c in choices} == {PAGE}
    by_quote = {c["properties"]["quote"]["const"]: c["properties"]["answer"]["enum"] for c in choices}
    # the page's sentences closest to the question, each with its names that the question does not hold
    assert by_quote == {"It is named after Gustave Eiffel.": ["Gustave", "Gustave Eiffel"],
                        "The Eiffel Tower is a lattice tower in Paris.": ["Paris"]}
    assert tool_call_schema([offered[2]])["properties"]["arguments"] == decoding  # what the grammar enforces
    # the prompt and the record see the plain tool: no decoding schema leaves the process
    assert all(DECODING_KEY not in t["function"] for s in recorder.steps if s["kind"] == "llm"
               for t in s["tools"] or [])


def test_without_answer_spans_the_answer_call_is_not_narrowed():
    from reasoner.protocol import DECODING_KEY

    _, client, _, _, _ = run(react_policy())
    assert all(DECODING_KEY not in t["function"] for seen in client.seen for t in seen["tools"])
    # nor is an untyped question's: spans are for names, quantities, dates and comparisons (selects_spans)
    _, client, _, _, _ = run(react_policy(), answer_spans=True, question="What is the Eiffel Tower made of?")
    assert all(DECODING_KEY not in t["function"] for seen in client.seen for t in seen["tools"])


def test_a_date_questions_spans_follow_its_role_in_a_range():
    from reasoner.protocol import DECODING_KEY

    text = "The Eiffel Tower is a lattice tower in Paris. Its company built the tower from 1887 to 1889."
    state, client, _, _, _ = run(react_policy("1889"), answer_spans=True, pages={PAGE: text})
    assert state["answer"] == "1889"
    decoding = next(t for t in client.seen[-1]["tools"] if t["function"]["name"] == "answer")["function"][DECODING_KEY]
    choices = decoding.get("anyOf", [decoding])
    # "completed" asks for the end of the period: its start is never offered
    assert [c["properties"]["answer"]["enum"] for c in choices] == [["1889"]]


def hopping_policy(messages, kwargs):
    """Opens the subject's page, then hops to the engineer's, unless the grammar forces `answer`."""
    if isinstance(kwargs["tool_choice"], dict):
        return call("answer", answer="1889", url=PAGE, quote="Its company built the tower from 1887 to 1889.")
    seen = sum(m["role"] == "tool" for m in messages)
    if seen == 0:
        return call("search", query="Eiffel Tower")
    if seen == 1:
        return call("open", url=PAGE)
    if seen == 2:
        return call("open", url="http://site/wiki/Gustave_Eiffel")
    return call("answer", answer="1832", url="http://site/wiki/Gustave_Eiffel")


@pytest.mark.parametrize("on", [True, False])
def test_a_typed_question_is_answered_on_its_subjects_own_page(on):
    pages = {PAGE: "The Eiffel Tower is a lattice tower in Paris. Its company built the tower from 1887 to 1889.",
             "http://site/wiki/Gustave_Eiffel": "Gustave Eiffel (1832–1923) was a French civil engineer."}
    state, client, toolbox, _, _ = run(hopping_policy, pages=pages, answer_spans=True, subject_page_answers=on,
                                       question="In what year was the Eiffel Tower completed?")
    opened = [c[1].get("url") for c in toolbox.calls if c[0] == "open"]
    if on:  # the subject's page offers a year: the next call is `answer`, forced, every tool rendered
        assert opened == [PAGE] and state["answer"] == "1889"
        assert client.seen[-1]["tool_choice"] == {"type": "function", "function": {"name": "answer"}}
        assert [t["function"]["name"] for t in client.seen[-1]["tools"]] == ["search", "open", "answer"]
    else:
        assert opened == [PAGE, "http://site/wiki/Gustave_Eiffel"] and state["answer"] == "1832"


def test_a_hop_question_is_never_held_to_the_first_page():
    # "the author of the novel X": the subject is reached through X, so X's page does not end the branch
    pages = {PAGE: "The Eiffel Tower is a lattice tower in Paris. Its company built the tower from 1887 to 1889.",
             "http://site/wiki/Gustave_Eiffel": "Gustave Eiffel (1832–1923) was a French civil engineer."}
    state, _, toolbox, _, _ = run(hopping_policy, pages=pages, answer_spans=True, subject_page_answers=True,
                                  question="In what year was the designer of the Eiffel Tower born?")
    assert [c[1].get("url") for c in toolbox.calls if c[0] == "open"] == [PAGE, "http://site/wiki/Gustave_Eiffel"]
