"""Scorers for one trajectory record: exact match, token F1, format, evidence, answer type,
and the one definition of a successful trajectory.

Normalization and "supported" are decided once, in `tools.evidence` (the planner's verify
node uses the same): `normalize_answer` is that normalization. A citation is supported when
a sentence of the page this run fetched states its claim and names the question's subject
(`tools.evidence.find_evidence`); the answer is supported when some citation's sentence
states the final answer or the gold alias it matched; a comparison also needs both
compared facts on pages the run opened.

Citation precision and recall (`citation_metrics`), as DeepResearch Bench's FACT measures
them, over the report's statements (`planner.report`; each sentence that carries a claim,
with its citations): precision = cited statements supported by a page they cite (this
run's snapshot, `tools.evidence.statement_evidence`) / all cited statements, a citation
rejected as no page of this run counting as cited and unsupported; recall = answer-bearing
statements (they state the final answer or a finding's) that cite a source of the run /
all answer-bearing statements. They are computed for any model, over the same record.

`is_success` is the one definition of success (the harness, the stored record, the
demonstrations and the STaR filter use it): the answer is right (EM, or token F1 at or
above a threshold for an answer of the expected type), the format is valid, every citation
is supported and the answer is.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from tools.answer_types import expected_type, repeats_question
from tools.evidence import (
    contains,
    find_evidence,
    split_sentences,
    statement_evidence,
)
from tools.evidence import normalize as normalize_answer

__all__ = ["answer_supported", "answer_type_ok", "citation_metrics", "citation_support", "compared_facts_fetched",
           "exact_match",
           "expected_type", "f1", "format_ok", "is_success", "matched_alias", "normalize_answer", "score_record"]

MAX_ANSWER_WORDS = 30


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



# --- the answer's expected type -------------------------------------------------------------
_MONTHS = ("january february march april may june july august september october november december "
           "jan feb mar apr jun jul aug sep sept oct nov dec").split()
_NUMBER_WORDS = set(("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                     "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
                     "hundred thousand million billion dozen").split())


def _has_number(norm: str) -> bool:
    return bool(re.search(r"\d", norm)) or bool(set(norm.split()) & _NUMBER_WORDS)


def answer_type_ok(question: str | None, answer: str | None, *, options: Sequence[str] = ()) -> bool:
    """Whether `answer` is the kind of thing `question` asks for: a when-question wants a date,
    a how-tall one a measure, a how-many one a number; an answer that only repeats words of
    the question is no answer (unless it is one of the options the question offers)."""
    norm = normalize_answer(answer)
    if not norm:
        return False
    kind = expected_type(question)
    if kind == "date" and not (re.search(r"\d", norm) or any(m in norm.split() for m in _MONTHS)):
        return False
    if kind in ("measure", "number") and not _has_number(norm):
        return False
    if kind == "name" and re.fullmatch(r"[\d\s.,]+", norm):  # "1803" is no answer to "Who discovered osmium?"
        return False
    offered = any(contains(answer, o) or contains(o, answer) for o in options)
    return offered or not repeats_question(question, answer)


# --- evidence ---------------------------------------------------------------------------------
def _page(snapshots: Mapping[str, str], url: str | None) -> str | None:
    url = url or ""
    return snapshots.get(url, snapshots.get(url.split("#", 1)[0]))


def citation_support(citations: Sequence[Mapping], snapshots: Mapping[str, str], *, question: str = "",
                     answer: str | None = None) -> float:
    """Fraction of citations whose snippet (or, with none usable, a sentence of the cited page this
    run fetched) states the citation's claim (else `answer`) and names the question's subject.
    No citations -> 0.0."""
    if not citations:
        return 0.0
    supported = sum(find_evidence(_page(snapshots, c.get("url")), claims=[c.get("claim") or answer or ""],
                                  subject=question, quote=c.get("snippet")).supported for c in citations)
    return supported / len(citations)


def citation_metrics(record: Mapping, snapshots: Mapping[str, str]) -> dict:
    """FACT's citation precision and recall of one report (see the module docstring), with the
    counts they are ratios of (so that a summary can pool them over tasks): {cited,
    cited_supported, answer_claims, answer_claims_cited, citation_precision, citation_recall};
    a ratio with nothing to count is None. Each statement is re-checked here against
    `snapshots` (its recorded `supported` flag is not trusted)."""
    url_of = {c.get("n"): c.get("url") for c in record.get("citations") or []}
    cited = supported = claims = claims_cited = 0
    for s in record.get("statements") or []:
        cites = [n for n in s.get("cites") or [] if n in url_of]
        if cites or s.get("cites") or s.get("rejected"):
            cited += 1
            supported += statement_evidence({**s, "cites": cites}, lambda n: _page(snapshots, url_of[n])).supported
        if s.get("answer_bearing"):
            claims += 1
            claims_cited += bool(cites)
    return {"cited": cited, "cited_supported": supported, "answer_claims": claims, "answer_claims_cited": claims_cited,
            "citation_precision": supported / cited if cited else None,
            "citation_recall": claims_cited / claims if claims else None}


def matched_alias(prediction: str | None, gold: Iterable[str]) -> str | None:
    """The gold answer `prediction` matched: the exact one, else the one of best token F1."""
    gold = [g for g in gold if normalize_answer(g)]
    exact = next((g for g in gold if exact_match(prediction, g)), None)
    if exact is not None or not gold:
        return exact
    best = max(gold, key=lambda g: f1(prediction, g))
    return best if f1(prediction, best) > 0 else None


def answer_supported(record: Mapping, snapshots: Mapping[str, str]) -> bool:
    """Some citation's sentence states the final answer (or the gold alias it matched) and names
    the question's subject."""
    prediction = record.get("final_answer") or ""
    alias = matched_alias(prediction, record.get("gold_answers") or [])
    claims = [prediction] + ([alias] if alias else [])
    return any(find_evidence(_page(snapshots, c.get("url")), claims=claims, subject=record.get("question") or "",
                             quote=c.get("snippet")).supported for c in record.get("citations") or [])


