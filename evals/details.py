"""Facts stated inside an article's extract, past its description line.

`evals.facts` reads mostly the short description ("German playwright (1898–1956)"); the
questions people write ask about details inside the text: when an element was discovered
and by whom, how long a river is, what a city was formerly called, where a person was
born, how many states a country consists of. This module reads those, one extract
sentence at a time, by conservative patterns:

1. Subject: a sentence is used only when its grammatical subject is the article itself
   (`subject_of`): it starts with the title ("Lake Erie is ..."), "The <title>", a person's
   surname, "The <noun>" where the article's first sentence or description calls it that
   ("The river is ..."), or a pronoun that can only mean the article ("It" in a thing's
   article right after a sentence about it, "He"/"She" in a person's article).
2. Pattern: the rest of the sentence must match one relation's pattern exactly where the
   subject ends (`_event_facts`, `_measure_facts`, `_name_facts`, `_place_facts`,
   `_count_facts`); anything hedged, ranged or listed yields nothing.
3. Every fact keeps its evidence sentence character for character, its subject (the
   article title, in `extra["subject"]`) and an answer type from `answer_type_of`.

Precision over recall: a wrong gold answer teaches STaR the wrong thing. The task-level
checks live in `evals.quality`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from evals.corpus import Article, split_sentences
from evals.facts import DEMONYMS, NOT_PERSON, Fact, display_name, extract_facts

__all__ = [
    "ANSWER_TYPES",
    "DETAIL_RELATIONS",
    "HEDGES",
    "answer_type_of",
    "corpus_facts",
    "extract_details",
    "is_person",
    "name_type",
    "sort_of",
    "subjects",
]

# Answer types a task may carry (`task["answer_type"]`), for the scorer's type check.
ANSWER_TYPES: dict[str, str] = {
    "year": "a year: 1889, 478 BC",
    "date": "a calendar date: 3 May 1947, May 3, 1947",
    "number": "a count or a bare number: 21, 3,182",
    "measure": "a number with its unit: 330 metres, 2,824 km, 1,855,000 km2",
    "person": "a person's name",
    "place": "a place: city, country, region, continent",
    "organisation": "a company, university, society, team, ...",
    "name": "any other name or title (a former name, a prize, a ship, ...)",
    "nationality": "a nationality adjective or its country",
    "symbol": "a chemical symbol",
    "entity": "one of the two options a comparison names",
}

# the relations this module yields (`evals.synth` asks each; its templates read `extra["verb"]` etc.)
DETAIL_RELATIONS = (
    "event_year", "event_date", "event_agent", "measure", "former_name", "birth_name",
    "birthplace", "deathplace", "named_after", "count", "award_year", "deed_year", "status_year",
)

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
_MONTH = "(?:" + "|".join(MONTHS) + ")"
_YEAR = r"(?:1\d{3}|20[0-2]\d|[1-9]\d{2})"
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
# A proper name: capitalized words, with the small particles names carry inside them.
_NAME_WORD = r"(?:[A-ZÀ-ÖØ-ÞŌŚŠŽ][\w.'’-]*)"
_NAME = rf"{_NAME_WORD}(?: (?:{_NAME_WORD}|de|da|del|della|di|du|van|von|der|den|la|le|of|the|y|bin|ibn|al-\w+))*?(?: {_NAME_WORD})?"
_NAME_END = r"(?=$|[.,;:)]| (?:in|on|at|from|for|who|which|with|to|after|during|under|while|when|as|and|but|near|between|by)\b)"



def _cut_name(name: str) -> bool:
    """A name read only up to an abbreviation's dot ('by U.S. Navy aircraft' -> 'U.S')."""
    return bool(re.search(r"(?:^| )(?:[A-Z]\.)+[A-Z]$", name))


