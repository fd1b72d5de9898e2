"""Explicit quality rules for synthesized tasks.

Each rule is a named function `rule(task) -> str | None`: it returns the reason it rejects
the task, or None to keep it. `problems(task)` runs them all; `RULES` lists them in order.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

__all__ = [
    "RULES",
    "ambiguous_comparison",
    "answer_leaked",
    "answer_not_in_evidence",
    "bad_length",
    "dangling_pronoun",
    "evidence_starts_with_pronoun",
    "junk_characters",
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
    """Evidence like 'It was completed in 1889.' cannot be resolved on its own."""
    for item in task.get("evidence") or []:
        words = _words(item["text"])
        if words and words[0].lower() in PRONOUNS:
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


RULES: tuple[Callable[[Task], str | None], ...] = (
    dangling_pronoun,
    answer_leaked,
    ambiguous_comparison,
    bad_length,
    evidence_starts_with_pronoun,
    answer_not_in_evidence,
    junk_characters,
)


def problems(task: Task) -> list[str]:
    """Every rule's objection to `task`, as 'rule_name: reason'."""
    return [f"{rule.__name__}: {reason}" for rule in RULES if (reason := rule(task))]


def passes(task: Task) -> bool:
    return not problems(task)
