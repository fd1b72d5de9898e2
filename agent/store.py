"""The trajectory store: SQLite in the workspace (WAL), one row per step as it happens.

Tables
  runs          one per research run: question, mode, status, config, timings, error
  trajectories  the trajectory record of ARCHITECTURE.md, one per finished run
                (or imported: demonstrations, STaR rollouts), JSON columns for nested fields
  steps         every model call (input messages, output, tokens, latency, model,
                sampling) and every tool call (arguments, result or error, latency),
                committed one by one, so a crash loses at most the step in flight
  pages         page snapshots by content hash (URL, final URL, time, status, text)
  run_pages     which snapshot each run saw for each URL

The schema is versioned with `PRAGMA user_version` and migrated forward on open; a
store written by a newer deepstar is refused with a clear error.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.errors import RunInProgress, RunNotFound, StoreError

__all__ = ["SCHEMA_VERSION", "TrajectoryStore", "new_run_id"]

_MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY, question TEXT NOT NULL, mode TEXT NOT NULL, status TEXT NOT NULL,
        created_at REAL NOT NULL, updated_at REAL NOT NULL, finished_at REAL,
        config TEXT NOT NULL DEFAULT '{}', task TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE trajectories (
        id TEXT PRIMARY KEY, run_id TEXT, question_id TEXT, dataset TEXT, split TEXT,
        question TEXT NOT NULL, final_answer TEXT, success INTEGER, iteration INTEGER,
        source TEXT NOT NULL DEFAULT 'agent', created_at REAL NOT NULL, record TEXT NOT NULL
    );
    CREATE INDEX trajectories_by_run ON trajectories(run_id);
    CREATE INDEX trajectories_by_dataset ON trajectories(dataset, iteration);
    CREATE TABLE steps (
        id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, seq INTEGER NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 1, kind TEXT NOT NULL, node TEXT, branch TEXT,
        name TEXT, created_at REAL NOT NULL, latency_s REAL, input TEXT, output TEXT, error TEXT,
        prompt_tokens INTEGER, completion_tokens INTEGER, model TEXT, sampling TEXT
    );
    CREATE INDEX steps_by_run ON steps(run_id, seq);
    CREATE TABLE pages (
        hash TEXT PRIMARY KEY, url TEXT NOT NULL, final_url TEXT, fetched_at TEXT, status INTEGER,
        title TEXT, text TEXT NOT NULL
    );
    CREATE TABLE run_pages (
        run_id TEXT NOT NULL, url TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (run_id, url)
    );
    """,
    # 2: the process running each run, so a resume can refuse a run that is still running
    """
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    """,
]
SCHEMA_VERSION = len(_MIGRATIONS)

_SECRET_KEYS = ("authorization", "api_key", "apikey", "x-api-key", "password", "token", "secret")


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8]