HEDGES = re.compile(  # words that make a sentence a guess, not a statement
    r"\b(?:possibly|probably|perhaps|believed|thought to|claimed|disputed|uncertain|may have|might|"
    r"said to|allegedly|traditionally|legend|reportedly|supposedly|likely|unclear|unknown)\b", re.I
)
_PERSON_DESC = re.compile(
    r"\((?:c\. ?|born |died |r\. )?\d{1,4}(?: ?(?:BC|BCE|AD|CE))?(?:\s*–\s*(?:c\. ?)?\d{1,4}(?: ?(?:BC|BCE|AD|CE))?)?\)$"
    r"|^(?:\d+(?:st|nd|rd|th) )?(?:[A-Z][a-z]+ )?(?:King|Queen|Emperor|Empress|President|Prime Minister|Tsar|Tsarina|"
    r"Shah|Sultan|Pope|Chancellor|Caliph|Pharaoh|Duke|Grand Duke|Prince|Princess|Khan|Leader|Head|Secretary-General|"
    r"[A-Z][a-z]+ (?:emperor|king|queen|caliph|pharaoh|ruler|general|statesman))\b.* (?:from|in) (?:c\. )?\d"
)
_ORG_WORDS = re.compile(
    r"\b(?:Company|Corporation|Inc|Ltd|University|College|Institute|Society|Academy|Association|"
    r"Laboratories|Laboratory|Agency|Council|Foundation|Bank|Party|Church|Records|Studios|Group|Museum|"
    r"Observatory|Organization|Organisation|Committee|League|Union|Club|Navy|Army|Government|Ministry)\b"
)
_PLACE_DESC = re.compile(
    r"^(?:(?:[A-Z][a-z]+ )?(?:city|town|village|capital|country|state|province|region|island|commune|"
    r"municipality|county|port|metropolis|megacity)|Capital|City|Town|Country|Island|Village|Commune|"
    r"Municipality|Metropolis|Megacity|Largest city|Sovereign state|State of|Province of|Region of)\b"
)
_GENERIC_NOUNS = frozenset((
    "city", "town", "river", "lake", "mountain", "tower", "building", "bridge", "island", "church",
    "cathedral", "temple", "palace", "castle", "dam", "canal", "statue", "painting", "novel", "film",
    "book", "poem", "company", "university", "element", "country", "state", "region", "sea", "strait",
    "volcano", "park", "museum", "mosque", "monastery", "fortress", "festival", "treaty", "war", "battle",
    "empire", "kingdom", "dynasty", "language", "game", "opera", "symphony", "album", "song", "play",
    "ship", "stadium", "peninsula", "desert", "forest", "glacier", "canyon", "waterfall", "falls", "bay",
    "gulf", "archipelago", "province", "capital", "port", "organization", "organisation", "band", "group",
    "team", "club", "party", "newspaper", "magazine", "series", "trilogy", "telescope", "satellite",
    "spacecraft", "galaxy", "star", "planet", "moon", "comet", "mineral", "compound", "species", "genus",
    "family", "order", "disease", "system", "network", "wall", "monument", "square", "street", "airport",
    "station", "railway", "road", "highway", "pyramid", "site", "chapel", "basilica", "abbey", "school",
    "institute", "library", "observatory", "reactor", "engine", "aircraft", "car", "rocket",
))


@dataclass(frozen=True, slots=True)
class _Subject:
    """How a sentence names the article: the words it starts with (kept in the evidence)."""

    head: str
    rest: str  # the sentence after the subject words, starting with a space
    year: str | None = None  # a fronted "In 1903, ..." before the subject


def is_person(a: Article) -> bool:
    """A person's article: a lifespan description that names no war, dynasty, ... and he/she in the text."""
    return bool(_PERSON_DESC.search(a.description) and not NOT_PERSON.search(a.description)
                and re.search(r"\b(?:He|She|he|she)\b", a.extract))


def _surname(a: Article) -> str | None:
    tokens = display_name(a.title).split()
    nationality = a.description.split(" ")[0]
    if len(tokens) >= 2 and nationality in DEMONYMS and tokens[-1][:1].isupper() and len(tokens[-1]) > 3 and (
        tokens[-1] not in {"II", "III", "IV", "Jr."}
    ):
        return tokens[-1]
    return None


def _own_nouns(a: Article, first: str) -> set[str]:
    """The generic nouns the article calls itself in its description or first sentence's start."""
    words = set(re.findall(r"[a-z]+", " ".join([a.description.lower(), *first.lower().split()[:14]])))
    return words & _GENERIC_NOUNS


def _subject_heads(a: Article, first: str) -> tuple[list[str], bool]:
    """(the words that name `a` at a sentence start, longest first; whether `a` is a person)."""
    name = display_name(a.title)
    person = is_person(a)
    heads = [name, f"The {name}"]
    if person:
        heads += [x for x in (_surname(a), "He", "She") if x]
    else:
        heads += [f"The {n}" for n in sorted(_own_nouns(a, first))]
    return sorted(heads, key=len, reverse=True), person


_IN_YEAR = re.compile(rf"^In (?P<year>{_YEAR}),? ")


