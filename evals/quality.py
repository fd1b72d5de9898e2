"""Explicit quality rules for synthesized tasks.

Each rule is a named function `rule(task) -> str | None`: it returns the reason it rejects
the task, or None to keep it. `problems(task)` runs them all; `RULES` lists them in order.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from evals.details import HEDGES, answer_type_of

__all__ = [
    "RULES",
    "ambiguous_comparison",
    "answer_leaked",
    "answer_not_in_evidence",
    "answer_type_mismatch",
    "bad_length",
    "bound_not_value",
    "dangling_pronoun",
    "evidence_starts_with_pronoun",
    "hedged_evidence",
    "junk_characters",
    "one_of_several",
    "passes",
    "problems",
]

Task = dict
PRONOUNS = {"he", "she", "it", "they", "this", "these", "those", "its", "his", "her", "their", "him", "them"}
MIN_WORDS, MAX_WORDS, MAX_CHARS = 5, 40, 300


def _words(text: str) -> list[str]:
    return re.findall(r"[\w'’-]+", text)


def dangling_pronoun(task: Task) -> str | None:
    """A pronoun before any named entity: 'When was he born?', 'In what year was it built?'."""
    words = _words(task["question"])
    for i, word in enumerate(words):
        if i > 0 and word[:1].isupper() and word.lower() not in PRONOUNS:
            return None  # an antecedent (a name) comes first
        if word.lower() in PRONOUNS:
            return f"pronoun {word!r} without an antecedent"
    return None


def _contains(haystack: str, needle: str) -> bool:
    return bool(needle) and re.search(rf"(?<!\w){re.escape(needle.lower())}(?!\w)", haystack.lower()) is not None


def answer_leaked(task: Task) -> str | None:
    """The gold answer or an alias appears in the question (comparisons name both options on purpose)."""
    if task.get("kind") == "comparison":
        return None
    for answer in task["answers"]:
        if _contains(task["question"], answer):
            return f"answer {answer!r} appears in the question"
    return None


def ambiguous_comparison(task: Task) -> str | None:
    """Ties, equal values, an answer that is not one option, or one option's name inside the other's."""
    if task.get("kind") != "comparison":
        return None
    options = task.get("options") or []
    values = task.get("values") or []
    if len(options) != 2 or len(values) != 2:
        return "a comparison needs exactly two options with values"
    a, b = (o.lower() for o in options)
    if a in b or b in a:
        return "one option's name contains the other's"
    if values[0] == values[1]:
        return "tie"
    if task["answers"][0] not in options:
        return "the answer is not one of the options"
    return None


def bad_length(task: Task) -> str | None:
    question = task["question"]
    n = len(_words(question))
    if n < MIN_WORDS or n > MAX_WORDS or len(question) > MAX_CHARS:
        return f"question length {n} words / {len(question)} chars out of range"
    if not question.rstrip().endswith(("?", ".")):
        return "question does not end with '?' or '.'"
    return None


def evidence_starts_with_pronoun(task: Task) -> str | None:
    """Evidence like 'It was completed in 1889.' cannot be resolved on its own, unless the
    extraction resolved the pronoun to the article (the item's `subject`, see evals.details)."""
    for item in task.get("evidence") or []:
        words = _words(item["text"])
        if words and words[0].lower() in PRONOUNS and item.get("subject") != item.get("title"):
            return f"evidence starts with the pronoun {words[0]!r}"
    return None


def answer_not_in_evidence(task: Task) -> str | None:
    """The gold answer must be stated in the evidence (its article title counts: 'Lusaka: Capital of Zambia')."""
    texts = [f"{e['title']}: {e['text']}" for e in task.get("evidence") or []]
    if not any(task["answers"][0] in text for text in texts):
        return f"answer {task['answers'][0]!r} not found in the evidence"
    return None


def junk_characters(task: Task) -> str | None:
    """Control/format characters, replacement characters, symbols or private-use code points."""
    for text in [task["question"], *task["answers"]]:
        for ch in text:
            category = unicodedata.category(ch)
            if ch == "\ufffd" or category[0] == "C" or category in ("So", "Co", "Zl", "Zp") or (
                category == "Zs" and ch != " "
            ):
                return f"junk character {ch!r} (U+{ord(ch):04X})"
    return None


def _answer_spans(task: Task) -> list[tuple[str, int, int, str]]:
    """(evidence text, start, end, field) of every place the main answer occurs in the evidence."""
    answer = task["answers"][0]
    spans = []
    for item in task.get("evidence") or []:
        text = item["text"]
        for m in re.finditer(rf"(?<!\w){re.escape(answer)}(?!\w)", text):
            spans.append((text, m.start(), m.end(), item.get("field", "")))
    return spans


NUMERIC_TYPES = ("year", "date", "number", "measure")


def answer_type_mismatch(task: Task) -> str | None:
    """The answer must look like its declared type: a year for 'year', a number with a unit for
    'measure'; a name type (person, place, ...) must not be a bare number or date."""
    declared = task.get("answer_type")
    if not declared or declared in ("entity", "nationality", "symbol"):
        return None
    found = answer_type_of(task["answers"][0])
    if {declared, found} == {"year", "number"} and task["answers"][0].isdigit():
        return None  # a bare 3-digit integer reads as either ("121 islands", "founded in 786")
    if declared in NUMERIC_TYPES and found != declared:
        return f"answer {task['answers'][0]!r} is a {found}, not a {declared}"
    if declared not in NUMERIC_TYPES and found in NUMERIC_TYPES:
        return f"answer {task['answers'][0]!r} is a {found}, not a {declared}"
    return None


_BOUND_BEFORE = re.compile(r"(?:up to|more than|over|at least|less than|under|as much as|as many as|fewer than|"
                           r"at most|nearly|almost|between|from)\s*$", re.I)
_RANGE_AFTER = re.compile(r"^\s*(?:–|-|to|or|and)\s*\d")
_RANGE_BEFORE = re.compile(r"\d\s*(?:–|-|to|or)\s*$|\bbetween\s+[\d,.]+(?:\s*[a-z]+)?\s+and\s*$")


def bound_not_value(task: Task) -> str | None:
    """A numeric answer that its extract sentence states only as a bound or one end of a range
    ('up to 7 metres', '2–7 m', 'between 1827 and 1846'): not the value the question asks.
    Description spans ('(1898–1956)', 'from 1861 to 1865') are what birth/death/office
    questions ask, so only extract sentences count; one plain mention is enough."""
    if task.get("kind") == "comparison" or task.get("answer_type") not in NUMERIC_TYPES:
        return None
    spans = [(text, start, end) for text, start, end, field in _answer_spans(task) if field == "extract"]
    if not spans:
        return None
    hedged = [a.lower() for a in task["answers"][1:]]

    def bounded(text: str, start: int, end: int) -> bool:
        before, after = text[:start], text[end:]
        if _RANGE_AFTER.match(after) or _RANGE_BEFORE.search(before):
            return True
        bound = _BOUND_BEFORE.search(before)
        return bool(bound) and not any(a.startswith(bound.group(0).split()[0].lower()) for a in hedged)

    if all(bounded(*span) for span in spans):
        return f"answer {task['answers'][0]!r} is only a bound or one end of a range in the evidence"
    return None


def one_of_several(task: Task) -> str | None:
    """A name answer that is one item of a list in its evidence ('by Reich and Richter',
    'Hurley, Karim, and Chen'): the question has several right answers."""
    if task.get("kind") == "comparison" or task.get("answer_type") in NUMERIC_TYPES:
        return None
    for text, start, end, _ in _answer_spans(task):
        before, after = text[:start], text[end:]
        if re.match(r"^(?:,? (?:and|&) (?:the )?[A-Z]|,? along with |, [A-Z][\w.'’-]*(?: [A-Z][\w.'’-]*)*,? and [A-Z])",
                    after) or re.search(r"[A-Z][\w.'’-]*,? (?:and|&) $", before):
            return f"answer {task['answers'][0]!r} is one of several in the evidence"
    return None


def hedged_evidence(task: Task) -> str | None:
    """Extract evidence that hedges ('probably', 'is believed', 'according to legend'): a gold
    answer must be a statement, not a guess."""
    for item in task.get("evidence") or []:
        if item.get("field") == "extract" and "subject" in item and (m := HEDGES.search(item["text"])):
            return f"evidence hedges ({m.group(0)!r})"
    return None


RULES: tuple[Callable[[Task], str | None], ...] = (
    dangling_pronoun,
    answer_leaked,
    ambiguous_comparison,
    bad_length,
    evidence_starts_with_pronoun,
    answer_not_in_evidence,
    junk_characters,
    answer_type_mismatch,
    bound_not_value,
    one_of_several,
    hedged_evidence,
)


def problems(task: Task) -> list[str]:
    """Every rule's objection to `task`, as 'rule_name: reason'."""
    return [f"{rule.__name__}: {reason}" for rule in RULES if (reason := rule(task))]


def passes(task: Task) -> bool:
    return not problems(task)
