"""The report write builds and verify checks: composed by a capable model (every sentence
checked against the page it cites, citations to pages not fetched in the run rejected), or
extractive (the bundled model's: nothing but the answer, findings with page sentences,
sources). Driven through the graph with the planner's fakes (no network)."""

from __future__ import annotations

import json
import re

from evals.scoring import citation_metrics
from planner.report import UNSTATED
from tests.planner.fakes import reply
from tests.planner.test_graph import PAGE, TEXT, react_policy, run

PARIS = "http://site/wiki/Paris"  # on the site, never opened in these runs
HEADED = f"# Eiffel Tower\n{TEXT}"  # as the wiki's pages are: a sentence is read under its page's heading
PAGES = {PAGE: HEADED, PARIS: "# Paris\nParis is the capital of France."}
PLANTED = "It was painted gold by Napoleon in 1750 [1]."


def writer(written: dict, seen: list | None = None):
    """react_policy, and the composed report's call answered with `written`."""
    inner = react_policy()

    def policy(messages, kwargs):
        schema = ((kwargs.get("structured_outputs") or {}).get("json") or {}).get("properties", {})
        if "sections" in schema:
            if seen is not None:
                seen.append({"messages": messages, "schema": schema, **kwargs})
            return reply(json.dumps(written))
        return inner(messages, kwargs)
    return policy


def body(report: str) -> str:
    return report.split("\n## Sources")[0]


def by_raw(statements: list[dict], start: str) -> dict:
    return next(s for s in statements if s.get("raw", "").startswith(start))


def test_a_planted_unsupported_sentence_is_flagged_in_the_report_and_the_record():
    seen: list = []
    written = {"answer": "1889", "summary": f"The Eiffel Tower was completed in 1889 [1]. {PLANTED} "
                                            "So the year is 1889.",
               "sections": {"q0": "It is named after Gustave Eiffel. [1]"}}
    state, *_ = run(writer(written, seen), pages=PAGES, report="composed", max_report_tokens=777)

    report = state["report"]
    lines = report.splitlines()
    # the answer up front, then the summary, then one section per sub-question, then the sources
    assert lines[0] == "# When was the Eiffel Tower completed?" and lines[2] == "**Answer:** 1889 [1]"
    assert "## When was the Eiffel Tower completed?" in lines and lines[-3:] == ["## Sources", "",
                                                                                f"[1] Eiffel_Tower — {PAGE}"]
    # the planted sentence is labelled right after it; the page's own facts are not
    assert re.search(re.escape(PLANTED) + r" \(unverified: no sentence of the page states 1750, Napoleon", report)
    assert f"The Eiffel Tower was completed in 1889 [1]. {PLANTED}" in report  # no label between
    assert "It is named after Gustave Eiffel [1]." in report and "Eiffel [1]. (" not in report  # mark moved in
    assert "So the year is 1889. (unverified: no citation)" in report  # an uncited claim is flagged too
    # ... and the record says the same
    statements = state["statements"]
    planted = by_raw(statements, "It was painted gold")
    assert planted["supported"] is False and planted["cites"] == [1] and planted["kind"] == "prose"
    assert by_raw(statements, "The Eiffel Tower was completed")["supported"] is True
    assert by_raw(statements, "It is named after")["supported"] is True
    assert by_raw(statements, "**Answer:**")["supported"] is True
    # FACT's two ratios over this report: 3 of the 4 cited statements supported; of the three
    # answer-bearing ones (the answer line, the first sentence, the uncited one) two cite
    metrics = citation_metrics({"citations": state["citations"], "statements": statements}, {PAGE: HEADED})
    assert (metrics["cited"], metrics["cited_supported"]) == (4, 3) and metrics["citation_precision"] == 0.75
    assert (metrics["answer_claims"], metrics["answer_claims_cited"]) == (3, 2)
    # the one call that composed it: this run's sources, one section per sub-question, its own token limit
    (call,) = seen
    assert call["schema"]["sections"]["required"] == ["q0"] and call["max_tokens"] == 777
    assert f"[1] Eiffel_Tower — {PAGE}" in call["messages"][1]["content"]
    assert PARIS not in call["messages"][1]["content"]


def test_citations_to_pages_not_fetched_in_the_run_are_rejected():
    written = {"answer": "1889", "summary": "The Eiffel Tower was completed in 1889 [1][4]. "
                                            f"It stands in Paris ([source]({PARIS})). "
                                            f"See {PAGE} for Gustave Eiffel.",
               "sections": {"q0": "It was completed in 1889 [2]."}}
    state, *_ = run(writer(written), pages=PAGES, report="composed")
    report, statements = state["report"], state["statements"]

    # [4], [2] and the Paris page are no sources of this run: gone from the text, never listed ...
    text = re.sub(r" \((?:unverified|citation rejected):(?:[^()]|\([^()]*\))*\)", "", body(report))
    assert "(unverified" in body(report) and re.findall(r"\[\d+\]", text) == ["[1]"] * 3 and PARIS not in text
    assert [c["url"] for c in state["citations"]] == [PAGE]
    assert "## Sources\n\n[1] Eiffel_Tower — " + PAGE + "\n" in report
    # ... kept on the sentence and said in the report
    first = by_raw(statements, "The Eiffel Tower was completed")
    assert first["cites"] == [1] and first["rejected"] == ["[4]"] and first["supported"] is True
    assert "(citation rejected: [4] is no page fetched in this run)" in report
    paris = by_raw(statements, "It stands in Paris")
    assert paris["cites"] == [] and paris["rejected"] == [PARIS] and paris["supported"] is False
    assert f"(unverified: its citation ({PARIS}) is no page fetched in this run)" in body(report)
    section = by_raw(statements, "It was completed in 1889")
    assert section["cites"] == [] and section["rejected"] == ["[2]"] and section["supported"] is False
    # a URL of this run's source is that source's [n]
    assert "See [1] for Gustave Eiffel." in report and by_raw(statements, "See [1]")["supported"] is True
    # the scorer counts a rejected citation as a cited, unsupported statement
    metrics = citation_metrics({"citations": state["citations"], "statements": statements}, {PAGE: HEADED})
    assert (metrics["cited"], metrics["cited_supported"]) == (5, 3)


def test_the_extractive_report_stays_extractive():
    seen: list = []
    state, client, *_ = run(writer({"answer": "x", "summary": "Invented prose [1].", "sections": {}}, seen))
    assert seen == []  # the report is never composed: no call asks for one
    assert "Invented prose" not in state["report"] and "## Findings" in state["report"]
    assert '- When was the Eiffel Tower completed? 1889 — "It was completed in 1889 for the World\'s Fair." [1]' \
        in state["report"]
    assert [(s["kind"], s["cites"], s["supported"]) for s in state["statements"]] == [
        ("answer", [1], True), ("finding", [1], True)]


def test_a_composed_report_the_model_botched_falls_back_to_the_extractive_one():
    state, *_ = run(writer({"answer": "1889", "summary": "", "sections": {"q0": "  "}}), report="composed")
    assert "## Findings" in state["report"] and UNSTATED not in state["report"]
    assert [s["kind"] for s in state["statements"]] == ["answer", "finding"]