def subjects(a: Article, sentences: list[str]) -> list[_Subject | None]:
    """For each sentence of `a`, how it names `a` as its grammatical subject, or None (see the
    module doc). "It" counts in a thing's article after its first sentence: in these summaries
    a sentence-initial "It" is the article's subject (the ~50 facts this admits beyond a strict
    chain of subject sentences were read one by one: all but the listed-agent cases, now
    refused, were right)."""
    heads, person = _subject_heads(a, sentences[0] if sentences else "")
    out: list[_Subject | None] = []
    for i, s in enumerate(sentences):
        options = heads if person or i == 0 else [*heads, "It"]
        body = s
        if fronted := _IN_YEAR.match(s):  # "In 1903, she ..." / "In 1903 the city ..."
            body = s[fronted.end():]
            body = body[:1].upper() + body[1:]
        found = next((h for h in options if body.startswith(h + " ") and not re.match(
            r" (?:and|or|of)\b| [A-Z0-9]", body[len(h):])), None)  # not "The Cook Islands Exclusive Economic Zone"
        out.append(_Subject(found, body[len(found):], fronted["year"] if fronted else None) if found else None)
    return out


def sort_of(a: Article) -> str:
    """What kind of thing `a` is, coarsely, for comparisons of like with like: the first
    generic noun of its description ("Major river in Central Europe" -> "river"), else ''."""
    words = re.findall(r"[a-z]+", a.description.lower())
    return next((w for w in words if w in _GENERIC_NOUNS), "")


def answer_type_of(answer: str) -> str:
    """A coarse type for an answer string (year, date, measure, number, or 'name')."""
    text = answer.strip()
    if re.fullmatch(rf"{_YEAR}(?: (?:BC|BCE|AD|CE))?|(?:AD|c\.) {_YEAR}", text):
        return "year"
    if re.fullmatch(rf"\d{{1,2}} {_MONTH} {_YEAR}|{_MONTH} \d{{1,2}}, {_YEAR}|{_MONTH} {_YEAR}", text):
        return "date"
    if re.fullmatch(rf"(?:{_NUM}) ?(?:[a-zA-Z°%][\w°/²]*)(?: [a-z]+)?", text) and not re.fullmatch(rf"{_NUM}", text):
        return "measure"
    if re.fullmatch(rf"{_NUM}", text) or text.lower() in _NUMBER_WORDS:
        return "number"
    return "name"


def name_type(name: str, by_title: dict[str, Article]) -> str:
    """person / place / organisation / name, for a proper name found in text."""
    article = by_title.get(name)
    if _ORG_WORDS.search(name):
        return "organisation"
    if article is not None:
        if is_person(article):
            return "person"
        if _PLACE_DESC.search(article.description):
            return "place"
        return "name"
    tokens = name.split()
    if 2 <= len(tokens) <= 4 and all(t[:1].isupper() or t in {"de", "van", "von", "da", "di"} for t in tokens):
        return "person"
    return "name"


def _fact(a: Article, relation: str, value: str, answer_type: str, sentence: str, *, aliases=(),
          number: float | None = None, **extra) -> Fact:
    return Fact(a.title, relation, value, answer_type, (("extract", sentence),), aliases=tuple(aliases),
                number=number, extra={"subject": a.title, **extra})


# 1. events: "It was discovered in 1803 by Smithson Tennant", "Founded in 1479, the ..."
_EVENT_VERBS = (
    "discovered", "founded", "built", "completed", "constructed", "established", "invented", "designed",
    "opened", "published", "composed", "painted", "premiered", "launched", "signed", "inaugurated",
    "consecrated", "erected", "isolated", "introduced", "formulated", "coined", "first performed",
    "first published", "first described", "first synthesized", "first isolated", "first climbed",
    "first identified", "written", "directed", "sculpted", "developed", "released", "incorporated",
    "dedicated", "unveiled", "first ascended", "first flown", "first broadcast",
)
_VERB = "(?P<verb>" + "|".join(sorted(map(re.escape, _EVENT_VERBS), key=len, reverse=True)) + ")"
_EVENT = re.compile(rf"^ (?:was|were) (?:officially |formally |originally )?{_VERB}\b(?P<tail>.*)$")
_FRONTED = re.compile(rf"^(?P<verb>Founded|Established|Built|Completed|Constructed|Opened|Published) in (?P<year>{_YEAR}), ")
_WHEN = re.compile(rf"^ (?:in (?:(?P<month>{_MONTH}) )?(?P<year>{_YEAR})(?! ?(?:BC|BCE|–|-|to|and|or))\b|on (?P<date>\d{{1,2}} {_MONTH} {_YEAR}|{_MONTH} \d{{1,2}}, {_YEAR})\b)")
_BY = re.compile(rf"^ by (?:the |a |an )?(?:(?:(?!and |or )[a-z][\w-]*|{'|'.join(DEMONYMS)}|[A-Z][a-z]+-[A-Z][a-z]+) ){{0,3}}?(?P<who>{_NAME}){_NAME_END}")


