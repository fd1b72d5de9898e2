"""Sentence questions: one sentence of an article's text, asked back with one span replaced.

People ask about details inside an article's text ("How many alliterative lines make up
Beowulf?"), where the templates of `evals.facts` and `evals.details` mostly ask about its
description line. This module turns an extract sentence about the article into a question
by replacing one span with the question words that ask for it, the rest of the sentence
kept as written:

    "Beowulf is an Old English poem ... consisting of 3,182 alliterative lines."
 -> "Beowulf is an Old English poem ... consisting of how many alliterative lines?"  (3,182)
    "It was built in 1960 by Theodore Maiman at Hughes Research Laboratories." (Laser)
 -> "Laser was built in 1960 by whom at Hughes Research Laboratories?"  (Theodore Maiman)

Spans asked for (`ECHO_RELATIONS`): an agent after "by" (a person's name), a count ("21
nocturnes"), a measure ("40 km"), a year after "in", and a name after "known as" /
"called". The sentence must name the article as its subject (`evals.details.subjects`, the
pronoun or surname replaced by the article's name), must not hedge, and must state the span
once; the gold answer is the span, character for character, so it is right by
construction. Each sentence yields at most one question (the first kind that matches, in
`ECHO_RELATIONS` order). The task-level checks of `evals.quality` still apply.

The questions read like their sentences, not like people's paraphrases; what they teach is
the reading step people's questions need: find the sentence of the page that matches the
question, quote it, answer with the span the question leaves out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from evals.corpus import Article, split_sentences
from evals.details import _NUM, _YEAR, HEDGES, display_name, subjects
from evals.facts import Fact
from tools.answer_types import matches_type, question_options

__all__ = ["ECHO_RELATIONS", "echo_facts"]

ECHO_RELATIONS = ("echo_agent", "echo_count", "echo_measure", "echo_year", "echo_name")

_NAME = r"(?:[A-Z][\w'’-]*\.? (?:(?:de|da|di|van|von|der|la|le|al|bin|ibn|y) )?){1,3}[A-Z][\w'’-]+"  # 2-4 words
# a name ends at punctuation, the sentence's end or a lowercase word that does not extend it
_NAME_END = r"(?=[,.;)]|$| (?!(?:or|and|of|de|del|von|van)\b)[a-z])"
_AGENT = re.compile(rf"\bby (?P<ans>{_NAME}){_NAME_END}")
_UNITS = ("km", "kilometres", "kilometers", "metres", "meters", "m", "miles", "feet", "ft", "kg", "tonnes",
          "km2", "square kilometres", "square kilometers", "square miles", "hectares", "light-years", "years")
_UNIT = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_MEASURE = re.compile(rf"(?<![\w.,$£€-])(?P<ans>(?P<num>{_NUM}) (?P<unit>{_UNIT}))(?![\w-])")
_COUNT = re.compile(rf"(?<![\w.,$£€+-])(?P<num>{_NUM}) (?P<noun>(?:[a-z]+[ -])?[a-z]+s)\b")
_IN_YEAR = re.compile(rf"\bin (?P<ans>{_YEAR})(?![\w–-]| BC| AD|s\b)")
_KNOWN = re.compile(rf"\b(?P<lead>(?:originally |formerly |also |first )?(?:known as|called|named)) "
                    rf"(?P<ans>(?:the )?[A-Z][\w'’-]*(?: [A-Z][\w'’-]*){{0,3}}){_NAME_END}")
# counted nouns that are units, times or parts of a number, not things counted
_NOT_COUNTED = frozenset("""years months weeks days hours minutes seconds centuries decades millions billions
thousands hundreds percent metres meters kilometres kilometers miles feet inches kilograms tonnes tons degrees
people's times""".split())
_MAX_WORDS = 36
# an agent with one of these words is an organisation or a place, not a person
_NOT_PERSON = frozenset("""County Records Company Corporation University Society Museum Bureau Party Council Church
Republic Kingdom Empire Army Navy Government Office Department Institute Agency Union Association Group Studios
Pictures Press Entertainment Games Inc Ltd Academy College School Committee Commission Ministry Foundation Bank
Sea Ocean River Mountains Islands Island Province State States City Comics Books Publishing Publishers Studio
Airlines Motors Music Media Network Television Broadcasting Team Club League Federation""".split())
_NOT_STATEMENT = re.compile(r"^ (?:is|was|are|were) (?:estimated|thought|said|considered|known|reported) (?:that|to)\b")


