"""Facts read off single corpus articles, by conservative patterns.

A `Fact` says: article `title` has `relation` = `value`, and `evidence` is the article text
(its description line or one extract sentence) that states it. Precision beats recall: a
pattern that could be read two ways yields nothing. Most facts come from the Wikipedia
short description (e.g. "German playwright and poet (1898–1956)", "1949 novel by George
Orwell", "Capital and largest city of Kenya"), which the local wiki site shows on the page.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from evals.corpus import Article, split_sentences

__all__ = ["COUNTRY_ALIASES", "DEMONYMS", "NOT_PERSON", "Fact", "display_name", "extract_facts", "person_aliases"]


@dataclass(frozen=True, slots=True)
class Fact:
    title: str
    relation: str
    value: str
    answer_type: str
    evidence: tuple[tuple[str, str], ...]  # ((field, text), ...) from the article `title`
    aliases: tuple[str, ...] = ()
    number: float | None = None  # numeric value, for comparisons
    extra: dict = field(default_factory=dict, hash=False, compare=False)


# Demonym -> country; only single-nationality, unambiguous adjectives.
DEMONYMS: dict[str, str] = {
    "American": "United States", "British": "United Kingdom", "English": "England",
    "Scottish": "Scotland", "Welsh": "Wales", "Irish": "Ireland", "French": "France",
    "German": "Germany", "Italian": "Italy", "Spanish": "Spain", "Portuguese": "Portugal",
    "Dutch": "Netherlands", "Belgian": "Belgium", "Swiss": "Switzerland", "Austrian": "Austria",
    "Swedish": "Sweden", "Norwegian": "Norway", "Danish": "Denmark", "Finnish": "Finland",
    "Polish": "Poland", "Russian": "Russia", "Czech": "Czech Republic", "Hungarian": "Hungary",
    "Greek": "Greece", "Turkish": "Turkey", "Chinese": "China", "Japanese": "Japan",
    "Korean": "Korea", "Indian": "India", "Iranian": "Iran", "Egyptian": "Egypt",
    "Mexican": "Mexico", "Brazilian": "Brazil", "Argentine": "Argentina", "Canadian": "Canada",
    "Australian": "Australia", "Soviet": "Soviet Union", "Romanian": "Romania",
    "Ukrainian": "Ukraine", "Serbian": "Serbia", "Croatian": "Croatia", "Israeli": "Israel",
    "Pakistani": "Pakistan", "Nigerian": "Nigeria", "Chilean": "Chile", "Colombian": "Colombia",
    "Peruvian": "Peru", "Cuban": "Cuba", "Vietnamese": "Vietnam", "Thai": "Thailand",
    "Indonesian": "Indonesia", "Filipino": "Philippines", "Bulgarian": "Bulgaria",
    "Icelandic": "Iceland", "Jamaican": "Jamaica", "Venezuelan": "Venezuela", "Kenyan": "Kenya",
    "Ethiopian": "Ethiopia", "Saudi": "Saudi Arabia", "Uruguayan": "Uruguay",
    "Nicaraguan": "Nicaragua", "Ghanaian": "Ghana", "Senegalese": "Senegal",
    "Trinidadian": "Trinidad and Tobago", "Mongolian": "Mongolia", "Afghan": "Afghanistan",
    "Lebanese": "Lebanon", "Syrian": "Syria", "Iraqi": "Iraq", "Estonian": "Estonia",
    "Latvian": "Latvia", "Lithuanian": "Lithuania", "Slovak": "Slovakia", "Slovenian": "Slovenia",
}

COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "United States": ("U.S.", "US", "USA", "United States of America"),
    "U.S.": ("United States", "US", "USA", "United States of America"),
    "United Kingdom": ("UK", "U.K.", "Britain"),
    "England": ("United Kingdom", "UK"),
    "Scotland": ("United Kingdom", "UK"),
    "Wales": ("United Kingdom", "UK"),
    "Soviet Union": ("USSR",),
    "Czech Republic": ("Czechia",),
    "Republic of Ireland": ("Ireland",),
}

CONTINENTS = ("South America", "North America", "Europe", "Africa", "Asia", "Oceania", "Antarctica")

_COUNTRY_DESC = re.compile(
    r"^(?:(?:Sovereign|Island|Landlocked|Transcontinental) )?(?:country|state|nation)\b"
    r"|^Country\b|^Island country\b|^Sovereign state\b", re.I
)
_CITY_DESC = re.compile(
    r"^(?:Capital|City|Metropolis|Largest city|Most populous city|Megacity|"
    r"(?:Second|Third)-(?:most populous|largest) city)\b"
)
_LIFESPAN = re.compile(r"^(?P<head>[^()]+?) \((?P<b>\d{3,4}) ?– ?(?P<d>\d{3,4})\)$")
NOT_PERSON = re.compile(
    r"\b(?:war|kingdom|dynasty|empire|period|era|state|republic|controversy|revolution|"
    r"movement|crisis|battle|caliphate|sultanate|league|union|company|band|group|family|"
    r"style|school|culture|civilization|church|order|council|treaty|conflict|rebellion|"
    r"expedition|pandemic|famine|reign|regime|government|confederation|alliance)\b", re.I
)
_PRONOUN = re.compile(r"\b(?:he|she|his|her|him)\b", re.I)
_WORK_TYPES: dict[str, str] = {
    # work type -> relation verb ("the film X was directed by ...")
    "film": "directed", "animated film": "directed", "novel": "written", "novella": "written",
    "book": "written", "poem": "written", "epic poem": "written", "play": "written",
    "short story": "written", "painting": "painted", "fresco": "painted", "sculpture": "sculpted",
    "opera": "composed", "ballet": "composed", "symphony": "composed", "musical": "composed",
    "oratorio": "composed", "album": "recorded", "studio album": "recorded", "single": "recorded",
    "song": "recorded",
}
_WORK = re.compile(
    r"^(?P<year>1\d{3}|20[0-2]\d) (?:[a-z][\w'’-]* ){0,3}?(?P<type>"
    + "|".join(sorted(map(re.escape, _WORK_TYPES), key=len, reverse=True))
    + r") (?:directed |written |composed )?by (?P<creator>[A-Z][\w.'’-]*(?: [\w.'’-]+){0,4})$"
)
_OFFICE = re.compile(
    r"^(?:\d+(?:st|nd|rd|th) )?(?P<office>President|Prime Minister|King|Emperor|"
    r"Chancellor|Tsar|Shah) of (?P<place>(?:the )?[A-Z][\w .'’-]+?) "
    r"from (?P<y1>\d{3,4}) to (?P<y2>\d{3,4})$"
)
_CAPITAL = re.compile(
    r"^Capital(?: city| and largest city| and most populous city| municipality)? of "
    r"(?P<place>(?:the )?[A-Z][^,()]+)$"
)
_LOCATED = re.compile(
    r"^(?P<kind>[A-Z][a-z][\w -]*?) in (?P<first>[A-Z][^,()]+?)(?:, (?P<mid>[A-Z][^,()]+?))?, "
    r"(?P<country>[A-Z][^,()]+)$"
)
_COUNTRY_IN = re.compile(r"^(?:[A-Z][a-z]+ )?[Cc]ountry (?:primarily |located )?in (?:the )?(?P<region>[A-Z][\w ]+)$")
_ELEMENT = re.compile(r"^Chemical element with atomic number (?P<z>\d{1,3}) \((?P<sym>[A-Z][a-z]?)\)$")
_FOUNDED = re.compile(r"\b(?:founded|established) in (?P<year>1\d{3}|20[0-2]\d)\b")
_POPULATION = re.compile(
    r"\bpopulation of (?:about |over |approximately |around |nearly |more than |almost |roughly |"
    r"some )?(?P<num>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?: (?P<unit>million|billion))?\b"
)


def display_name(title: str) -> str:
    """The title without a trailing disambiguator: 'Lawrence of Arabia (film)' -> 'Lawrence of Arabia'."""
    return re.sub(r"\s*\([^()]*\)$", "", title).strip()


# Nationalities whose names put the family name last; for others (Chinese, Arabic, ...)
# the last token is not a safe short answer.
SURNAME_LAST = {
    "American", "British", "English", "Scottish", "Welsh", "Irish", "French", "German", "Italian",
    "Spanish", "Portuguese", "Dutch", "Belgian", "Swiss", "Austrian", "Swedish", "Norwegian",
    "Danish", "Finnish", "Polish", "Russian", "Czech", "Greek", "Mexican", "Brazilian",
    "Argentine", "Canadian", "Australian", "Romanian", "Ukrainian", "Chilean", "Colombian",
}


def person_aliases(name: str, nationality: str | None = None) -> tuple[str, ...]:
    """Full name, plus the surname when the person's nationality puts it last and it is safe."""
    tokens = name.split()
    if nationality not in SURNAME_LAST or len(tokens) < 2 or " of " in name or "," in name:
        return (name,)
    last, before = tokens[-1], tokens[-2]
    if before[:1].islower() or not last.isalpha() or len(last) < 3 or last in {"II", "III", "Jr"}:
        return (name,)
    return (name, last)


