from __future__ import annotations

import pytest

from evals import quality


def _task(**overrides):
    task = {
        "question": "In what year was Bertolt Brecht born?",
        "answers": ["1898"],
        "kind": "single",
        "evidence": [{"title": "Bertolt Brecht", "field": "description", "text": "German playwright (1898–1956)"}],
    }
    task.update(overrides)
    return task


def _comparison(**overrides):
    task = {
        "question": "Who was born first, Bertolt Brecht or H. G. Wells?",
        "answers": ["H. G. Wells"],
        "kind": "comparison",
        "options": ["Bertolt Brecht", "H. G. Wells"],
        "values": ["1898", "1866"],
        "evidence": [
            {"title": "Bertolt Brecht", "field": "description", "text": "German playwright (1898–1956)"},
            {"title": "H. G. Wells", "field": "description", "text": "English writer (1866–1946)"},
        ],
    }
    task.update(overrides)
    return task


@pytest.mark.parametrize(
    ("rule", "bad"),
    [
        (quality.dangling_pronoun, _task(question="In what year was he born?")),
        (quality.dangling_pronoun, _task(question="When was it completed? Give the year.")),
        (quality.answer_leaked, _task(question="Was Bertolt Brecht born in 1898 or later?")),
        (quality.answer_leaked, _task(answers=["1898", "Brecht"])),
        (quality.ambiguous_comparison, _comparison(values=["1898", "1898"])),
        (quality.ambiguous_comparison, _comparison(options=["Alexander", "Alexander the Great"], answers=["Alexander"])),
        (quality.ambiguous_comparison, _comparison(answers=["Someone else"])),
        (quality.bad_length, _task(question="Brecht born?")),
        (quality.bad_length, _task(question="In what year was Bertolt Brecht born " + "really " * 40 + "?")),
        (quality.evidence_starts_with_pronoun, _task(evidence=[{"title": "X", "field": "extract", "text": "He was born in 1898."}])),
        (quality.answer_not_in_evidence, _task(answers=["1899"])),
        (quality.junk_characters, _task(question="In what year was Bertolt\u00a0Brecht born?")),
        (quality.junk_characters, _task(question="In what year was Bertolt Brecht born?\ufffd")),
    ],
)
def test_rule_rejects_bad_case(rule, bad):
    assert rule(bad)
    assert not quality.passes(bad)


@pytest.mark.parametrize("rule", quality.RULES)
def test_rule_keeps_good_cases(rule):
    assert rule(_task()) is None
    assert rule(_comparison()) is None
    # a pronoun after a named antecedent, and accented letters, are fine
    assert rule(_task(question="Which country has Nairobi as its capital?", answers=["Kenya"],
                      evidence=[{"title": "Nairobi", "field": "description", "text": "Capital of Kenya"}])) is None
    assert rule(_task(question="In what year was Erwin Schrödinger born?", answers=["1887"],
                      evidence=[{"title": "Erwin Schrödinger", "field": "description", "text": "Austrian physicist (1887–1961)"}])) is None


def test_answer_title_counts_as_evidence():
    task = _task(question="What is the capital of Kenya?", answers=["Nairobi"],
                 evidence=[{"title": "Nairobi", "field": "description", "text": "Capital and largest city of Kenya"}])
    assert quality.answer_not_in_evidence(task) is None


def test_problems_names_the_rule():
    assert quality.problems(_task(question="In what year was he born?"))[0].startswith("dangling_pronoun:")
