"""`PageStore`: a SQLite (WAL) snapshot of every fetched page, so runs replay offline.

Writes are short synchronous statements behind a lock; one store is shared by the
coroutines of one process (and by threads, hence `check_same_thread=False`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path

from tools.page import Link, Page

__all__ = ["PageStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    final_url TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    fetched_ts REAL NOT NULL,
    status INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    links TEXT NOT NULL,
    headings TEXT NOT NULL,
    truncated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pages_url ON pages (url, fetched_ts);
CREATE INDEX IF NOT EXISTS pages_hash ON pages (content_hash);
"""
_COLUMNS = ("url, final_url, fetched_at, status, content_type, content_hash, title, text, "
            "links, headings, truncated")


def _timestamp(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return time.time()


class PageStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def put(self, page: Page) -> None:
        row = (page.url, page.final_url, page.fetched_at, _timestamp(page.fetched_at), page.status,
               page.content_type, page.content_hash, page.title, page.text,
               json.dumps([[link.url, link.text] for link in page.links]),
               json.dumps(page.headings), int(page.truncated))
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO pages (url, final_url, fetched_at, fetched_ts, status, content_type, "
                "content_hash, title, text, links, headings, truncated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    def get_fresh(self, url: str, max_age_s: float) -> Page | None:
        """The newest snapshot of `url` no older than `max_age_s`, marked `from_cache`."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM pages WHERE url = ? AND fetched_ts >= ? "
                "ORDER BY fetched_ts DESC, id DESC LIMIT 1", (url, time.time() - max_age_s)).fetchone()
        return self._page(row, from_cache=True) if row else None

    def get_by_hash(self, content_hash: str) -> Page | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM pages WHERE content_hash = ? ORDER BY id DESC LIMIT 1",
                (content_hash,)).fetchone()
        return self._page(row, from_cache=True) if row else None

    def history(self, url: str) -> list[Page]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM pages WHERE url = ? ORDER BY fetched_ts, id", (url,)).fetchall()
        return [self._page(r, from_cache=True) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def _page(row: tuple, *, from_cache: bool) -> Page:
        (url, final_url, fetched_at, status, content_type, chash, title, text,
         links, headings, truncated) = row
        return Page(url=url, final_url=final_url, status=status, content_type=content_type,
                    title=title, text=text, links=[Link(u, t) for u, t in json.loads(links)],
                    headings=list(json.loads(headings)), fetched_at=fetched_at,
                    content_hash=chash, truncated=bool(truncated), from_cache=from_cache)
