"""SQLite FTS5 (BM25) index of the wiki corpus.

The index file records the corpus data hash and `SCHEMA_VERSION` in a `meta` table;
`WikiIndex.open_or_build` reuses a matching file and rebuilds (into a temporary file,
then an atomic rename) when either differs. Titles weigh 10×, descriptions 2×, extracts 1×.
User queries never reach FTS5 syntax: words are extracted, quoted and OR-ed.
Read connections are pooled: a query borrows one and gives it back, so the site's
thread-per-connection server never shares a connection nor leaks one per dead thread.
"""

from __future__ import annotations

import os
import queue
import re
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from tools.errors import SearchError, ToolError
from tools.search import SearchResult
from tools.wiki_corpus import Corpus

__all__ = ["SCHEMA_VERSION", "WikiIndex", "fts_query"]

SCHEMA_VERSION = "1"
Progress = Callable[[int, int], None]

_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have how i in is it its of on or "
    "that the this to was were what when where which who whom whose why will with".split())
_MAX_TERMS = 32


def fts_query(query: str) -> str:
    """A safe MATCH expression: the query's words, quoted, OR-ed; stop words dropped if others remain."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(query or "")))
    if not words:
        raise SearchError("the query has no searchable words", query=query)
    content = [w for w in words if w not in _STOPWORDS] or words
    return " OR ".join(f'"{w}"' for w in content[:_MAX_TERMS])


class WikiIndex:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ToolError(f"no wiki index at {self.path}; build it with WikiIndex.open_or_build")
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @classmethod
    def open_or_build(cls, path: str | Path, corpus: Corpus, *,
                      progress: Progress | None = None) -> WikiIndex:
        path = Path(path).expanduser()
        if cls.stored_version(path) != (corpus.data_hash, SCHEMA_VERSION):
            cls.build(path, corpus, progress=progress)
        return cls(path)

    @staticmethod
    def stored_version(path: Path) -> tuple[str, str] | None:
        if not path.is_file():
            return None
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            finally:
                db.close()
        except sqlite3.Error:
            return None
        return meta.get("data_hash", ""), meta.get("schema_version", "")

    @staticmethod
    def build(path: Path, corpus: Corpus, *, progress: Progress | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.unlink(missing_ok=True)
        db = sqlite3.connect(tmp)
        try:
            db.executescript("""
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE VIRTUAL TABLE articles USING fts5(
                    title, description, extract, slug UNINDEXED, topic UNINDEXED,
                    tokenize = 'unicode61 remove_diacritics 2');
                INSERT INTO articles (articles, rank) VALUES ('rank', 'bm25(10.0, 2.0, 1.0)');
            """)
            total, step = len(corpus.articles), 500
            for start in range(0, total, step):
                batch = corpus.articles[start:start + step]
                db.executemany(
                    "INSERT INTO articles (title, description, extract, slug, topic) VALUES (?, ?, ?, ?, ?)",
                    [(a.title, a.description, a.extract, a.slug, a.topic) for a in batch])
                if progress is not None:
                    progress(start + len(batch), total)
            db.execute("INSERT INTO articles (articles) VALUES ('optimize')")
            db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("data_hash", corpus.data_hash), ("schema_version", SCHEMA_VERSION),
                ("articles", str(total))])
            db.commit()
        finally:
            db.close()
        os.replace(tmp, path)

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            with self._lock:
                self._all.append(conn)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            self._idle.put(conn)

    def __len__(self) -> int:
        return int(self._query("SELECT value FROM meta WHERE key = 'articles'")[0][0])

    def search(self, query: str, limit: int = 10, *, base_url: str = "") -> list[SearchResult]:
        """Best matches first; `url` is `base_url + /wiki/<slug>`; snippets mark hits as **term**."""
        match = fts_query(query)
        limit = max(1, min(int(limit), 100))
        try:
            rows = self._query(
                "SELECT title, slug, snippet(articles, 2, '**', '**', '…', 24), rank "
                "FROM articles WHERE articles MATCH ? ORDER BY rank LIMIT ?", (match, limit))
        except sqlite3.Error as exc:
            raise SearchError(f"wiki index search failed: {exc}", query=query) from None
        return [SearchResult(title=title, url=f"{base_url}/wiki/{slug}", snippet=snippet,
                             rank=i + 1, provider="wiki-index")
                for i, (title, slug, snippet, _score) in enumerate(rows)]

    def scored(self, query: str, limit: int = 10) -> list[tuple[str, str, str, str, float]]:
        """(title, slug, snippet, topic, bm25 score) rows, for the site's SearXNG endpoint."""
        match = fts_query(query)
        try:
            return self._query(
                "SELECT title, slug, snippet(articles, 2, '**', '**', '…', 24), topic, -rank "
                "FROM articles WHERE articles MATCH ? ORDER BY rank LIMIT ?",
                (match, max(1, min(int(limit), 100))))
        except sqlite3.Error as exc:
            raise SearchError(f"wiki index search failed: {exc}", query=query) from None

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._idle = queue.SimpleQueue()
