"""Deterministic synthesis of research tasks from the offline wiki corpus.

Three kinds, all answerable from the corpus alone:

- `single`: one article states the answer (birth year, nationality, capital, ...);
- `bridge`: article A names article B through a specific relation (the novel's author,
  the country a landmark is in, ...); the answer is a fact of B that A does not state,
  and the question names A but never B;
- `comparison`: two articles with a comparable fact of the same kind; the answer is one
  of the two titles (born earlier, higher atomic number, larger population, ...).

Splits: articles joined by a bridge link (a work and its creator, a landmark and its
country, ...) form groups (connected components); a whole group takes one split, by a hash
of its first title, so every bridge has both articles in the same split. Groups are split
60/20/20 (bridges are few: dev and test need enough of them), lone articles 80/10/10 by a
hash of their title. Nothing depends on the seed, so different seeds never leak an article
across splits, and a task is made only when all its supporting articles share one split. Same corpus + same seed -> identical
bytes from `write_tasks`. Every task passes the rules in `evals.quality`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from evals.corpus import Article, article_url, split_sentences
from evals.details import DETAIL_RELATIONS, corpus_facts, sort_of
from evals.echo import echo_facts
from evals.facts import Fact, display_name, person_aliases
from evals.quality import passes

__all__ = ["TEMPLATES", "assign_splits", "beyond_lead_share", "report", "split_of", "synthesize", "write_tasks"]

SPLIT_BUCKETS = (("train", 80), ("dev", 90), ("test", 100))
GROUP_BUCKETS = (("train", 60), ("dev", 80), ("test", 100))

# Relations asked about directly (lifespan and population are only compared: "how old was
# X at death" is off by one without exact dates, and population figures come in many forms).
SINGLE_RELATIONS = (
    "birth_year", "death_year", "nationality", "work_year", "work_creator", "office_country",
    "office_start", "capital_of", "capital", "continent", "located_country", "located_city",
    "atomic_number", "element_symbol", "founded_year",
    *DETAIL_RELATIONS,  # details inside the extract (evals.details)
)

# {a}: the entity; {A}: the same, sentence-initial. Work placeholders: {type} {verb} {role};
# office placeholders: {office} {country}.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "birth_year": (
        "In what year was {a} born?",
        "{A} was born in which year?",
        "What is the birth year of {a}?",
        "Which year saw the birth of {a}?",
    ),
    "death_year": (
        "In what year did {a} die?",
        "{A} died in which year?",
        "What year did {a} pass away?",
        "In which year did the death of {a} occur?",
    ),
    "nationality": (
        "What nationality was {a}?",
        "Which country was {a} from?",
        "What was the nationality of {a}?",
        "{A} held which nationality?",
    ),
    "work_year": (
        "In what year did the {type} {a} appear?",
        "The {type} {a} dates from which year?",
        "Which year does the {type} {a} date from?",
    ),
    "work_creator": (
        "Who {verb} the {type} {a}?",
        "The {type} {a} was {verb} by whom?",
        "Who is the {role} of the {type} {a}?",
        "Name the {role} of the {type} {a}.",
    ),
    "office_country": (
        "Of which country was {a} {office}?",
        "{A} served as {office} of which country?",
        "Which country did {a} lead as {office}?",
    ),
    "office_start": (
        "In what year did {a} become {office} of {country}?",
        "{A} took office as {office} of {country} in which year?",
        "When did the tenure of {a} as {office} of {country} begin? Give the year.",
    ),
    "capital_of": (
        "{A} is the capital of which country?",
        "Which country has {a} as its capital?",
        "Of which country is {a} the capital city?",
    ),
    "capital": (
        "What is the capital of {a}?",
        "Which city is the capital of {a}?",
        "Name the capital city of {a}.",
    ),
    "continent": (
        "On which continent is {a}?",
        "{A} lies on which continent?",
        "Which continent is {a} located in?",
    ),
    "located_country": (
        "In which country is {a} located?",
        "{A} is found in which country?",
        "Which country is home to {a}?",
    ),
    "located_city": (
        "In which city is {a} located?",
        "{A} is in which city?",
        "Which city is home to {a}?",
    ),
    "atomic_number": (
        "What is the atomic number of {a}?",
        "{A} has which atomic number?",
        "How many protons does an atom of {a} have?",
    ),
    "element_symbol": (
        "What is the chemical symbol of {a}?",
        "Which symbol denotes the element {a}?",
        "{A} is represented by which chemical symbol?",
    ),
    "founded_year": (
        "In what year was {a} founded?",
        "{A} was founded or established in which year?",
        "When was {a} established? Give the year.",
    ),
    # details inside the extract. {verb}: past participle ("discovered"), {active}: past tense,
    # {is}/{does}: the tense the evidence uses, {noun}: what is counted, {how}: formerly/originally.
    "event_year": (
        "In what year was {a} {verb}?",
        "{A} was {verb} in which year?",
        "When was {a} {verb}? Give the year.",
        "What year was {a} {verb} in?",
    ),
    "event_date": (
        "On what date was {a} {verb}?",
        "{A} was {verb} on which date?",
        "When exactly was {a} {verb}? Give the full date.",
    ),
    "event_agent": (
        "Who {active} {a}?",
        "By whom was {a} {verb}?",
        "{A} was {verb} by whom?",
        "Name the one who {active} {a}.",
    ),
    "measure_length": (
        "How long {is} {a}?",
        "What {is} the length of {a}?",
        "{A} {is} how long?",
        "Give the length of {a}.",
    ),
    "measure_height": (
        "How tall {is} {a}?",
        "What {is} the height of {a}?",
        "{A} {is} how tall?",
    ),
    "measure_area": (
        "What {is} the area of {a}?",
        "How large an area {does} {a} cover?",
        "{A} {covers} an area of how much?",
        "How big {is} {a} in area?",
    ),
    "measure_width": (
        "How wide {is} {a}?",
        "What {is} the width of {a}?",
        "{A} {is} how wide?",
    ),
    "measure_depth": (
        "How deep {is} {a}?",
        "What {is} the depth of {a}?",
        "{A} {is} how deep?",
    ),
    "measure_elevation": (
        "How high above sea level {is} {a}?",
        "What {is} the elevation of {a}?",
        "{A} rises how high above sea level?",
    ),
    "measure_diameter": (
        "What {is} the diameter of {a}?",
        "How wide across {is} {a}?",
        "{A} {is} how large in diameter?",
    ),
    "count": (
        "How many {noun} {does} {a} have?",
        "What {is} the number of {noun} in {a}?",
        "{A} {has} how many {noun}?",
        "Give the number of {noun} that {a} {has}.",
    ),
    "former_name": (
        "By what name was {a} {how} known?",
        "What was {a} {how} called?",
        "{A} was {how} known by which name?",
    ),
    "birth_name": (
        "What was the birth name of {a}?",
        "Under what name was {a} born?",
        "{A} was born with which name?",
    ),
    "birthplace": (
        "Where was {a} born?",
        "In which place was {a} born?",
        "{A} was born where?",
        "What is the birthplace of {a}?",
    ),
    "deathplace": (
        "Where did {a} die?",
        "In which place did {a} die?",
        "{A} died where?",
    ),
    "named_after": (
        "Who or what is {a} named after?",
        "{A} is named after whom or what?",
        "After whom or what was {a} named?",
    ),
    "deed_year": (
        "In what year did {a} {base} {obj}?",
        "When did {a} {base} {obj}? Give the year.",
        "{A} {verb} {obj} in which year?",
    ),
    "status_year": (
        "In what year was {a} {verb} {obj}?",
        "When was {a} {verb} {obj}? Give the year.",
        "{A} was {verb} {obj} in which year?",
    ),
    "award_year": (
        "In what year did {a} receive the {prize}?",
        "When was {a} awarded the {prize}? Give the year.",
        "{A} won the {prize} in which year?",
    ),
    # bridge: <link relation of A> -> <fact relation of B>
    "work_creator>birth_year": (
        "In what year was the {role} of the {type} {a} born?",
        "The {type} {a} was {verb} by someone; in what year was that person born?",
        "When was the person who {verb} the {type} {a} born? Give the year.",
        "What is the birth year of the {role} of the {type} {a}?",
    ),
    "work_creator>death_year": (
        "In what year did the {role} of the {type} {a} die?",
        "The {type} {a} was {verb} by someone; in what year did that person die?",
        "What is the death year of the {role} of the {type} {a}?",
    ),
    "work_creator>nationality": (
        "What nationality was the {role} of the {type} {a}?",
        "The {type} {a} was {verb} by a person of which nationality?",
        "Which country was the {role} of the {type} {a} from?",
    ),
    "office_country>continent": (
        "{A} was {office} of a country on which continent?",
        "On which continent is the country that {a} led as {office}?",
        "The country where {a} served as {office} lies on which continent?",
    ),
    "capital_of>continent": (
        "{A} is the capital of a country on which continent?",
        "On which continent is the country whose capital is {a}?",
        "The country with {a} as its capital lies on which continent?",
    ),
    "located_country>continent": (
        "{A} is located in a country on which continent?",
        "On which continent is the country where {a} is located?",
        "The country that is home to {a} lies on which continent?",
    ),
    # comparison
    "born_earlier": (
        "Who was born first, {a} or {b}?",
        "Which of {a} and {b} was born earlier?",
        "Of {a} and {b}, who was born first?",
        "{A} or {b}: whose birth came first?",
    ),
    "born_later": (
        "Who was born later, {a} or {b}?",
        "Which of {a} and {b} was born more recently?",
        "Of {a} and {b}, who was born last?",
    ),
    "died_earlier": (
        "Who died first, {a} or {b}?",
        "Which of {a} and {b} died earlier?",
        "Of {a} and {b}, whose death came first?",
    ),
    "lived_longer": (
        "Who lived longer, {a} or {b}?",
        "Which of {a} and {b} had the longer life?",
        "Of {a} and {b}, who died at an older age?",
    ),
    "work_older": (
        "Which came out first, the {type_a} {a} or the {type_b} {b}?",
        "Which is older, the {type_a} {a} or the {type_b} {b}?",
        "Of the {type_a} {a} and the {type_b} {b}, which dates from earlier?",
    ),
    "office_earlier": (
        "Who took office first, {a} or {b}?",
        "Which of {a} and {b} began their tenure in office earlier?",
        "Whose time in office started first: {a} or {b}?",
    ),
    "higher_atomic_number": (
        "Which has the higher atomic number, {a} or {b}?",
        "Which element has more protons per atom, {a} or {b}?",
        "Of {a} and {b}, which comes later in the periodic table?",
    ),
    "larger_population": (
        "Which has the larger population, {a} or {b}?",
        "Which is more populous, {a} or {b}?",
        "Of {a} and {b}, which has more inhabitants?",
    ),
    "longer": (
        "Which is longer, {a} or {b}?",
        "Of {a} and {b}, which is longer?",
        "Which has the greater length, {a} or {b}?",
    ),
    "taller": (
        "Which is taller, {a} or {b}?",
        "Of {a} and {b}, which is taller?",
        "Which has the greater height, {a} or {b}?",
    ),
    "larger_area": (
        "Which covers a larger area, {a} or {b}?",
        "Of {a} and {b}, which is larger by area?",
        "Which has the greater area, {a} or {b}?",
    ),
    "higher_elevation": (
        "Which rises higher above sea level, {a} or {b}?",
        "Of {a} and {b}, which has the higher elevation?",
        "Which is higher above sea level, {a} or {b}?",
    ),
    "event_earlier": (
        "Which was {verb} first, {a} or {b}?",
        "Which of {a} and {b} was {verb} earlier?",
        "Of {a} and {b}, which was {verb} first?",
    ),
}

# bridge: how B is named through its link from A, for second hops asked with B's own single
# templates ("How many provinces does {a} have?" with {a} = "the country whose capital is X").
LINK_PHRASES = {
    "work_creator": "the {role} of the {type} {a}",
    "office_country": "the country {a} led as {office}",
    "capital_of": "the country whose capital is {a}",
    "located_country": "the country where {a} is located",
    "located_city": "the city where {a} is located",
    "event_agent": "the person who {active} {a}",
    "named_after": "the namesake of {a}",
    "birthplace": "the birthplace of {a}",
}
MAX_COMPOSED_PER_FACT = 2
# second hops asked through LINK_PHRASES (relations whose templates need only the fact's own fields)
COMPOSED_HOPS = ("birth_year", "death_year", "founded_year", "event_year", "event_date", "event_agent",
                 "measure", "count", "former_name", "birth_name", "birthplace", "award_year", "deed_year", "status_year")

ROLES = {"directed": "director", "written": "author", "painted": "painter", "sculpted": "sculptor",
         "composed": "composer", "recorded": "artist"}
# link relation of A -> the relations of B asked in a bridge
_OWN_HOPS = {"work_creator": ("birth_year", "death_year", "nationality"), "office_country": ("continent",),
             "capital_of": ("continent",), "located_country": ("continent",)}
BRIDGES = {link: tuple(dict.fromkeys((*_OWN_HOPS.get(link, ()), *COMPOSED_HOPS))) for link in LINK_PHRASES}
# comparison -> (fact relation, the winner has the "min" or "max" value, minimum difference)
COMPARISONS = {
    "born_earlier": ("birth_year", min, 1), "born_later": ("birth_year", max, 1),
    "died_earlier": ("death_year", min, 1), "lived_longer": ("lifespan", max, 3),
    "work_older": ("work_year", min, 1), "office_earlier": ("office_start", min, 1),
    "higher_atomic_number": ("atomic_number", max, 1), "larger_population": ("population", max, None),
}
PEOPLE_COMPARISONS = {"born_earlier", "born_later", "died_earlier", "lived_longer", "office_earlier"}


def split_of(title: str, buckets: Sequence[tuple[str, int]] = SPLIT_BUCKETS) -> str:
    """The split a hash of `title` falls in (the split of a lone article, or of a group by its key)."""
    bucket = int(hashlib.sha1(f"deepstar-split:{title}".encode()).hexdigest(), 16) % 100
    return next(name for name, upper in buckets if bucket < upper)


def _bridge_target(link: Fact, articles: dict[str, Article], by_name: dict[str, str]) -> str | None:
    """The article B that a link fact of A names, or None when it is no usable bridge."""
    if link.relation not in BRIDGES:
        return None
    b_title = link.value if link.value in articles else by_name.get(link.value)
    return None if b_title is None or b_title == link.title else b_title


def assign_splits(articles: dict[str, Article], facts: Sequence[Fact]) -> dict[str, str]:
    """title -> split. Articles joined by bridge links share one split (see the module docstring)."""
    by_name = {display_name(t): t for t in sorted(articles)}
    parent = {t: t for t in articles}

    def root(t: str) -> str:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    for link in facts:
        b_title = _bridge_target(link, articles, by_name)
        if b_title is not None and link.title in parent:
            a, b = root(link.title), root(b_title)
            if a != b:  # the smaller title is the root, so a group's key is its first title
                parent[max(a, b)] = min(a, b)
    sizes = Counter(root(t) for t in articles)
    return {t: split_of(key := root(t), GROUP_BUCKETS if sizes[key] > 1 else SPLIT_BUCKETS) for t in articles}


class _Namer:
    """How an entity is named in a question: by title, or by title with its description."""

    def __init__(self, articles: dict[str, Article]) -> None:
        self.articles = articles
        counts: Counter[str] = Counter()
        for a in articles.values():
            for word in re.findall(r"(?<=[a-z,;] )[A-Za-z][\w'-]*", a.extract):
                counts[word] += 1
        # A description's first word stays capitalized if the corpus writes it so mid-sentence
        # ("German playwright"), and is lower-cased if not ("Tower in Paris").
        self.counts = counts

    def description(self, title: str) -> str | None:
        desc = self.articles[title].description if title in self.articles else ""
        desc = re.sub(r"\s*\([^()]*\)$", "", desc)
        desc = re.sub(r"^\d{3,4}s? |\s+from \d.*$", "", desc).strip()
        if not desc or re.search(r"\d|\(|\"", desc) or len(desc.split()) > 8:
            return None
        first, _, rest = desc.partition(" ")
        if self.counts[first.lower()] > self.counts[first]:
            first = first.lower()
        return f"{first} {rest}".strip()

    def name(self, title: str, rng: random.Random, avoid: Iterable[str] = ()) -> tuple[str, str]:
        """(reference, form). `avoid`: strings the description must not contain (answers, B).
        A name the article itself writes with "The" ("The Volga is ...") gets its "the"."""
        name = display_name(title)
        article = self.articles.get(title)
        if article is not None and article.extract.startswith(f"The {name} "):
            name = f"the {name}"
        desc = self.description(title)
        usable = bool(desc) and not any(x and x.lower() in desc.lower() for x in avoid)
        # "São Paulo (state)" while "São Paulo" is another article: the bare name would be ambiguous
        shadowed = display_name(title) != title and display_name(title) in self.articles
        if usable and (shadowed or rng.random() < 0.4):
            return f"{name} ({desc})", "title+description"
        if shadowed:
            return title, "title"
        return name, "title"


def _render(template: str, **fields: str) -> str:
    text = template.format(A=fields.get("a", ""), **fields)
    return text[:1].upper() + text[1:]


def _task(kind: str, relation: str, template_no: int, question: str, answers: Sequence[str],
          answer_type: str, facts: Sequence[Fact], split: str, **extra) -> dict:
    answers = list(dict.fromkeys(a for a in answers if a))
    titles = list(dict.fromkeys(f.title for f in facts))
    # "subject": set when the extraction resolved the sentence's subject to the article
    # ("It was discovered in 1803 by ..." in Osmium), so a pronoun-led sentence is still evidence.
    evidence = [{"title": f.title, "field": fld, "text": text, **({"subject": f.extra["subject"]} if "subject" in f.extra else {})}
                for f in facts for fld, text in f.evidence]
    evidence = list({json.dumps(e, sort_keys=True): e for e in evidence}.values())
    digest = hashlib.sha1(json.dumps([question, answers, titles]).encode()).hexdigest()[:10]
    return {
        "id": f"syn-{kind}-{digest}", "question": question, "answers": answers, "kind": kind,
        "relation": relation, "answer_type": answer_type, "supporting_titles": titles,
        "supporting_urls": [article_url(t) for t in titles], "evidence": evidence, "split": split,
        "template": f"{relation}/{template_no}", **extra,
    }


_ACTIVE = {"written": "wrote", "first performed": "first performed", "first published": "first published"}
# a comparison of in-text values -> (fact relation, measure dimension or None, winner by, minimum ratio)
MEASURE_COMPARISONS = {"longer": "length", "taller": "height", "larger_area": "area", "higher_elevation": "elevation"}
_EVENT_RELATIONS = ("event_year", "event_date", "founded_year")


def _fields(fact: Fact) -> dict[str, str]:
    extra = fact.extra
    fields = {}
    if "work_type" in extra:
        fields.update(type=extra["work_type"], verb=extra["verb"], role=ROLES[extra["verb"]])
    if "office" in extra:
        office = extra["office"]
        fields.update(office=office if office == "Prime Minister" else office.lower())
    if fact.relation in ("event_year", "event_date", "event_agent"):
        fields.update(verb=extra["verb"], active=_ACTIVE.get(extra["verb"], extra["verb"]))
    if fact.relation in ("measure", "count"):
        past = extra["tense"] in ("was", "did")
        fields.update({"is": "was" if past else "is", "does": "did" if past else "does",
                       "has": "had" if past else "has", "covers": "covered" if past else "covers"})
    if fact.relation == "count":
        fields["noun"] = extra["noun"]
    if fact.relation == "former_name":
        fields["how"] = extra["how"]
    if fact.relation == "award_year":
        fields["prize"] = extra["prize"]
    if fact.relation == "status_year":
        fields.update(verb=extra["verb"], obj=extra["obj"])
    if fact.relation == "deed_year":
        fields.update(verb=extra["verb"], base=extra["base"], obj=extra["obj"])
    return fields


def _template_key(fact: Fact) -> str:
    return f"measure_{fact.extra['dim']}" if fact.relation == "measure" else fact.relation


def _singles(facts: list[Fact], namer: _Namer, splits: dict[str, str], rng: random.Random) -> Iterable[dict]:
    capitals = defaultdict(list)
    for f in facts:
        if f.relation == "capital_of":
            capitals[f.value].append(f)
    for f in facts:
        if f.relation not in SINGLE_RELATIONS or _template_key(f) not in TEMPLATES:
            continue
        answers = [f.value, *f.aliases]
        fields = _fields(f)
        if f.relation == "office_start":
            country = next((g.value for g in facts if g.title == f.title and g.relation == "office_country"), None)
            if country is None:
                continue
            fields["country"] = ("the " if f.extra.get("the") else "") + country
        key = _template_key(f)
        templates = TEMPLATES[key]
        k = rng.randrange(len(templates))
        ref, form = namer.name(f.title, rng, avoid=[*answers, *fields.values()])
        question = _render(templates[k], a=ref, **fields)
        yield _task("single", key, k, question, answers, f.answer_type, [f], splits[f.title], naming=form)
    for country, claims in sorted(capitals.items()):
        if len(claims) != 1:  # two cities claim the capital: not a well-posed question
            continue
        f = claims[0]
        templates = TEMPLATES["capital"]
        k = rng.randrange(len(templates))
        city = display_name(f.title)
        ref = ("the " if f.extra.get("the") else "") + country
        question = _render(templates[k], a=ref)
        yield _task("single", "capital", k, question, [city], "place", [f], splits[f.title], naming="title")


def _link_usable(link: Fact, b: Article) -> bool:
    """An agent link only to a person; a namesake or birthplace only to an article of its own."""
    if link.relation == "event_agent":
        return link.answer_type == "person"
    return True


def _bridges(facts: list[Fact], articles: dict[str, Article], namer: _Namer, splits: dict[str, str],
             rng: random.Random) -> Iterable[dict]:
    by_title: dict[str, list[Fact]] = defaultdict(list)
    for f in facts:
        by_title[f.title].append(f)
    by_name = {display_name(t): t for t in sorted(articles)}
    asked: Counter[tuple] = Counter()  # composed bridges per fact of B: a country's area, asked through 2 of its cities
    for link in facts:
        b_title = _bridge_target(link, articles, by_name)
        if b_title is None or splits[b_title] != splits[link.title] or not _link_usable(link, articles[b_title]):
            continue  # (different splits cannot happen with `assign_splits`; kept as the invariant's guard)
        a_text = f"{articles[link.title].extract} {articles[link.title].description}".lower()
        b_names = [display_name(b_title), link.value, *link.aliases]
        for fact in by_title[b_title]:
            if fact.relation not in BRIDGES[link.relation]:
                continue
            answers = [fact.value, *fact.aliases]
            if any(x.lower() in a_text for x in answers):
                continue  # A already states the answer: not a bridge
            relation = f"{link.relation}>{_template_key(fact)}"
            if relation in TEMPLATES:  # a pair with its own phrasings
                templates, fields = TEMPLATES[relation], _fields(link)
            elif _template_key(fact) in TEMPLATES:  # B's own question, B named through the link
                templates, fields = TEMPLATES[_template_key(fact)], _fields(fact)
            else:
                continue
            composed = relation not in TEMPLATES
            key = (fact.title, fact.relation, fact.value)
            if composed and asked[key] >= MAX_COMPOSED_PER_FACT:
                continue
            k = rng.randrange(len(templates))
            ref, form = namer.name(link.title, rng, avoid=[*answers, *b_names])
            if composed:
                ref = _render_phrase(LINK_PHRASES[link.relation], a=ref, **_fields(link))
            question = _render(templates[k], a=ref, **fields)
            if any(x and x.lower() in question.lower() for x in b_names):
                continue  # the question must not name B
            asked[key] += composed
            yield _task("bridge", relation, k, question, answers, fact.answer_type, [link, fact],
                        splits[link.title], naming=form, bridge_title=b_title)


def _render_phrase(template: str, **fields: str) -> str:
    return template.format(**fields)


def _pairs(relation: str, group: list[Fact], pick, ok, rng: random.Random) -> Iterable[tuple[Fact, Fact, Fact]]:
    """Seeded disjoint pairs of `group` whose values `ok(va, vb)` accepts: (first, second, winner)."""
    pool = sorted(group, key=lambda f: (f.title, f.relation, f.value))
    rng.shuffle(pool)
    for fa, fb in zip(pool[0::2], pool[1::2], strict=False):
        if fa.title == fb.title or fa.number is None or fb.number is None or not ok(fa.number, fb.number):
            continue
        yield fa, fb, (fa if pick(fa.number, fb.number) == fa.number else fb)


def _comparison_task(relation: str, fa: Fact, fb: Fact, winner: Fact, articles: dict[str, Article], split: str,
                     rng: random.Random, **fields: str) -> dict:
    loser = fb if winner is fa else fa
    name_a, name_b = display_name(fa.title), display_name(fb.title)
    win, lose = display_name(winner.title), display_name(loser.title)
    answers = [win]
    if relation in PEOPLE_COMPARISONS:
        nationality = articles[winner.title].description.split(" ")[0]
        answers += [x for x in person_aliases(win, nationality)[1:] if x.lower() not in lose.lower()]
    templates = TEMPLATES[relation]
    k = rng.randrange(len(templates))

    def ref(title: str, name: str) -> str:  # "the Nile" where the article writes "The Nile ..."
        return f"the {name}" if articles[title].extract.startswith(f"The {name} ") else name

    question = _render(templates[k], a=ref(fa.title, name_a), b=ref(fb.title, name_b), **fields)
    return _task("comparison", relation, k, question, answers, "entity", [fa, fb], split,
                 options=[name_a, name_b], values=[fa.value, fb.value])


def _comparisons(facts: list[Fact], articles: dict[str, Article], splits: dict[str, str],
                 rng: random.Random) -> Iterable[dict]:
    by_rel: dict[str, list[Fact]] = defaultdict(list)
    for f in facts:
        by_rel[f.relation].append(f)
    for relation in sorted(COMPARISONS):
        fact_rel, pick, min_diff = COMPARISONS[relation]
        groups: dict[tuple[str, str], list[Fact]] = defaultdict(list)
        for f in by_rel[fact_rel]:
            # populations are compared only between places of the same sort (country vs country)
            sort = articles[f.title].description.split(" ")[0] if fact_rel == "population" else ""
            groups[(splits[f.title], sort)].append(f)
        if min_diff is None:  # population: stated at different dates, demand a clear gap
            def ok(va, vb):
                return max(va, vb) >= 1.5 * min(va, vb)
        else:
            def ok(va, vb, min_diff=min_diff):
                return abs(va - vb) >= min_diff
        for (split, _), group in sorted(groups.items()):
            for fa, fb, winner in _pairs(relation, group, pick, ok, rng):
                fields = {}
                if relation == "work_older":
                    fields = {"type_a": fa.extra["work_type"], "type_b": fb.extra["work_type"]}
                yield _comparison_task(relation, fa, fb, winner, articles, split, rng, **fields)
    # in-text measures of one dimension between things of one sort (river with river, country
    # with country); values 10% apart, so rounding and units cannot flip them
    for relation, dim in sorted(MEASURE_COMPARISONS.items()):
        groups = defaultdict(list)
        for f in by_rel["measure"]:
            if f.extra["dim"] == dim:
                groups[(splits[f.title], sort_of(articles[f.title]))].append(f)
        for (split, _), group in sorted(groups.items()):
            for fa, fb, winner in _pairs(relation, group, max, lambda va, vb: max(va, vb) >= 1.1 * min(va, vb), rng):
                yield _comparison_task(relation, fa, fb, winner, articles, split, rng)
    # dated events of one verb ("Which was discovered first, ...?"): years at least 1 apart
    groups = defaultdict(list)
    for f in (f for rel in _EVENT_RELATIONS for f in by_rel[rel]):
        verb = f.extra.get("verb", "founded")
        groups[(splits[f.title], verb)].append(f)
    for (split, verb), group in sorted(groups.items()):
        for fa, fb, winner in _pairs("event_earlier", group, min, lambda va, vb: abs(va - vb) >= 1, rng):
            yield _comparison_task("event_earlier", fa, fb, winner, articles, split, rng, verb=verb)


def synthesize(
    corpus_articles: Iterable[Article | dict],
    *,
    n: int | None = None,
    seed: int = 0,
    splits: Sequence[str] = ("train", "dev", "test"),
    per_relation: int | None = None,
    exclude_titles: Iterable[str] = (),
    echo: bool = True,
) -> list[dict]:
    """Tasks from the corpus, deterministic in (corpus, seed).

    `per_relation` caps the tasks of each relation in each split (a seeded sample): the
    description-line relations (birth and death years, nationality: ~1,000 tasks each) then
    no longer drown the in-text details (a few dozen each). `n` then caps the total over the
    requested `splits` (a seeded sample, so the splits keep their proportions); None keeps
    every task that passes the quality rules. `exclude_titles`: articles no task may rest
    on (a held-out question set's supporting articles, so no synthesized task, trained on or
    not, asks about an article those questions are about). `echo`: add the sentence questions
    of `evals.echo` (single-hop, about details inside the text), sampled and capped apart
    with their own seeded generator, so the other tasks are those `echo=False` gives.
    """
    articles = {}
    for a in corpus_articles:
        art = a if isinstance(a, Article) else Article(a["title"], a.get("extract", ""), a.get("description", ""), a.get("topic", ""))
        articles[art.title] = art
    articles = dict(sorted(articles.items()))
    facts = corpus_facts(articles.values())
    rng = random.Random(seed)
    namer = _Namer(articles)
    tasks: dict[str, dict] = {}
    split_map = assign_splits(articles, facts)
    excluded = set(exclude_titles)
    for task in (*_singles(facts, namer, split_map, rng), *_bridges(facts, articles, namer, split_map, rng),
                 *_comparisons(facts, articles, split_map, rng)):
        if task["split"] in splits and passes(task) and not excluded & set(task["supporting_titles"]):
            tasks.setdefault(task["id"], task)
    chosen = sorted(tasks.values(), key=lambda t: t["id"])
    if per_relation is not None:
        groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for t in chosen:
            groups[(t["split"], t["relation"])].append(t)
        chosen = sorted((t for _, group in sorted(groups.items())
                         for t in (rng.sample(group, per_relation) if len(group) > per_relation else group)),
                        key=lambda t: t["id"])
    if echo:
        chosen = sorted(chosen + _echo_tasks(articles, split_map, splits, excluded, per_relation, seed),
                        key=lambda t: t["id"])
    if n is not None and n < len(chosen):
        chosen = rng.sample(chosen, n)
    order = {name: i for i, name in enumerate(splits)}
    return sorted(chosen, key=lambda t: (order[t["split"]], t["kind"], t["id"]))


def _echo_tasks(articles: dict[str, Article], split_map: dict[str, str], splits: Sequence[str], excluded: set[str],
                per_relation: int | None, seed: int) -> list[dict]:
    rng = random.Random(f"echo:{seed}")
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for f in echo_facts(articles.values()):
        task = _task("single", f.relation, 0, f.extra["question"], [f.value, *f.aliases], f.answer_type, [f],
                     split_map[f.title], naming="sentence")
        if task["split"] in splits and passes(task) and f.title not in excluded:
            groups[(task["split"], task["relation"])].append(task)
    out = []
    for _, group in sorted(groups.items()):
        group = sorted({t["id"]: t for t in group}.values(), key=lambda t: t["id"])
        out += rng.sample(group, per_relation) if per_relation is not None and len(group) > per_relation else group
    return out


def write_tasks(tasks: Iterable[dict], path: str | Path) -> Path:
    """One JSON object per line, keys sorted, UTF-8: byte-identical for identical tasks."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(t, sort_keys=True, ensure_ascii=False) for t in tasks]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _lead(article: Article) -> str:
    """An article's description and first sentence: where template facts mostly come from."""
    first = split_sentences(article.extract)[:1]
    return " ".join([article.description, *first])


