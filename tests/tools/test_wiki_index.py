from __future__ import annotations

import pytest

import tools.wiki_index as wi
from tools.errors import SearchError
from tools.wiki_corpus import load_corpus
from tools.wiki_index import WikiIndex, fts_query


@pytest.mark.parametrize("query", ['"', 'NEAR(a b', "a AND OR NOT", "*", "-x", "col:val", "^a",
                                   "(((", "'; DROP TABLE articles; --", "tower\x00", "ü ß 東京"])
def test_hostile_queries_never_break_fts(tmp_path, tiny_corpus_file, query: str) -> None:
    index = WikiIndex.open_or_build(tmp_path / "i.db", load_corpus(tiny_corpus_file))
    try:
        assert isinstance(index.search(query, 5), list)
    except SearchError as exc:  # only for queries without words, never an FTS syntax error
        assert "no searchable words" in str(exc)
    finally:
        index.close()


def test_fts_query() -> None:
    assert fts_query("Who built the Eiffel tower?") == '"built" OR "eiffel" OR "tower"'
    assert fts_query("the") == '"the"'
    for empty in ("", "   ", "?!", '"'):
        with pytest.raises(SearchError):
            fts_query(empty)


def test_build_is_idempotent_and_versioned(tmp_path, tiny_corpus_file, monkeypatch) -> None:
    corpus = load_corpus(tiny_corpus_file)
    path = tmp_path / "i.db"
    calls: list[tuple[int, int]] = []
    WikiIndex.open_or_build(path, corpus, progress=lambda d, t: calls.append((d, t))).close()
    assert calls[-1] == (3, 3)
    mtime = path.stat().st_mtime_ns
    calls.clear()
    WikiIndex.open_or_build(path, corpus, progress=lambda d, t: calls.append((d, t))).close()
    assert calls == [] and path.stat().st_mtime_ns == mtime
    monkeypatch.setattr(wi, "SCHEMA_VERSION", "999")
    WikiIndex.open_or_build(path, corpus, progress=lambda d, t: calls.append((d, t))).close()
    assert calls and WikiIndex.stored_version(path) == (corpus.data_hash, "999")


def test_search_ranks_titles_and_marks_snippets(tmp_path, tiny_corpus_file) -> None:
    index = WikiIndex.open_or_build(tmp_path / "i.db", load_corpus(tiny_corpus_file))
    results = index.search("paris", 5, base_url="http://w")
    assert results[0].title == "Paris" and results[0].url == "http://w/wiki/Paris"
    assert "**Paris**" in results[0].snippet and results[0].rank == 1
    assert {r.title for r in results} == {"Paris", "Eiffel Tower"}
    with pytest.raises(SearchError):
        index.search("  ", 5)
    index.close()


@pytest.mark.integration
def test_real_index(wiki_index) -> None:
    assert len(wiki_index) > 9_900
    top = wiki_index.search("eiffel tower", 3)[0]
    assert top.title == "Eiffel Tower" and top.url == "/wiki/Eiffel_Tower"
