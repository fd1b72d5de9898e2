"""Scorers for one trajectory record: exact match, token F1, format, citation support.

Normalization (`normalize_answer`), decided once for every scorer:
- Unicode: NFKD, combining marks dropped ("Schrödinger" == "Schrodinger"), case-folded;
- numbers: thousands separators dropped ("1,000" == "1000"); a decimal point between digits
  is kept ("2.04" stays "2.04", so it never equals "204");
- punctuation and the articles a/an/the removed, whitespace collapsed (so a trailing
  period, quotes or brackets never matter).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["citation_support", "exact_match", "f1", "format_ok", "normalize_answer", "score_record"]

MAX_ANSWER_WORDS = 30
_DECIMAL = "\u0000"


def normalize_answer(text: str | None) -> str:
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    while True:  # 1,234,567 -> 1234567 (loop: overlapping groups)
        new = re.sub(r"(\d),(\d{3})(?!\d)", r"\1\2", text)
        if new == text:
            break
        text = new
    text = re.sub(r"(?<=\d)\.(?=\d)", _DECIMAL, text)
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    text = text.replace(_DECIMAL, ".")
    text = re.sub(r"\b(?:a|an|the)\b", " ", text)
    return " ".join(text.split())


def _as_list(answers: str | Iterable[str]) -> list[str]:
    return [answers] if isinstance(answers, str) else [a for a in answers if a is not None]


def exact_match(prediction: str | None, answers: str | Iterable[str]) -> float:
    """1.0 if the normalized prediction equals any normalized gold answer. Empty -> 0.0."""
    pred = normalize_answer(prediction)
    if not pred:
        return 0.0
    return float(any(pred == normalize_answer(a) for a in _as_list(answers)))


def _token_f1(pred: list[str], gold: list[str]) -> float:
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def f1(prediction: str | None, answers: str | Iterable[str]) -> float:
    """Token F1 between normalized strings, the best over the gold answers. Empty -> 0.0."""
    pred = normalize_answer(prediction).split()
    if not pred:
        return 0.0
    return max((_token_f1(pred, normalize_answer(a).split()) for a in _as_list(answers)), default=0.0)


def _unclosed_tool_call(text: str) -> bool:
    return text.count("<tool_call>") > text.count("</tool_call>")


def format_ok(record: Mapping) -> bool:
    """A final answer is present, non-empty, short, and no `<tool_call>` was left open."""
    answer = record.get("final_answer")
    if not isinstance(answer, str) or not answer.strip():
        return False
    if len(answer.split()) > MAX_ANSWER_WORDS or _unclosed_tool_call(answer):
        return False
    assistant = [m for m in record.get("messages") or [] if m.get("role") == "assistant"]
    last = assistant[-1].get("content") if assistant else None
    return not (isinstance(last, str) and _unclosed_tool_call(last))


def _squash(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())


def citation_support(citations: Sequence[Mapping], snapshots: Mapping[str, str]) -> float:
    """Fraction of citations whose snippet occurs (whitespace/case-normalized) in the
    snapshot text of the cited URL (fragment ignored). No citations -> 0.0."""
    if not citations:
        return 0.0
    supported = 0
    for citation in citations:
        url = (citation.get("url") or "").split("#", 1)[0]
        snippet = _squash(citation.get("snippet") or "")
        page = snapshots.get(url, snapshots.get(citation.get("url") or ""))
        if snippet and page is not None and snippet in _squash(page):
            supported += 1
    return supported / len(citations)


def score_record(record: Mapping, snapshots: Mapping[str, str]) -> dict:
    """{em, f1, format_ok, citation_support, judge}; `judge` is filled by `evals.judge`."""
    gold = record.get("gold_answers") or record.get("answers") or []
    prediction = record.get("final_answer")
    return {
        "em": exact_match(prediction, gold),
        "f1": f1(prediction, gold),
        "format_ok": format_ok(record),
        "citation_support": citation_support(record.get("citations") or [], snapshots),
        "judge": None,
    }