def _beyond_lead(task: Mapping, articles: Mapping[str, Article]) -> bool | None:
    titles = [t for t in task.get("supporting_titles") or [] if t in articles]
    if not titles:
        return None
    if task.get("kind") == "comparison":  # the answer is a title: ask where the compared values are
        texts = [e if isinstance(e, str) else e.get("text", "") for e in task.get("evidence") or []]
        leads = [_lead(articles[t]) for t in titles]
        texts = [" ".join(x.replace("\u00a0", " ").split()) for x in texts]
        return bool(texts) and not any(x in lead for x in texts for lead in leads)
    lead = _lead(articles[titles[-1]]).lower()
    answers = [" ".join(a.replace("\u00a0", " ").split()).lower() for a in task.get("answers") or []]
    return not any(re.search(rf"(?<!\w){re.escape(a)}(?!\w)", lead) for a in answers if a)


def beyond_lead_share(tasks: Iterable[Mapping], articles: Mapping[str, Article]) -> dict[str, float]:
    """A cheap proxy for how far a task set is from description-line templates: the share of
    tasks whose answer is NOT in its article's description or first sentence (the answering
    article: the last supporting title; for comparisons, no compared value's evidence lies in
    either article's lead). Works on human task files too (evidence as plain strings).
    Returns {"all": share, <kind>: share, ...}."""
    verdicts: dict[str, list[bool]] = defaultdict(list)
    for task in tasks:
        verdict = _beyond_lead(task, articles)
        if verdict is not None:
            verdicts["all"].append(verdict)
            verdicts[task.get("kind", "?")].append(verdict)
    return {kind: round(sum(v) / len(v), 3) for kind, v in sorted(verdicts.items()) if v}


