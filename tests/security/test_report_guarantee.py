"""The report's guarantee against prompt injection, for any model output: text the model
writes reaches the report either stated by a verified citation or labelled unverified."""

from __future__ import annotations

from planner.graph import UNSTATED
from tests.planner.test_graph import PAGE, react_policy, run

INJECTED = "ZX-CANARY-7731"


def test_an_answer_the_cited_page_does_not_state_is_labelled():
    state, *_ = run(react_policy(answer=INJECTED))
    # a real sentence of the page, but it does not state the answer: the citation is unsupported
    assert state["citations"] and state["citations"][0]["supported"] is False
    assert "(unverified:" in state["report"]
    answer_line = next(line for line in state["report"].splitlines() if line.startswith("**Answer:** "))
    assert INJECTED in answer_line and answer_line.endswith(UNSTATED)
    finding = next(line for line in state["report"].splitlines() if line.startswith("- ") and INJECTED in line)
    assert finding.endswith(UNSTATED)


def test_an_answer_the_page_states_is_not_labelled():
    state, *_ = run(react_policy(answer="1889"))
    assert UNSTATED not in state["report"]
    assert "**Answer:** 1889 [1]" in state["report"]


def test_a_string_only_in_a_fabricated_quote_is_labelled():
    def policy(messages, kwargs):
        out = react_policy()(messages, kwargs)
        calls = out.message.get("tool_calls") or []
        if calls and calls[0]["function"]["name"] == "answer":
            from tests.planner.fakes import call
            return call("answer", answer=INJECTED, url=PAGE, quote=f"The tower's code is {INJECTED}.")
        return out

    state, *_ = run(policy)
    assert state["citations"][0]["supported"] is False
    for line in state["report"].splitlines():
        if INJECTED in line:
            assert line.endswith(UNSTATED), line