def _desc_evidence(article: Article) -> tuple[tuple[str, str], ...]:
    return (("description", article.description),)


def is_country(article: Article | None) -> bool:
    return bool(article and _COUNTRY_DESC.search(article.description))


def _continent(region: str) -> str | None:
    found = [c for c in CONTINENTS if c in region]
    return found[0] if len(found) == 1 else None


def _person_facts(a: Article) -> Iterable[Fact]:
    m = _LIFESPAN.match(a.description)
    if not m or NOT_PERSON.search(m["head"]) or not _PRONOUN.search(a.extract) or "BC" in a.description:
        return
    born, died = int(m["b"]), int(m["d"])
    if not 15 <= died - born <= 110:
        return
    ev = _desc_evidence(a)
    yield Fact(a.title, "birth_year", m["b"], "year", ev, number=born)
    yield Fact(a.title, "death_year", m["d"], "year", ev, number=died)
    yield Fact(a.title, "lifespan", str(died - born), "number", ev, number=died - born)
    words = m["head"].split()
    if len(words) >= 2 and words[0] in DEMONYMS and words[1][:1].islower() and words[1] != "and":
        yield Fact(a.title, "nationality", words[0], "nationality", ev, aliases=(DEMONYMS[words[0]],))


def _work_facts(a: Article, by_title: dict[str, Article]) -> Iterable[Fact]:
    m = _WORK.match(a.description)
    if not m or re.search(r" and |&|,", m["creator"]):
        return
    ev = _desc_evidence(a)
    extra = {"work_type": m["type"], "verb": _WORK_TYPES[m["type"]]}
    creator = m["creator"].rstrip(".")
    yield Fact(a.title, "work_year", m["year"], "year", ev, number=int(m["year"]), extra=extra)
    creator_article = by_title.get(creator)
    nationality = creator_article.description.split(" ")[0] if creator_article else None
    yield Fact(a.title, "work_creator", creator, "person", ev, aliases=person_aliases(creator, nationality), extra=extra)


