"""A composed report over real HTTP: the scripted OpenAI-protocol server (native tool calls,
so `report = auto` composes) researches two sub-questions on the real offline wiki site,
served on loopback, and writes a report with one planted claim; verify flags it in the
report and the record, and rejects a citation to a wiki page the run never fetched."""

from __future__ import annotations

import re

import pytest

from agent import AgentConfig, ResearchAgent
from agent.store import TrajectoryStore
from agent.web import load_wiki_site
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.integration

PLANTED = "The tower was painted gold by Napoleon in 1750"


@pytest.fixture(scope="module")
def wiki(tmp_path_factory):
    site = load_wiki_site(AgentConfig(home=tmp_path_factory.mktemp("wiki"))).start()
    yield site
    site.stop()


def writer(wiki_url: str):
    def write(messages):
        prompt = messages[-1]["content"]
        sources = dict(re.findall(r"^\[(\d+)\] (.+?) — \S+$", prompt, re.M))
        n = next(k for k, title in sources.items() if "Eiffel" in title)
        return {"answer": "Gustave Eiffel",
                "summary": f"The Eiffel Tower is a lattice tower in Paris, France [{n}]. {PLANTED} [{n}].",
                "sections": {
                    "q0": f"Gustave Eiffel's company designed and built the tower from 1887 to 1889 [{n}].",
                    "q1": f"It stands on the Champ de Mars in Paris [{n}]. Its twin stands in Lyon "
                          f"({wiki_url}/wiki/Lyon).",
                }}
    return write


async def test_a_planted_claim_is_flagged_and_an_unfetched_page_rejected(tmp_path, wiki):
    plan = ["Who designed the Eiffel Tower?", "In which city is the Eiffel Tower?"]
    fake = FakeOpenAI(plan=plan, answers={"designed": "Gustave Eiffel", "city": "Paris"}, report=writer(wiki.url))
    with fake:
        cfg = AgentConfig(home=tmp_path, base_url=fake.url, web="wiki", wiki_url=wiki.url, mode="plan")
        result = await ResearchAgent(cfg).research("Who designed the Eiffel Tower, and in which city is it?")

    store = TrajectoryStore(cfg.db_path)
    fetched = store.pages_for(result.trajectory_id)
    record = store.get_trajectory(result.trajectory_id)
    store.close()
    report, statements = result.report, record["statements"]
    assert any(r["structured_outputs"]["json"]["properties"].get("sections") for r in fake.requests
               if r.get("structured_outputs")), "the report was not composed"
    # the answer up front, a section per sub-question, [n] only to pages this run fetched
    assert report.splitlines()[2].startswith("**Answer:** Gustave Eiffel [")
    assert all(f"## {q}" in report for q in plan)
    assert result.citations and all(c["url"] in fetched for c in result.citations)
    # the planted claim: labelled in the report, unsupported in the record
    assert re.search(re.escape(PLANTED) + r" \[\d+\]\. \(unverified: ", report), report
    planted = next(s for s in statements if s["text"].startswith(PLANTED))
    assert planted["supported"] is False and planted["cites"]
    # what the page states is not labelled and is supported
    for start in ("The Eiffel Tower is a lattice tower", "Gustave Eiffel's company designed", "It stands on"):
        s = next(s for s in statements if s["text"].startswith(start))
        assert s["supported"] is True, s
        assert re.search(re.escape(s["text"][:30]) + r"[^\n(]*\[\d+\]\.(?! \(unverified)", report), start
    # a link to a wiki page this run never opened is rejected: out of the text and the sources
    lyon = next(s for s in statements if s["text"].startswith("Its twin stands in Lyon"))
    assert lyon["rejected"] == [f"{wiki.url}/wiki/Lyon"] and lyon["supported"] is False
    assert f"{wiki.url}/wiki/Lyon" not in fetched and all("Lyon" not in c["url"] for c in result.citations)
    # the record's scores: 4 of the 6 cited statements (the answer line and the rejected one
    # included) supported; the answer-bearing ones (the answer line, the designer's section,
    # the sentence on Paris) all cite
    reward = record["reward"]
    assert reward["citation_precision"] == pytest.approx(4 / 6) and reward["citation_recall"] == 1.0


def test_auto_composes_only_for_a_native_endpoint_that_is_not_the_bundled_model(tmp_path):
    from types import SimpleNamespace

    from agent.runtime import BUNDLED_NAME

    def style(protocol: str | None, *, embedded: bool = False, base: str | None = "some-instruct",
              report: str = "auto") -> str:
        agent = ResearchAgent(AgentConfig(home=tmp_path, report=report), client=SimpleNamespace(protocol=protocol))
        agent._embedded, agent._model_info = embedded, {"base": base}
        return agent._planner_config().report

    assert style("native") == "composed"
    assert style("deepstar") == "extractive" and style(None) == "extractive"  # an injected client without one
    assert style("native", embedded=True) == "extractive"  # the embedded server serves the bundled model
    assert style("native", base=BUNDLED_NAME) == "extractive"  # `deepstar serve` behind --base-url
    assert style("deepstar", report="composed") == "composed" and style("native", report="extractive") == "extractive"
