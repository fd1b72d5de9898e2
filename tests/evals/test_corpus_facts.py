from __future__ import annotations

from evals.corpus import article_url, load_articles, slug, split_sentences
from evals.facts import extract_facts, person_aliases


def test_slug_matches_wiki_urls():
    assert slug("Alice's Adventures in Wonderland") == "Alice's_Adventures_in_Wonderland"
    assert slug("Schrödinger equation") == "Schr%C3%B6dinger_equation"
    assert slug("C++") == "C%2B%2B"
    assert article_url("Tripoli, Libya") == "/wiki/Tripoli,_Libya"


def test_load_articles_skips_junk(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(
        '{"0": {"title": "0", "extract": "zero zero zero zero zero"}, "A": {"title": "A", "extract": ""},'
        ' "Paris": {"title": "Paris", "extract": "Paris is the capital\\u00a0of France.", "description": "Capital of France"}}',
        encoding="utf-8",
    )
    articles = load_articles(path)
    assert [a.title for a in articles] == ["Paris"]
    assert "\u00a0" not in articles[0].extract


def test_real_corpus_size(real_articles):
    assert len(real_articles) > 9_900


def test_split_sentences_keeps_initials_and_abbreviations():
    assert split_sentences("J. R. R. Tolkien met Dr. Who in 1950. He left.") == [
        "J. R. R. Tolkien met Dr. Who in 1950.",
        "He left.",
    ]


def test_facts_from_mini_corpus(mini_corpus):
    facts = {(f.title, f.relation): f for f in extract_facts(mini_corpus)}
    assert facts[("Bertolt Brecht", "birth_year")].value == "1898"
    assert facts[("Bertolt Brecht", "nationality")].value == "German"
    assert facts[("Nineteen Eighty-Four", "work_creator")].value == "George Orwell"
    assert facts[("Nineteen Eighty-Four", "work_year")].value == "1949"
    assert facts[("Nairobi", "capital_of")].value == "Kenya"
    assert facts[("Kenya", "continent")].value == "Africa"
    assert facts[("Iron", "element_symbol")].value == "Fe"
    assert facts[("Le Monde", "founded_year")].value == "1944"
    # a war with a date range is not a person
    assert ("Thirty Years' War", "birth_year") not in facts


def test_surname_alias_only_where_safe():
    assert person_aliases("George Orwell", "English") == ("George Orwell", "Orwell")
    assert person_aliases("Lu Xun", "Chinese") == ("Lu Xun",)
    assert person_aliases("Jan van Eyck", "Dutch") == ("Jan van Eyck",)