def _date_aliases(date: str) -> list[str]:
    if m := re.fullmatch(rf"(\d{{1,2}}) ({_MONTH}) ({_YEAR})", date):
        return [date, f"{m[2]} {m[1]}, {m[3]}"]
    if m := re.fullmatch(rf"({_MONTH}) (\d{{1,2}}), ({_YEAR})", date):
        return [date, f"{m[2]} {m[1]} {m[3]}"]
    return [date]


def _event_facts(a: Article, s: str, subj: _Subject, by_title: dict[str, Article]) -> Iterator[Fact]:
    m = _EVENT.match(subj.rest)
    if not m:
        return
    verb, tail = m["verb"], m["tail"]
    if subj.year:  # "In 1803, it was discovered by ...": the year comes first
        tail = f" in {subj.year}{tail}"
    when = who = None
    for _ in range(2):  # "in 1803 by X" or "by X in 1803"
        if (w := _WHEN.match(tail)) and when is None:
            when, tail = w, tail[w.end():]
        elif (b := _BY.match(tail)) and who is None:
            who, tail = b, tail[b.end():]
    if when is not None:
        if when["year"]:
            month = [f"{when['month']} {when['year']}"] if when["month"] else []
            yield _fact(a, "event_year", when["year"], "year", s, aliases=month, number=int(when["year"]), verb=verb)
        else:
            year = int(re.search(r"\d{3,4}$", when["date"])[0])
            yield _fact(a, "event_date", when["date"], "date", s, aliases=_date_aliases(when["date"])[1:],
                        number=year, verb=verb)
    if who is not None and not re.match(r" and |,? along with| with | for [A-Z]| of [A-Z]|, [A-Z][\w]+ and ", tail):
        name = who["who"].rstrip(".")
        if _cut_name(name):
            return
        if name.split()[0] not in {"The", "A", "An", "His", "Her", "Its", "Their", *MONTHS} and name != display_name(a.title):
            kind = name_type(name, by_title)
            aliases = [name]
            person = by_title.get(name)
            if kind == "person" and person is not None and (surname := _surname(person)):
                aliases.append(surname)
            yield _fact(a, "event_agent", name, kind, s, aliases=aliases[1:], verb=verb)


_PRIZE = rf"(?P<prize>{_NAME}(?: (?:in|for) {_NAME}(?: or {_NAME})?)?)"
_AWARD = re.compile(rf"^ (?:was awarded|won|received|shared) the {_PRIZE} in (?P<year>{_YEAR})(?=[ ,.;]|$)(?! (?:and|–))")


_AWARD_FRONTED = re.compile(rf"^ (?:was awarded|won|received|earned) the {_PRIZE}(?=[,.;]|$)")
_AWARD_DATED = re.compile(rf"^ (?:was awarded|won|received|earned|shared) the (?P<year>{_YEAR}) {_PRIZE}(?=[ ,.;]|$)(?! or )")


def _award_facts(a: Article, s: str, subj: _Subject) -> Iterator[Fact]:
    """'Curie was awarded the Nobel Prize in Physics in 1903' (or 'In 1903, she received the
    Nobel Prize in Physics', 'He earned the 1934 Nobel Prize in Chemistry'): one prize's year."""
    m = _AWARD.match(subj.rest) or _AWARD_DATED.match(subj.rest)
    if m is None and subj.year and (f := _AWARD_FRONTED.match(subj.rest)):
        m = {"prize": f["prize"], "year": subj.year}
    if m and re.search(r"\b(?:Prize|Award|Medal|Order|Cross|Cup|Trophy)\b", m["prize"]) and not re.match(
            r" or ", subj.rest[subj.rest.index(m["prize"]) + len(m["prize"]):]):
        yield _fact(a, "award_year", m["year"], "year", s, number=int(m["year"]), prize=m["prize"])


def _fronted_event(a: Article, s: str) -> Iterator[Fact]:
    """'Founded in 1479, the University of Copenhagen is ...': the subject comes after the date."""
    m = _FRONTED.match(s)
    if not m:
        return
    rest = s[m.end():]
    name = display_name(a.title)
    if rest.startswith((name + " ", f"the {name} ", f"The {name} ")):
        yield _fact(a, "event_year", m["year"], "year", s, number=int(m["year"]), verb=m["verb"].lower())