def _question(body: str, start: int, end: int, wh: str) -> str | None:
    """`body` with [start, end) replaced by `wh`, as a question."""
    text = (body[:start] + wh + body[end:]).strip()
    text = re.sub(r"[.;:!]+$", "", text).rstrip(", ")
    if len(text.split()) > _MAX_WORDS:
        return None
    return text[:1].upper() + text[1:] + "?"


def _spans(body: str) -> Iterator[tuple[str, str, int, int, str, str, tuple[str, ...]]]:
    """(relation, answer, start, end, wh-phrase, answer type, aliases) candidates in `body`."""
    for m in _AGENT.finditer(body):
        ans = m["ans"].rstrip(".")
        tokens = ans.split()
        person = not _NOT_PERSON & set(tokens) and not any(t.isupper() and len(t) > 1 for t in tokens)
        aliases = (tokens[-1],) if person and len(tokens) >= 2 and len(tokens[-1]) > 3 else ()
        yield ("echo_agent", ans, m.start(), m.start() + 3 + len(ans), "by whom", "person" if person else "name",
               aliases)
    for m in _COUNT.finditer(body):
        noun = m["noun"]
        if noun.split()[-1].split("-")[-1] in _NOT_COUNTED or re.fullmatch(_YEAR, m["num"]) and "," not in m["num"]:
            continue
        num = m["num"]
        yield ("echo_count", num, m.start(), m.end(), f"how many {noun}", "number",
               (num.replace(",", ""),) if "," in num else ())
    for m in _MEASURE.finditer(body):
        unit = m["unit"]
        yield ("echo_measure", m["ans"], m.start(), m.end(), f"how many {unit}", "measure",
               (m["num"], m["num"].replace(",", "")) if "," in m["num"] else (m["num"],))
    for m in _IN_YEAR.finditer(body):
        yield "echo_year", m["ans"], m.start(), m.end(), "in what year", "year", ()
    for m in _KNOWN.finditer(body):
        ans = m["ans"]
        bare = ans[4:] if ans.startswith("the ") else ans
        yield ("echo_name", bare, m.start("ans") + (len(ans) - len(bare)), m.end(), "what", "name", ())


def echo_facts(articles: Iterable[Article]) -> list[Fact]:
    """One sentence question (as a Fact: value = the span, `extra['question']`) per usable
    extract sentence of each article, in title order."""
    articles = list(articles)
    titles = {a.title for a in articles}
    out: list[Fact] = []
    for a in articles:
        sentences = split_sentences(a.extract)
        name = display_name(a.title)
        if name != a.title and name in titles:  # "São Paulo" is the city: the state keeps its qualifier
            name = a.title
        for s, subj in zip(sentences, subjects(a, sentences), strict=True):
            if subj is None or HEDGES.search(s) or subj.year or _NOT_STATEMENT.match(subj.rest):
                continue
            # the subject as the question names it: the article's name for a pronoun, a
            # surname or "The river"
            head = subj.head if subj.head in (name, f"The {name}") else name
            body = head + subj.rest
            for relation, ans, start, end, wh, answer_type, aliases in _spans(body):
                if start < len(head) or body.count(ans) != 1 or name.casefold() in ans.casefold():
                    continue
                question = _question(body, start, end, wh)
                if question is None or ans.casefold() in question.casefold():
                    continue
                # a sentence with "A or B" / "A and B" in it reads as a comparison, and the
                # answer must fit the shape the question asks for (tools.answer_types)
                if len(question_options(question)) >= 2 or not any(
                        matches_type(question, x) for x in (ans, *aliases)):
                    continue
                out.append(Fact(a.title, relation, ans, answer_type, (("extract", s),), aliases=aliases,
                                extra={"question": question, "subject": a.title}))
                break
    return out
