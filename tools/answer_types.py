"""What kind of answer a question asks for, and the shape such an answer takes.

`expected_type` reads the question's form: a when-question wants a date, a how-tall one a
measure, a how-many one a number (None: anything, a name or a phrase). `ANSWER_PATTERNS`
holds, per type, the regular expression a short answer of that type matches; the research
loop hands it to the decoding grammar as the `answer` argument's `pattern`, so a model that
would answer "In what year was Francis Crick born?" with "Francis Crick" must write a date
instead (typed answers; measured in README, STaR section). The scorer's type check
(evals.scoring.answer_type_ok) reads the same `expected_type`. Bottom floor: the planner and
evals both import it.
"""

from __future__ import annotations

import re

__all__ = ["ANSWER_PATTERNS", "answer_pattern", "expected_type", "matches_type"]

_TYPES = (  # (type, question pattern), first match wins
    ("date", re.compile(r"^(?:when|in (?:what|which) (?:year|century|decade)|(?:what|which) (?:year|date|century)|"
                        r"on (?:what|which) (?:date|day))\b|\b(?:what|which) year\b")),
    ("measure", re.compile(r"\bhow (?:tall|high|long|far|deep|heavy|wide|big|large|old)\b|"
                           r"\bwhat is the (?:height|length|area|elevation|depth|width|mass|weight)\b")),
    ("number", re.compile(r"\bhow (?:many|much)\b")),
)

_APPROX = r"(?:(?:about|around|approximately|nearly|over|some|c\.) )?"
_NUMBER = r"[0-9][0-9,]{0,12}(?:\.[0-9]{1,4})?(?: (?:thousand|million|billion|trillion))?"
_UNIT = r"(?: ?[A-Za-z°²³/%][A-Za-z0-9°²³/%.-]{0,15}){0,3}"
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DATE = (r"(?:[0-9]{1,2} )?(?:" + _MONTH + r" )?(?:[0-9]{1,2}, )?[0-9]{1,4}(?:s| ?(?:BC|BCE|AD|CE))?"
         r"|[0-9]{1,2}(?:st|nd|rd|th) (?:century|millennium)(?: (?:BC|BCE))?")

# whole-answer shapes (anchored by the grammar; use `matches_type` to test a string)
ANSWER_PATTERNS: dict[str, str] = {
    "date": _APPROX + r"(?:" + _DATE + r")",
    "number": _APPROX + _NUMBER + r"(?: [a-z]{2,15}){0,2}",
    "measure": _APPROX + _NUMBER + _UNIT,
}


def expected_type(question: str | None) -> str | None:
    """'date', 'measure' or 'number' when the question's form asks for one; else None."""
    q = " ".join((question or "").casefold().split())
    return next((kind for kind, pattern in _TYPES if pattern.search(q)), None)


def answer_pattern(question: str | None) -> str | None:
    """The regular expression an answer to `question` must match (None: no constraint)."""
    kind = expected_type(question)
    return ANSWER_PATTERNS.get(kind) if kind else None


def matches_type(question: str | None, answer: str) -> bool:
    """Whether `answer` has the shape `question` asks for (True when it asks for no shape)."""
    pattern = answer_pattern(question)
    return pattern is None or re.fullmatch(pattern, answer) is not None