# 1b. a person's dated deeds: "He coined the term black body in 1860", "In 1958, he married ..."
_DEEDS = {  # past tense -> base form, for "In what year did X <base> <object>?"
    "coined": "coin", "discovered": "discover", "invented": "invent", "founded": "found", "established": "establish",
    "built": "build", "designed": "design", "wrote": "write", "composed": "compose", "painted": "paint",
    "published": "publish", "formulated": "formulate", "proposed": "propose", "introduced": "introduce",
    "developed": "develop", "married": "marry", "joined": "join", "became": "become", "moved": "move",
    "emigrated": "emigrate", "returned": "return", "settled": "settle", "entered": "enter",
    "completed": "complete", "patented": "patent", "isolated": "isolate", "synthesized": "synthesize",
    "described": "describe", "premiered": "premiere", "directed": "direct", "recorded": "record",
    "released": "release", "launched": "launch", "created": "create", "earned": "earn", "graduated": "graduate",
}
_DEED_VERB = "(?P<verb>" + "|".join(sorted(_DEEDS, key=len, reverse=True)) + ")"
_DEED_OBJ = r"(?P<obj>(?:(?:to|from|in|at) )?(?:the |a |an |his |her )?[^,;:()\d\"“”]{2,70}?)"
_DEED = re.compile(rf"^ (?:also |first |later |then )?{_DEED_VERB} {_DEED_OBJ}(?: in (?P<year>{_YEAR}))?(?=$|[.,;])")


def _deed_facts(a: Article, s: str, subj: _Subject, person: bool) -> Iterator[Fact]:
    if not person or not (m := _DEED.match(subj.rest)):
        return
    year = m["year"] or subj.year
    if not year or (m["year"] and subj.year):
        return
    obj = m["obj"].strip()
    if re.search(r"\b(?:and|or|which|who|where|when|while|with|after|before|until|as|during|by)\b", obj) or \
            len(obj.split()) > 9 or _PRONOUN_RE.search(obj):
        return  # a clause or a list, not one object
    yield _fact(a, "deed_year", year, "year", s, number=int(year), verb=m["verb"], base=_DEEDS[m["verb"]], obj=obj)


_STATUS = re.compile(
    rf"^ was (?:also |later |formally )?(?P<verb>elected|inducted|knighted|appointed|crowned|ordained|canonized|canonised|"
    rf"beatified|ennobled|made) {_DEED_OBJ}(?: in (?P<year>{_YEAR}))?(?=$|[.,;])"
)


def _status_facts(a: Article, s: str, subj: _Subject, person: bool) -> Iterator[Fact]:
    """'She was inducted into the National Women's Hall of Fame in 1996', 'He was made a cardinal in 1641'."""
    if not person or not (m := _STATUS.match(subj.rest)):
        return
    year = m["year"] or subj.year
    obj = m["obj"].strip()
    if not year or (m["year"] and subj.year) or not obj or re.search(
            r"\b(?:and|or|which|who|where|when|while|with|after|before|until|as|during|by)\b", obj) or \
            len(obj.split()) > 9 or _PRONOUN_RE.search(obj):
        return
    yield _fact(a, "status_year", year, "year", s, number=int(year), verb=m["verb"], obj=obj)


_PRONOUN_RE = re.compile(r"\b(?:it|they|them|this|that|these|those|him|her|he|she)\b")


# 2. measures: "The river is 3,190 kilometres (1,980 mi) long", "... has an area of 517 km2"
_UNITS = {
    "m": 1.0, "metres": 1.0, "meters": 1.0, "metre": 1.0, "meter": 1.0, "km": 1000.0, "kilometres": 1000.0,
    "kilometers": 1000.0, "ft": 0.3048, "feet": 0.3048, "mi": 1609.344, "miles": 1609.344,
    "km2": 1e6, "km²": 1e6, "square kilometres": 1e6, "square kilometers": 1e6, "sq mi": 2.59e6,
    "square miles": 2.59e6, "mi2": 2.59e6, "hectares": 1e4, "ha": 1e4, "acres": 4046.86,
}
_AREA_UNITS = {"km2", "km²", "square kilometres", "square kilometers", "sq mi", "square miles", "mi2", "hectares", "ha",
               "acres"}