def redact(value: Any) -> Any:
    """Drop secrets (API keys, Authorization headers) from anything stored or exported."""
    if isinstance(value, dict):
        return {k: ("***" if isinstance(k, str) and k.lower() in _SECRET_KEYS and v else redact(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _process_alive(pid: int) -> bool:
    """Whether `pid` is a live deepstar (Python) process; a reused pid of another program is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust the pid
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # a zombie has finished
        return False
    return b"python" in cmdline or b"deepstar" in cmdline


def _dumps(value: Any) -> str:
    return json.dumps(redact(value), ensure_ascii=False, default=str)


class TrajectoryStore:
    def __init__(self, path: Path | str, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), timeout=timeout_s, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the trajectory store {self.path} cannot be opened: {exc}") from None
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._migrate()

    # --- schema ----------------------------------------------------------------------
    def _migrate(self) -> None:
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the trajectory store {self.path} is damaged: {exc}") from None
        if version > SCHEMA_VERSION:
            raise StoreError(f"the trajectory store {self.path} has schema version {version}, newer than this "
                             f"deepstar understands ({SCHEMA_VERSION}); upgrade deepstar")
        for number in range(version, SCHEMA_VERSION):
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    # re-read inside the write lock: another process may have migrated meanwhile
                    if self._db.execute("PRAGMA user_version").fetchone()[0] > number:
                        self._db.execute("COMMIT")
                        continue
                    for statement in _MIGRATIONS[number].split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version={number + 1}")
                    self._db.execute("COMMIT")
                except sqlite3.DatabaseError as exc:
                    self._db.execute("ROLLBACK")
                    raise StoreError(f"the trajectory store {self.path} cannot be migrated from schema version "
                                     f"{number} to {number + 1}: {exc}") from None
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise

    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def _write(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        for attempt in range(5):
            try:
                with self._lock:
                    return self._db.execute(sql, params)
            except sqlite3.OperationalError as exc:  # "database is locked" beyond busy_timeout
                if "locked" not in str(exc) or attempt == 4:
                    raise StoreError(f"writing to {self.path} failed: {exc}") from None
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    # --- runs ----------------------------------------------------------------------------
    def create_run(self, run_id: str, question: str, mode: str, config: dict[str, Any],
                   task: dict[str, Any] | None = None) -> None:
        now = time.time()
        self._write("INSERT INTO runs (id, question, mode, status, created_at, updated_at, config, task, pid) "
                    "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                    (run_id, question, mode, now, now, _dumps(config), _dumps(task) if task else None, os.getpid()))

    def set_status(self, run_id: str, status: str, error: str | None = None) -> None:
        now = time.time()
        finished = now if status in ("done", "failed") else None
        self._write("UPDATE runs SET status = ?, error = ?, updated_at = ?, finished_at = COALESCE(?, finished_at) "
                    "WHERE id = ?", (status, error, now, finished, run_id))

    def begin_attempt(self, run_id: str) -> int:
        """Claim the run for this process (a new attempt); refused while another live
        process is still running it, so two resumes never write one run at once."""
        for attempt in range(5):
            try:
                with self._lock:
                    self._db.execute("BEGIN IMMEDIATE")  # read and claim under one write lock
                    try:
                        row = self._db.execute("SELECT status, pid FROM runs WHERE id = ?", (run_id,)).fetchone()
                        if row is None:
                            raise RunNotFound(run_id)
                        if row["status"] == "running" and row["pid"] not in (None, os.getpid()) \
                                and _process_alive(row["pid"]):
                            raise RunInProgress(run_id, row["pid"])
                        self._db.execute("UPDATE runs SET attempts = attempts + 1, status = 'running', updated_at = ?, "
                                         "pid = ? WHERE id = ?", (time.time(), os.getpid(), run_id))
                        self._db.execute("COMMIT")
                    except BaseException:
                        self._db.execute("ROLLBACK")
                        raise
                break
            except sqlite3.OperationalError as exc:  # "database is locked" beyond busy_timeout
                if "locked" not in str(exc) or attempt == 4:
                    raise StoreError(f"writing to {self.path} failed: {exc}") from None
                time.sleep(0.2 * (attempt + 1))
        return int(self.get_run(run_id)["attempts"])

    def get_run(self, run_id: str) -> dict[str, Any]:
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(run_id)
        out = dict(row)
        out["config"] = json.loads(out["config"] or "{}")
        out["task"] = json.loads(out["task"]) if out["task"] else None
        return out

    def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT r.id, r.question, r.mode, r.status, r.created_at, r.finished_at, r.error, "
            "(SELECT COUNT(*) FROM steps s WHERE s.run_id = r.id) AS steps, "
            "(SELECT final_answer FROM trajectories t WHERE t.run_id = r.id) AS answer "
            "FROM runs r ORDER BY r.created_at DESC LIMIT ?", (limit,)).fetchall()
        return [dict(r) for r in rows]

    # --- steps -------------------------------------------------------------------------------
    def add_step(self, run_id: str, *, kind: str, node: str, branch: str, name: str | None = None,
                 input: Any = None, output: Any = None, error: str | None = None, latency_s: float | None = None,
                 prompt_tokens: int | None = None, completion_tokens: int | None = None,
                 model: str | None = None, sampling: dict[str, Any] | None = None, attempt: int = 1) -> int:
        seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE run_id = ?", (run_id,)).fetchone()[0]
        cur = self._write(
            "INSERT INTO steps (run_id, seq, attempt, kind, node, branch, name, created_at, latency_s, input, output, "
            "error, prompt_tokens, completion_tokens, model, sampling) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, seq, attempt, kind, node, branch, name, time.time(), latency_s, _dumps(input), _dumps(output),
             error, prompt_tokens, completion_tokens, model, _dumps(sampling) if sampling else None))
        return int(cur.lastrowid or 0)

    def active_seconds(self, run_id: str) -> float:
        """Seconds from the run's start to its last recorded step."""
        row = self._db.execute("SELECT r.created_at, MAX(s.created_at) FROM runs r LEFT JOIN steps s ON s.run_id = r.id "
                               "WHERE r.id = ?", (run_id,)).fetchone()
        if row is None or row[1] is None:
            return 0.0
        return max(0.0, row[1] - row[0])

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM steps WHERE run_id = ? ORDER BY seq", (run_id,)).fetchall()
        out = []
        for row in rows:
            step = dict(row)
            for key in ("input", "output", "sampling"):
                step[key] = json.loads(step[key]) if step[key] else None
            out.append(step)
        return out

    # --- pages -------------------------------------------------------------------------------
    def add_page(self, run_id: str, *, url: str, final_url: str, fetched_at: str, status: int, title: str,
                 text: str, content_hash: str) -> None:
        self._write("INSERT OR IGNORE INTO pages (hash, url, final_url, fetched_at, status, title, text) "
                    "VALUES (?,?,?,?,?,?,?)", (content_hash, url, final_url, fetched_at, status, title, text))
        for u in {url, final_url}:
            self._write("INSERT OR REPLACE INTO run_pages (run_id, url, hash) VALUES (?,?,?)", (run_id, u, content_hash))

    def page_text(self, run_id: str, url: str) -> str | None:
        row = self._db.execute("SELECT p.text FROM run_pages r JOIN pages p ON p.hash = r.hash "
                               "WHERE r.run_id = ? AND r.url = ?", (run_id, url)).fetchone()
        return row[0] if row else None

    def pages_for(self, run_id: str) -> dict[str, str]:
        rows = self._db.execute("SELECT r.url, p.text FROM run_pages r JOIN pages p ON p.hash = r.hash "
                                "WHERE r.run_id = ?", (run_id,)).fetchall()
        return {r[0]: r[1] for r in rows}

    # --- trajectories ---------------------------------------------------------------------------
    def save_trajectory(self, record: dict[str, Any]) -> str:
        rec = redact(record)
        self._write(
            "INSERT OR REPLACE INTO trajectories (id, run_id, question_id, dataset, split, question, final_answer, "
            "success, iteration, source, created_at, record) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (rec["id"], rec.get("run_id"), rec.get("question_id"), rec.get("dataset"), rec.get("split"),
             rec["question"], rec.get("final_answer"), None if rec.get("success") is None else int(bool(rec["success"])),
             rec.get("iteration"), rec.get("source", "agent"), time.time(), _dumps(rec)))
        return rec["id"]

    def get_trajectory(self, trajectory_id: str) -> dict[str, Any]:
        row = self._db.execute("SELECT record FROM trajectories WHERE id = ? OR run_id = ?",
                               (trajectory_id, trajectory_id)).fetchone()
        if row is None:
            raise RunNotFound(trajectory_id)
        return json.loads(row[0])

    def iter_trajectories(self, *, dataset: str | None = None, iteration: int | None = None,
                          only_successful: bool = False) -> Iterator[dict[str, Any]]:
        sql, params = "SELECT record FROM trajectories WHERE 1=1", []
        if dataset is not None:
            sql += " AND dataset = ?"
            params.append(dataset)
        if iteration is not None:
            sql += " AND iteration = ?"
            params.append(iteration)
        if only_successful:
            sql += " AND success = 1"
        for row in self._db.execute(sql + " ORDER BY created_at", params):
            yield json.loads(row[0])