def _office_facts(a: Article, by_title: dict[str, Article]) -> Iterable[Fact]:
    m = _OFFICE.match(a.description)
    if not m or " and " in m["place"]:
        return
    place = re.sub(r"^the ", "", m["place"])
    if not is_country(by_title.get(place)):
        return
    ev = _desc_evidence(a)
    extra = {"office": m["office"], "the": m["place"].startswith("the ")}
    yield Fact(a.title, "office_country", place, "place", ev, aliases=COUNTRY_ALIASES.get(place, ()), extra=extra)
    yield Fact(a.title, "office_start", m["y1"], "year", ev, number=int(m["y1"]), extra=extra)


def _place_facts(a: Article, by_title: dict[str, Article]) -> Iterable[Fact]:
    ev = _desc_evidence(a)
    if m := _CAPITAL.match(a.description):
        place = re.sub(r"^the ", "", m["place"])
        if is_country(by_title.get(place)):
            yield Fact(a.title, "capital_of", place, "place", ev, aliases=COUNTRY_ALIASES.get(place, ()),
                       extra={"the": m["place"].startswith("the ")})
    if m := _COUNTRY_IN.match(a.description):
        continent = _continent(m["region"])
        if continent:
            yield Fact(a.title, "continent", continent, "place", ev)
    if (m := _LOCATED.match(a.description)) and not is_country(a):
        country = m["country"]
        if country in COUNTRY_ALIASES or is_country(by_title.get(country)):
            yield Fact(a.title, "located_country", country, "place", ev, aliases=COUNTRY_ALIASES.get(country, ()))
        city = by_title.get(m["first"])
        if city and _CITY_DESC.match(city.description) and not _CITY_DESC.match(a.description):
            yield Fact(a.title, "located_city", m["first"], "place", ev)


def _element_facts(a: Article) -> Iterable[Fact]:
    m = _ELEMENT.match(a.description)
    if m:
        ev = _desc_evidence(a)
        yield Fact(a.title, "atomic_number", m["z"], "number", ev, number=int(m["z"]))
        yield Fact(a.title, "element_symbol", m["sym"], "symbol", ev)


def _starts_with_title(sentence: str, title: str) -> bool:
    name = display_name(title)
    return sentence.startswith(name + " ") or sentence.startswith(f"The {name} ")


def _extract_facts(a: Article) -> Iterable[Fact]:
    sentences = split_sentences(a.extract)
    founded = [(s, m) for s in sentences for m in _FOUNDED.finditer(s)]
    if len(founded) == 1 and _starts_with_title(founded[0][0], a.title):
        s, m = founded[0]
        yield Fact(a.title, "founded_year", m["year"], "year", (("extract", s),), number=int(m["year"]))
    populations = [(s, m) for s in sentences for m in _POPULATION.finditer(s)]
    if len(populations) == 1 and a.extract.count("population") == 1:
        s, m = populations[0]
        if not re.search(r"metropolitan|urban|metro area|greater", s, re.I):
            num = float(m["num"].replace(",", "")) * {"million": 1e6, "billion": 1e9}.get(m["unit"] or "", 1)
            value = m.group(0)[len("population of ") :]
            yield Fact(a.title, "population", value, "number", (("extract", s),), number=num)


def extract_facts(articles: Iterable[Article]) -> list[Fact]:
    """Every fact found, in title order."""
    articles = list(articles)
    by_title = {a.title: a for a in articles}
    facts: list[Fact] = []
    for a in articles:
        for gen in (
            _person_facts(a), _work_facts(a, by_title), _office_facts(a, by_title),
            _place_facts(a, by_title), _element_facts(a), _extract_facts(a),
        ):
            facts.extend(gen)
    return facts


def relation_counts(facts: Iterable[Fact]) -> Counter:
    return Counter(f.relation for f in facts)