_UNIT = "(?P<unit>" + "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True)) + ")"
_APPROX = r"(?P<approx>about|approximately|roughly|around|some|nearly|almost) "
_MEASURE = re.compile(
    rf"^ (?P<verb>is|was|stands|rises|measures|reaches|extends|stretches|runs) (?:{_APPROX})?(?P<num>{_NUM}) ?{_UNIT}"
    rf"(?: \([^()]*\))? (?P<dim>tall|high|long|wide|deep|in length|in height|in diameter|above sea level)\b"
)
_FLOWS_FOR = re.compile(
    rf"^ (?P<verb>flows|runs|stretches|extends) for (?:{_APPROX})?(?P<num>{_NUM}) ?{_UNIT}(?=[ ,.;)]|$)"
)
_HAS_MEASURE = re.compile(
    rf"^ (?P<verb>has|had|covers|covered) (?:a |an )?(?:total )?(?:(?P<dim>length|height|area|elevation|depth|surface area) of )?"
    rf"(?:{_APPROX})?(?P<num>{_NUM}) ?{_UNIT}(?=[ ,.;)]|$)"
)
_FRONTED_MEASURE = re.compile(
    rf"^At (?:{_APPROX})?(?P<num>{_NUM}) ?{_UNIT}(?: \([^()]*\))? (?P<dim>tall|high|long|wide|deep|in length|in height), (?P<who>it|the [a-z]+|[A-Z][\w ]+?) (?P<verb>is|was)\b"
)
_ITS_MEASURE = re.compile(
    rf"^Its (?:total )?(?P<dim>height|length|area|elevation|depth|diameter|surface area) (?P<verb>is|was) (?:{_APPROX})?(?P<num>{_NUM}) ?{_UNIT}(?=[ ,.;)]|$)"
)
# anywhere in a sentence about the article: "..., with a summit elevation of 20,310 feet (6,190 m)"
_WITH_MEASURE = re.compile(
    rf"\bwith (?:a|an) (?:total |summit )?(?P<dim>elevation|height|altitude|length) of (?:{_APPROX})?(?P<num>{_NUM}) ?{_UNIT}(?=[ ,.;)]|$)"
)
_ABOVE_SEA = re.compile(
    rf"\b(?P<verb>rising|rises|standing|stands|reaches|reaching|situated at|lies at|at) (?:to )?(?:{_APPROX})?(?P<num>{_NUM}) ?{_UNIT}"
    rf"(?: \([^()]*\))? above sea level\b"
)
_DIMS = {"tall": "height", "high": "height", "in height": "height", "long": "length", "in length": "length",
         "altitude": "elevation",
         "wide": "width", "deep": "depth", "in diameter": "diameter", "above sea level": "elevation",
         "surface area": "area"}


def _measure_facts(a: Article, s: str, subj: _Subject | None, own: set[str]) -> Iterator[Fact]:
    """`own`: the heads that name the article ("it", "the river", its name), for fronted forms."""
    if subj is not None:
        m = _MEASURE.match(subj.rest) or _HAS_MEASURE.match(subj.rest) or _FLOWS_FOR.match(subj.rest)
        rest = subj.rest
    elif (m := _FRONTED_MEASURE.match(s)) and m["who"] in own:
        rest = s
    elif (m := _ITS_MEASURE.match(s)) and not is_person(a):
        rest = s
    else:
        m = None
    if m is None and (subj is not None or s.startswith(display_name(a.title) + ",")) and not is_person(a):
        found = [x for x in (*_WITH_MEASURE.finditer(s), *_ABOVE_SEA.finditer(s))]
        if len(found) == 1:  # one stated height or elevation in the sentence, no other to confuse it with
            m, rest = found[0], s
    if m is None:
        return
    if not m:
        return
    unit = m["unit"]
    implied = "area" if unit in _AREA_UNITS else ("length" if m.re is _FLOWS_FOR else None)
    said = m.groupdict().get("dim") or ("elevation" if m.re is _ABOVE_SEA else None)
    dim = _DIMS.get(said or "", said or implied)
    if dim is None or (dim == "area") != (unit in _AREA_UNITS):
        return  # "has 500 m" / "is 30 km2 long": no clear dimension
    after = rest[m.end():]
    if re.match(r"\s*(?:–|-|to|or)\s*\d", after):
        return  # a range
    num = float(m["num"].replace(",", ""))
    value = f"{m['num']} {unit}"
    aliases = [f"{m['num']}{unit}" if unit in {"m", "km", "ft", "mi", "km2"} else None, m["num"]]
    if "," in m["num"]:
        aliases.append(f"{m['num'].replace(',', '')} {unit}")
    if m["approx"]:
        aliases.append(f"{m['approx']} {value}")
    tense = "was" if m.groupdict().get("verb") in {"was", "had", "covered"} else "is"

    yield _fact(a, "measure", value, "measure", s, aliases=[x for x in aliases if x], number=num * _UNITS[unit],
                dim=dim, tense=tense, approx=bool(m["approx"]))