def report(tasks: Sequence[dict], *, samples: int = 3, articles: Mapping[str, Article] | None = None) -> str:
    """Counts by kind/split/answer type/relation, phrasing diversity, sample questions per kind,
    and (given the corpus `articles`) the share of answers beyond the lead (`beyond_lead_share`)."""
    lines = [f"{len(tasks)} tasks"]

    def table(title: str, counter: Counter) -> None:
        lines.append(f"by {title}: " + ", ".join(f"{k}={v}" for k, v in sorted(counter.items())))

    table("split", Counter(t["split"] for t in tasks))
    table("kind", Counter(t["kind"] for t in tasks))
    table("split/kind", Counter(f"{t['split']}/{t['kind']}" for t in tasks))
    table("answer type", Counter(t["answer_type"] for t in tasks))
    table("kind/answer type", Counter(f"{t['kind']}/{t['answer_type']}" for t in tasks))
    table("split/answer type", Counter(f"{t['split']}/{t['answer_type']}" for t in tasks))
    table("relation", Counter(t["relation"] for t in tasks))
    if articles is not None:
        share = beyond_lead_share(tasks, articles)
        lines.append("answer beyond the description and first sentence: "
                     + ", ".join(f"{k}={v:.1%}" for k, v in share.items()))
    table("naming", Counter(t.get("naming", "title") for t in tasks if t["kind"] != "comparison"))
    lines.append("phrasing diversity (relation: tasks / templates used / distinct 3-word prefixes):")
    by_relation: dict[str, list[dict]] = defaultdict(list)
    for t in tasks:
        by_relation[t["relation"]].append(t)
    for relation, group in sorted(by_relation.items()):
        templates = {t["template"] for t in group}
        prefixes = {" ".join(t["question"].split()[:3]) for t in group}
        lines.append(f"  {group[0]['kind']:<10} {relation:<28} {len(group):>5} / {len(templates)} / {len(prefixes)}")
    for kind in sorted({t["kind"] for t in tasks}):
        lines.append(f"templates per kind: {kind} = {len({t['template'] for t in tasks if t['kind'] == kind})}")
        group = [t for t in tasks if t["kind"] == kind]
        for t in random.Random(0).sample(group, min(samples, len(group))):
            lines.append(f"  [{t['split']}] {t['question']}  -> {t['answers']}")
    return "\n".join(lines)
