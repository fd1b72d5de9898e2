"""Evidence is per run: two runs through one agent (one toolbox, one page cache), the second
citing a page only the first opened. Real SQLite store and checkpointer; the model and the
web are the planner's fakes, passed in through the agent's seams."""

from __future__ import annotations

from agent import AgentConfig, ResearchAgent
from evals.star import passes_filter
from tests.planner.fakes import FakeToolbox, ScriptedClient, call

PAGE = "http://site/wiki/Eiffel_Tower"
TEXT = "# Eiffel Tower\nThe Eiffel Tower is a tower in Paris. It was completed in 1889 for the World's Fair."
TASK = {"id": "t", "answers": ["1889"], "kind": "single"}


def policy(messages, kwargs):
    opened = any(m["role"] == "tool" for m in messages)
    first_run = "opens" in messages[1]["content"]
    if first_run and not opened:
        return call("open", url=PAGE)
    return call("answer", answer="1889", url=PAGE)


async def test_a_run_cannot_cite_a_page_only_another_run_opened(tmp_path):
    toolbox = FakeToolbox({PAGE: TEXT})
    agent = ResearchAgent(AgentConfig(home=tmp_path, mode="react"), client=ScriptedClient(policy), toolbox=toolbox)
    async with agent:
        first = await agent.research("When was the Eiffel Tower completed? (this run opens the page)", task=TASK)
        second = await agent.research("When was the Eiffel Tower completed?", task=TASK)

    assert first.citations and first.citations[0]["supported"]
    assert first.record["success"] and passes_filter(first.record) == (True, None)
    # the second run never opened PAGE: it is not fetched in this run, so nothing is cited ...
    assert PAGE in toolbox.pages  # (the agent-wide cache still holds the first run's page)
    assert second.citations == []
    assert "(no fetched source)" in second.report
    assert PAGE not in second.record["snapshots"]
    # ... it is scored unsupported, is no success, and the STaR filter drops it
    assert second.record["reward"]["citation_support"] == 0.0 and not second.record["reward"]["answer_supported"]
    assert second.record["success"] is False
    assert passes_filter(second.record)[0] is False
    # even with a citation forged onto it, the page is not among this run's pages
    forged = {**second.record, "citations": [{"n": 1, "url": PAGE, "snippet": "It was completed in 1889 for the "
                                              "World's Fair.", "supported": True}]}
    assert passes_filter(forged) == (False, "unsupported_citation")