# 3. names: "It was formerly known as ...", "Originally known as the Cappella Magna, it ...", ", born Namgyal Wangdi"
_FORMER = re.compile(rf"^ (?:was|is) (?P<how>formerly|originally|previously) (?:known as|called|named) (?P<name>{_NAME}){_NAME_END}")
_FORMER_FRONT = re.compile(rf"^(?P<how>Formerly|Originally|Previously) (?:known as|called|named) (?:the )?(?P<name>{_NAME}), (?P<who>it|the [\w ]+?|[A-Z][\w ]+?) (?:is|was|takes|has)\b")
_FORMER_APPOSITIVE = re.compile(rf"^, (?P<how>formerly|originally|previously) (?:known as|called|named) (?P<name>{_NAME})(?=(?: \([^()]*\))?, (?:is|was|are|were) )")
_BORN_AS = re.compile(rf"^,? born (?P<name>{_NAME})(?=,|;|\))")
_NAMED_AFTER = re.compile(rf"^ (?:is|was|are|were) named (?:after|for) (?:the )?(?:(?:(?!and |or )[a-z][\w-]*|{'|'.join(DEMONYMS)}) ){{0,3}}?(?P<name>{_NAME}){_NAME_END}")


def _name_facts(a: Article, s: str, subj: _Subject | None, by_title: dict[str, Article]) -> Iterator[Fact]:
    name = display_name(a.title)
    if (subj is not None and (m := _FORMER.match(subj.rest))) or (
        s.startswith(name) and (m := _FORMER_APPOSITIVE.match(s[len(name):]))
    ):
        yield _fact(a, "former_name", m["name"].rstrip("."), "name", s, how=m["how"])
    elif (m := _FORMER_FRONT.match(s)) and m["who"] in {"it", name, f"the {name}"}:
        yield _fact(a, "former_name", m["name"].rstrip("."), "name", s, how=m["how"].lower())
    if subj is not None and (m := _NAMED_AFTER.match(subj.rest)) and m["name"] != name and not _cut_name(
            m["name"].rstrip(".")):
        after = subj.rest[m.end():]
        if not re.match(r" and [A-Z]", after):
            yield _fact(a, "named_after", m["name"].rstrip("."), name_type(m["name"].rstrip("."), by_title), s)
    if is_person(a) and s.startswith(name) and (m := _BORN_AS.match(s[len(name):])) and m["name"] != name:
        yield _fact(a, "birth_name", m["name"].rstrip("."), "name", s)


# 4. places of birth and death: "He was born in Pisa, then part of ..."
_BORN_IN = re.compile(rf"^ (?P<what>was born|died|was assassinated)(?: on [^,.]*?| in {_YEAR})? in (?P<place>{_NAME})(?=$|[.,;]| (?:to|in|on|and|where|near|at)\b)")


def _place_facts(a: Article, s: str, subj: _Subject, by_title: dict[str, Article]) -> Iterator[Fact]:
    if not is_person(a) or not (m := _BORN_IN.match(subj.rest)):
        return
    place = m["place"].rstrip(".")
    if place.split()[0] in MONTHS or place in DEMONYMS or place.startswith(("The ", "His ", "Her ")):
        return
    place_article = by_title.get(place)
    if place_article is not None and is_person(place_article):
        return
    relation = "birthplace" if m["what"] == "was born" else "deathplace"
    yield _fact(a, relation, place, "place", s)


