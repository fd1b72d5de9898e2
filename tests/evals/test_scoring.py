from __future__ import annotations

import pytest

from evals.scoring import (
    citation_support,
    exact_match,
    f1,
    format_ok,
    normalize_answer,
    score_record,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Eiffel Tower.", "eiffel tower"),
        ("  an   apple, a pear ", "apple pear"),
        ("Schrödinger", "schrodinger"),
        ("ÉCOLE", "ecole"),
        ("1,000", "1000"),
        ("1,234,567 people", "1234567 people"),
        ("2.04 million", "2.04 million"),
        ("Gay-Lussac", "gay lussac"),
        ("Theatre", "theatre"),  # 'the' only as a whole word
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_alias_aware_and_numbers():
    assert exact_match("the Eiffel Tower.", ["Eiffel Tower"]) == 1.0
    assert exact_match("Orwell", ["George Orwell", "Orwell"]) == 1.0
    assert exact_match("1000", ["1,000"]) == 1.0
    assert exact_match("204", ["2.04"]) == 0.0
    assert exact_match("Paris", "paris") == 1.0
    assert exact_match("", ["", "x"]) == 0.0
    assert exact_match(None, ["x"]) == 0.0
    assert exact_match("London", []) == 0.0


def test_f1():
    assert f1("George Orwell", ["Orwell"]) == pytest.approx(2 / 3)
    assert f1("Eric Blair", ["George Orwell", "Eric Arthur Blair"]) == pytest.approx(0.8)
    assert f1("", ["x"]) == 0.0
    assert f1("the", ["a"]) == 0.0  # both normalize to nothing: no credit for an empty answer
    assert f1("Paris, France", ["Paris"]) == pytest.approx(2 / 3)


def test_format_ok():
    assert format_ok({"final_answer": "1898"})
    assert not format_ok({"final_answer": "   "})
    assert not format_ok({})
    assert not format_ok({"final_answer": "word " * 31})
    assert not format_ok({"final_answer": 'x <tool_call>{"name": "search"'})
    assert not format_ok({"final_answer": "1898", "messages": [{"role": "assistant", "content": "<tool_call>{"}]})
    assert format_ok({"final_answer": "1898", "messages": [{"role": "assistant", "content": "<tool_call>{}</tool_call>"}]})


def test_citation_support():
    snapshots = {"http://wiki/Paris": "Paris is the capital\n and largest city of FRANCE."}
    cites = [
        {"url": "http://wiki/Paris", "snippet": "capital and  largest city of France"},
        {"url": "http://wiki/Paris#History", "snippet": "the CAPITAL"},
        {"url": "http://wiki/Paris", "snippet": "not on the page"},
        {"url": "http://wiki/Lyon", "snippet": "capital"},
    ]
    assert citation_support(cites, snapshots) == 0.5
    assert citation_support([], snapshots) == 0.0
    assert citation_support([{"url": "http://wiki/Paris", "snippet": ""}], snapshots) == 0.0


def test_score_record():
    record = {
        "final_answer": "Paris",
        "gold_answers": ["Paris"],
        "citations": [{"url": "u", "title": "P", "snippet": "capital"}],
    }
    assert score_record(record, {"u": "the capital"}) == {
        "em": 1.0, "f1": 1.0, "format_ok": True, "citation_support": 1.0, "judge": None,
    }
