"""The store under process faults: schema 2 migration, a run claimed by one process at a time,
and the LangGraph checkpointer's damaged or missing files."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.checkpoints import has_checkpoint, open_checkpointer
from agent.errors import RunInProgress, StoreError
from agent.store import _MIGRATIONS, SCHEMA_VERSION, TrajectoryStore


def _first_schema_store(path, run_id="r-old", steps=3):
    db = sqlite3.connect(path)
    db.executescript(_MIGRATIONS[0])
    db.execute("INSERT INTO runs (id, question, mode, status, created_at, updated_at, config) "
               "VALUES (?, 'Q?', 'react', 'interrupted', 1.0, 1.0, '{}')", (run_id,))
    for seq in range(1, steps + 1):
        db.execute("INSERT INTO steps (run_id, seq, kind, created_at, output) VALUES (?, ?, 'llm', 1.0, ?)",
                   (run_id, seq, json.dumps({"seq": seq})))
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()


def test_a_first_schema_store_is_migrated_with_every_step_kept(tmp_path):
    path = tmp_path / "deepstar.db"
    _first_schema_store(path)
    store = TrajectoryStore(path)
    assert store.schema_version == SCHEMA_VERSION == 2
    assert [s["output"]["seq"] for s in store.steps("r-old")] == [1, 2, 3]
    assert store.get_run("r-old")["pid"] is None
    assert store.begin_attempt("r-old") == 2  # an old run can be resumed
    store.close()


def test_a_resume_is_refused_while_another_live_process_runs_the_run(tmp_path):
    store = TrajectoryStore(tmp_path / "deepstar.db")
    store.create_run("r1", "Q?", "react", {})
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    while b"sleep" not in Path(f"/proc/{other.pid}/cmdline").read_bytes():  # until it has exec'd
        time.sleep(0.05)
    try:
        store._write("UPDATE runs SET pid = ? WHERE id = 'r1'", (other.pid,))
        with pytest.raises(RunInProgress, match=f"still running in process {other.pid}"):
            store.begin_attempt("r1")
        assert store.get_run("r1")["attempts"] == 1
    finally:
        other.kill()
        other.wait()
    # its process is gone (kill -9): the run may be resumed now
    assert store.begin_attempt("r1") == 2
    store.close()


def test_an_interrupted_run_is_resumable_whatever_its_pid(tmp_path):
    store = TrajectoryStore(tmp_path / "deepstar.db")
    store.create_run("r1", "Q?", "react", {})
    store.set_status("r1", "interrupted", "Ctrl-C")
    store._write("UPDATE runs SET pid = 1 WHERE id = 'r1'")  # a live pid, but the run is not running
    assert store.begin_attempt("r1") == 2
    store.close()


async def test_a_damaged_checkpoint_file_is_a_store_error_naming_it(tmp_path):
    path = tmp_path / "checkpoints.db"
    path.write_bytes(b"\x00garbage" * 512)
    with pytest.raises(StoreError, match="checkpoints.db is damaged"):
        async with open_checkpointer(path):
            pass


async def test_a_run_without_a_checkpoint_is_detected(tmp_path):
    async with open_checkpointer(tmp_path / "checkpoints.db") as saver:
        assert await has_checkpoint(saver, "no-such-run") is False
