import sqlite3

import pytest

from agent.errors import RunNotFound, StoreError
from agent.store import SCHEMA_VERSION, TrajectoryStore


def test_each_step_is_committed_as_it_happens(tmp_path):
    store = TrajectoryStore(tmp_path / "db.sqlite")
    store.create_run("r1", "Q?", "react", {"api_key": "sk-1"})
    store.add_step("r1", kind="llm", node="research", branch="q0", input={"messages": []}, output={"x": 1},
                   prompt_tokens=5, completion_tokens=2)
    # a second connection (another process) sees it without any close or flush
    other = sqlite3.connect(tmp_path / "db.sqlite")
    assert other.execute("SELECT COUNT(*) FROM steps WHERE run_id = 'r1'").fetchone()[0] == 1
    assert "sk-1" not in other.execute("SELECT config FROM runs").fetchone()[0]
    other.close()
    store.close()


def test_secrets_are_redacted_from_stored_records(tmp_path):
    store = TrajectoryStore(tmp_path / "db.sqlite")
    store.save_trajectory({"id": "t1", "question": "Q", "engine": {"headers": {"Authorization": "Bearer sk-2"}},
                           "config": {"api_key": "sk-3"}})
    text = str(store.get_trajectory("t1"))
    assert "sk-2" not in text and "sk-3" not in text
    store.close()


def test_migrates_an_older_store_forward(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 0")
    db.close()
    store = TrajectoryStore(path)
    assert store.schema_version == SCHEMA_VERSION
    store.create_run("r", "Q", "plan", {})
    assert store.get_run("r")["status"] == "running"
    store.close()


def test_refuses_a_store_from_a_newer_deepstar(tmp_path):
    path = tmp_path / "new.sqlite"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer than this deepstar"):
        TrajectoryStore(path)


def test_a_damaged_file_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="junk.sqlite"):
        TrajectoryStore(path)


def test_unknown_run_is_a_clear_error(tmp_path):
    store = TrajectoryStore(tmp_path / "db.sqlite")
    with pytest.raises(RunNotFound, match="runs list"):
        store.get_run("nope")


def test_active_seconds_count_up_to_the_last_step_only(tmp_path):
    import time

    store = TrajectoryStore(tmp_path / "db.sqlite")
    store.create_run("r", "Q", "plan", {})
    assert store.active_seconds("r") == 0.0
    time.sleep(0.05)
    store.add_step("r", kind="llm", node="n", branch="b")
    first = store.active_seconds("r")
    time.sleep(0.1)  # time passing without steps (a killed run) does not count
    assert store.active_seconds("r") == first and first >= 0.05
    store.close()
