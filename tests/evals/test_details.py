"""In-text detail facts (evals.details), checked on real corpus sentences."""

from __future__ import annotations

import pytest

from evals.corpus import Article, split_sentences
from evals.details import ANSWER_TYPES, answer_type_of, corpus_facts, extract_details, subjects
from evals.facts import extract_facts


@pytest.fixture(scope="module")
def details(real_articles):
    return extract_details(real_articles)


@pytest.fixture(scope="module")
def by_key(details):
    out: dict[tuple[str, str], list] = {}
    for f in details:
        out.setdefault((f.title, f.relation), []).append(f)
    return out


@pytest.mark.parametrize(
    ("title", "relation", "value", "answer_type", "extra"),
    [
        ("Selenium", "event_year", "1817", "year", {"verb": "discovered"}),
        ("Selenium", "event_agent", "Jöns Jacob Berzelius", "person", {"verb": "discovered"}),
        ("Thriller (album)", "event_date", "November 29, 1982", "date", {"verb": "released"}),
        ("Yukon River", "measure", "3,190 kilometres", "measure", {"dim": "length"}),
        ("Elbe", "measure", "1,094 km", "measure", {"dim": "length"}),  # "Its total length is ..."
        ("Nile", "measure", "7,088 kilometers", "measure", {"dim": "length"}),  # "At 7,088 kilometers long, it is"
        ("Mount Kosciuszko", "measure", "2,228 metres", "measure", {"dim": "elevation"}),  # "at ... above sea level"
        ("Angel Falls", "measure", "979 metres", "measure", {"dim": "height"}),  # "..., with a height of 979 metres"
        ("Cook Islands", "count", "15", "number", {"noun": "islands"}),
        ("Netherlands", "count", "twelve", "number", {"noun": "provinces"}),
        ("Dhaka", "former_name", "Dacca", "name", {"how": "formerly"}),
        ("Galileo Galilei", "birthplace", "Pisa", "place", {}),
        ("Hubble Space Telescope", "named_after", "Edwin Hubble", "person", {}),
        ("Irving Langmuir", "award_year", "1932", "year", {"prize": "Nobel Prize in Chemistry"}),
        ("Robert Koch", "award_year", "1905", "year", {"prize": "Nobel Prize in Physiology or Medicine"}),
        ("Gustav Kirchhoff", "deed_year", "1860", "year", {"base": "coin", "obj": "the term black body"}),
        ("Edith Wharton", "status_year", "1996", "year", {"verb": "inducted", "obj": "into the National Women's Hall of Fame"}),
        ("Henry IV of France", "deathplace", "Paris", "place", {}),
    ],
)
def test_detail_facts_from_real_sentences(by_key, real_articles, title, relation, value, answer_type, extra):
    facts = by_key.get((title, relation), [])
    assert [f.value for f in facts] == [value]
    fact = facts[0]
    assert fact.answer_type == answer_type
    assert extra.items() <= fact.extra.items()
    assert fact.extra["subject"] == title
    (field, sentence), = fact.evidence
    article = next(a for a in real_articles if a.title == title)
    assert field == "extract" and sentence in split_sentences(article.extract)  # the exact sentence
    assert value in sentence


@pytest.mark.parametrize(
    ("title", "relation", "why"),
    [
        ("YouTube", "event_agent", "three founders: 'by Chad Hurley, Jawed Karim, and Steve Chen'"),
        ("Stanford University", "event_agent", "'by ... Leland Stanford and his wife, Jane'"),
        ("Stethoscope", "event_agent", "'by René Laennec and the binaural version by Arthur Leared'"),
        ("Human skeleton", "count", "'around 270 bones at birth ... around 206 bones by adulthood'"),
        ("Double bass", "count", "'four or five strings'"),
        ("Rose", "measure", "'The plants ... up to 7 metres': not the article's subject, and a bound"),
        ("The Tempest", "event_year", "'probably written in 1610–1611': hedged and a range"),
        ("Californium", "named_after", "'named after the university and the U.S. state of California': two namesakes"),
        ("Vinson Massif", "event_agent", "'by U.S. Navy aircraft': a name cut at an abbreviation's dot"),
        ("Early Muslim conquests", "deed_year", "not a person's article: its 'he' is Muhammad"),
    ],
)
def test_no_fact_where_the_text_gives_no_single_answer(by_key, title, relation, why):
    assert (title, relation) not in by_key, why


def test_every_detail_is_stated_in_its_sentence_and_typed(details, real_articles):
    extracts = {a.title: a.extract for a in real_articles}
    assert len(details) >= 150
    relations = {f.relation for f in details}
    assert {"event_year", "event_date", "event_agent", "measure", "count", "former_name", "named_after"} <= relations
    for f in details:
        (field, sentence), = f.evidence
        assert sentence in extracts[f.title], f
        assert f.value in sentence, f
        assert f.answer_type in ANSWER_TYPES, f


def test_subjects_resolve_pronouns_only_to_the_article():
    thing = Article("Yukon River", "The Yukon River is a river in North America. It is 3,190 kilometres long. "
                    "The river empties into the Bering Sea. He was a trapper.", "River in North America")
    sentences = split_sentences(thing.extract)
    heads = [s.head if s else None for s in subjects(thing, sentences)]
    assert heads == ["The Yukon River", "It", "The river", None]  # no "He" in a river's article
    person = Article("Irving Langmuir", "Irving Langmuir was an American chemist. He was awarded the Nobel Prize in "
                     "Chemistry in 1932. It was a surprise.", "American chemist and physicist (1881–1957)")
    heads = [s.head if s else None for s in subjects(person, split_sentences(person.extract))]
    assert heads == ["Irving Langmuir", "He", None]  # no "It" in a person's article


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("1889", "year"), ("478 BC", "year"), ("3 May 1947", "date"), ("May 3, 1947", "date"),
     ("2,824 km", "measure"), ("330 metres", "measure"), ("1,855,000 km2", "measure"), ("21", "number"),
     ("3,182", "number"), ("twelve", "number"), ("Smithson Tennant", "name"), ("Boulder Dam", "name")],
)
def test_answer_type_of(answer, expected):
    assert answer_type_of(answer) == expected


def test_corpus_facts_adds_details_to_description_facts(mini_corpus):
    corpus = [*mini_corpus, Article("Elbe", "The Elbe is a river in Central Europe. Its total length is 1,094 km (680 mi).",
                                    "Major river in Central Europe")]
    facts = corpus_facts(corpus)
    assert facts[: len(extract_facts(corpus))] == extract_facts(corpus)
    assert [(f.title, f.relation, f.value) for f in facts[len(extract_facts(corpus)):]] == [("Elbe", "measure", "1,094 km")]