def compared_facts_fetched(record: Mapping, snapshots: Mapping[str, str]) -> bool:
    """A comparison is backed only when the run opened both compared facts: each evidence text
    of the task on some page of this run (without evidence texts: each option named, beside a
    number, in a sentence of some page of this run)."""
    pages = [t for t in snapshots.values() if t]
    evidence = [e.get("text") if isinstance(e, Mapping) else e for e in record.get("evidence") or []]
    evidence = [e for e in evidence if isinstance(e, str) and e.strip()]
    if evidence:
        return all(any(contains(p, e) for p in pages) for e in evidence)
    options = [o for o in record.get("options") or [] if normalize_answer(o)]
    if len(options) < 2:
        return False
    return all(any(contains(s, o) and re.search(r"\d", s) for p in pages for s in split_sentences(p))
               for o in options)


def score_record(record: Mapping, snapshots: Mapping[str, str]) -> dict:
    """{em, f1, format_ok, citation_support, citation_precision, citation_recall, answer_supported,
    answer_type_ok, judge}; `judge` is filled by `evals.judge`. `snapshots`: the pages this run
    fetched (url -> text)."""
    gold = record.get("gold_answers") or record.get("answers") or []
    prediction = record.get("final_answer")
    question = record.get("question") or ""
    supported = answer_supported({**record, "gold_answers": gold}, snapshots)
    if supported and record.get("kind") == "comparison":
        supported = compared_facts_fetched(record, snapshots)
    return {
        "em": exact_match(prediction, gold),
        "f1": f1(prediction, gold),
        "format_ok": format_ok(record),
        "citation_support": citation_support(record.get("citations") or [], snapshots, question=question,
                                             answer=prediction),
        **{k: v for k, v in citation_metrics(record, snapshots).items() if k.startswith("citation_")},
        "answer_supported": supported,
        "answer_type_ok": answer_type_ok(question, prediction, options=record.get("options") or ()),
        "judge": None,
    }


def is_success(reward: Mapping, *, f1_threshold: float | None = None) -> bool:
    """The one definition of a successful trajectory: a right answer (EM; or token F1 at or above
    `f1_threshold` for an answer of the expected type), a valid format, every citation supported
    and the answer itself supported by a cited sentence."""
    correct = reward.get("em") == 1.0 or (
        f1_threshold is not None and (reward.get("f1") or 0.0) >= f1_threshold and bool(reward.get("answer_type_ok")))
    return bool(correct and reward.get("format_ok") and reward.get("citation_support") == 1.0
                and reward.get("answer_supported"))