# 5. counts: "The country consists of 15 islands", "It is divided into 33 province-level divisions"
_COUNT_NOUNS = (
    "states", "provinces", "regions", "counties", "districts", "islands", "members", "species", "genera",
    "lines", "chapters", "books", "movements", "acts", "stories", "floors", "moons", "satellites",
    "municipalities", "cantons", "departments", "boroughs", "parishes", "emirates", "republics",
    "prefectures", "oblasts", "volumes", "verses", "cantos", "episodes", "seasons", "songs", "tracks",
    "children", "sons", "daughters", "wives", "novels", "plays", "symphonies", "operas", "poems",
    "films", "albums", "tribes", "clans", "subspecies", "families", "orders", "bones", "teeth", "legs",
    "atoms", "electrons", "protons", "stations", "gates", "towers", "spires", "bells", "rooms",
    "letters", "syllables", "notes", "strings", "keys", "cantatas", "sonatas", "concertos", "nocturnes",
    "entities", "divisions", "territories", "communes", "wards", "suburbs", "constituencies", "seats",
    "judges", "justices", "delegates", "senators", "employees", "parts", "sections", "articles",
    "amendments", "clauses", "books", "tablets", "pages", "stanzas",
)
_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "eleven": 11, "twelve": 12}
_NOUN = "(?P<noun>(?:(?!or |and |to |of )[a-z][a-z-]* ){0,2}?(?:" + "|".join(sorted(set(_COUNT_NOUNS), key=len, reverse=True)) + "))"
_COUNT = re.compile(
    rf"^ (?P<verb>consists of|comprises|comprised|is composed of|is made up of|contains|is divided into|"
    rf"was divided into|has|had) (?:a total of )?(?:{_APPROX})?(?P<n>{_NUM}|{'|'.join(_NUMBER_WORDS)}) {_NOUN}\b"
)


def _count_facts(a: Article, s: str, subj: _Subject) -> Iterator[Fact]:
    m = _COUNT.match(subj.rest)
    if not m:
        return
    after = subj.rest[m.end():]
    if re.match(r"\s*(?:–|-|to|or)\s*\d", after):
        return
    n = m["n"]
    if n.isdigit() and 1000 <= int(n) <= 2100:
        return  # a year, not a count
    last = m["noun"].split()[-1]
    others = {x for x in re.findall(rf"(\S+) (?:[a-z-]+ ){{0,2}}{last}\b", a.extract) if x != n}
    if any(re.fullmatch(rf"{_NUM}|{'|'.join(_NUMBER_WORDS)}", x) for x in others):
        return  # another count of the same thing in the article ("270 bones at birth ... 206 bones")
    number = float(_NUMBER_WORDS.get(n) or n.replace(",", ""))
    aliases = [n.replace(",", "")] if "," in n else []
    if n in _NUMBER_WORDS:
        aliases = [str(_NUMBER_WORDS[n])]
    if m["approx"]:
        aliases.append(f"{m['approx']} {n}")
    tense = "did" if m["verb"] in {"had", "comprised", "was divided into"} else "does"
    yield _fact(a, "count", n, "number", s, aliases=aliases, number=number, noun=m["noun"], tense=tense,
                approx=bool(m["approx"]))


def _sentence_facts(a: Article, by_title: dict[str, Article]) -> Iterator[Fact]:
    sentences = split_sentences(a.extract)
    heads, person = _subject_heads(a, sentences[0] if sentences else "")
    own = {h[:1].lower() + h[1:] if h.startswith("The ") else h for h in heads} | ({"it"} if not person else set())
    for s, subj in zip(sentences, subjects(a, sentences), strict=True):
        if HEDGES.search(s):
            continue
        yield from _fronted_event(a, s)
        yield from _name_facts(a, s, subj, by_title)
        yield from _measure_facts(a, s, subj, own)
        if subj is None:
            continue
        yield from _event_facts(a, s, subj, by_title)
        yield from _place_facts(a, s, subj, by_title)
        yield from _count_facts(a, s, subj)
        yield from _award_facts(a, s, subj)
        yield from _deed_facts(a, s, subj, person)
        yield from _status_facts(a, s, subj, person)


def _unique(facts: list[Fact]) -> list[Fact]:
    """Drop every fact whose (relation, verb/dim/noun) occurs twice in one article with
    different values: the text states two answers to one question."""
    def key(f: Fact) -> tuple:
        return (f.title, f.relation, f.extra.get("verb"), f.extra.get("dim"), f.extra.get("noun"), f.extra.get("obj"))

    values: dict[tuple, set[str]] = {}
    for f in facts:
        values.setdefault(key(f), set()).add(f.value)
    seen: set[tuple] = set()
    kept = []
    for f in facts:
        if len(values[key(f)]) == 1 and key(f) not in seen:
            seen.add(key(f))
            kept.append(f)
    return kept


def extract_details(articles: Iterable[Article]) -> list[Fact]:
    """Every in-text detail fact, in title order."""
    articles = list(articles)
    by_title = {a.title: a for a in articles}
    facts: list[Fact] = []
    for a in articles:
        facts.extend(_unique(list(_sentence_facts(a, by_title))))
    return facts


def corpus_facts(articles: Iterable[Article]) -> list[Fact]:
    """The description-line facts of `evals.facts` and the in-text details of this module."""
    articles = list(articles)
    return extract_facts(articles) + extract_details(articles)
