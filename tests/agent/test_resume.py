"""Kill -9 a research process mid-research, resume it, lose nothing, redo nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from agent.store import TrajectoryStore
from tests.conftest import REPO, deepstar
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.integration


def _checkpointed(path, run_id: str, text: bytes, timeout: float = 120) -> bool:
    """Whether a task's write holding `text` reaches the LangGraph checkpoint of the run."""
    import sqlite3

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            db = sqlite3.connect(str(path), timeout=30)
            try:
                rows = db.execute("SELECT value FROM writes WHERE thread_id = ? AND channel != '__pregel_tasks'",
                                  (run_id,)).fetchall()
            except sqlite3.OperationalError:  # no tables yet
                rows = []
            finally:
                db.close()
            if any(value and text in value for (value,) in rows):
                return True
        time.sleep(0.1)
    return False


def test_kill_9_mid_research_then_resume_completes_without_redoing_branches(tmp_path):
    fake = FakeOpenAI(plan=["When was the Eiffel Tower completed?", "Who designed the Statue of Liberty?"],
                      answers={"Eiffel": "1889", "Liberty": "Frédéric Auguste Bartholdi"},
                      delays={"Liberty": 600.0}, final_answer="1889")
    with fake:
        env = {**os.environ, "DEEPSTAR_HOME": str(tmp_path)}
        proc = subprocess.Popen([sys.executable, "-m", "agent", "research",
                                     "When was the Eiffel Tower completed, and who designed the Statue of Liberty?",
                                 "--base-url", fake.url, "--mode", "plan"], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        db = tmp_path / "deepstar.db"
        deadline = time.monotonic() + 120
        run_id, before = None, []
        while time.monotonic() < deadline:  # wait until branch q0 has answered
            time.sleep(0.3)
            if not db.exists():
                continue
            store = TrajectoryStore(db)
            runs = store.list_runs()
            if runs:
                run_id = runs[0]["id"]
                before = store.steps(run_id)
            store.close()
            answered = [s for s in before if s["branch"] == "q0" and s["kind"] == "llm"
                        and "answer" in json.dumps(s["output"])]
            if answered:
                break
        assert run_id and answered, proc.stderr.read().decode() if proc.poll() is not None else "q0 never answered"
        # the branch's result reaches the checkpoint a moment after its step: wait for it
        assert _checkpointed(tmp_path / "checkpoints.db", run_id, b"1889"), "q0's result was never checkpointed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

        store = TrajectoryStore(db)
        assert store.get_run(run_id)["status"] == "running"  # killed: nobody marked it
        before = store.steps(run_id)
        store.close()
        q0_calls = [s for s in before if s["branch"] == "q0"]

        fake.delays = {}  # the slow branch answers now
        done = deepstar("runs", "resume", run_id, "--json", home=tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        assert out["trajectory_id"] == run_id and out["answer"] == "1889"

    store = TrajectoryStore(db)
    after = store.steps(run_id)
    run = store.get_run(run_id)
    record = store.get_trajectory(run_id)
    store.close()
    assert run["status"] == "done" and run["attempts"] == 2
    # no step lost: everything committed before the kill is still there, unchanged
    kept = {s["id"]: s for s in after}
    assert all(s["id"] in kept and kept[s["id"]]["output"] == s["output"] for s in before)
    # the finished branch was not redone: no q0 step in the second attempt
    assert [s for s in after if s["branch"] == "q0" and s["attempt"] == 2] == []
    assert len([s for s in after if s["branch"] == "q0"]) == len(q0_calls)
    assert [s for s in after if s["branch"] == "q1" and s["attempt"] == 2]
    assert {s["id"]: s["status"] for s in record["plan"]} == {"q0": "done", "q1": "done"}
