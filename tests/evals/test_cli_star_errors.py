"""`deepstar star` user errors: one line with the fix, exit 2, no traceback, nothing started."""

from __future__ import annotations

import json

from tests.conftest import deepstar


def test_seed_baseline_before_the_loop_ran_is_one_line(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": f"t{i}", "question": f"q{i}?", "answers": ["a"], "split": split}) + "\n"
                             for i, split in enumerate(["train", "dev"])), encoding="utf-8")
    out = tmp_path / "star"
    proc = deepstar("star", "--train", str(tasks), "--dev", str(tasks), "--out", str(out), "--baseline", "seed",
                    home=tmp_path / "home", timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "ValueError" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no seed adapter" in lines[0] and "without --baseline" in lines[0]
    assert not (tmp_path / "home" / "server.json").exists()  # no server was started for it


def _tasks(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_human_questions_that_are_also_training_tasks_are_refused(tmp_path):
    rows = [{"id": "t0", "question": "How tall is the tower?", "answers": ["300 m"], "split": "train"},
            {"id": "d0", "question": "Who built it?", "answers": ["Eiffel"], "split": "dev"}]
    tasks = _tasks(tmp_path / "tasks.jsonl", rows)
    human = _tasks(tmp_path / "human.jsonl", [{"id": "h0", "question": "how tall is the tower? ", "answers": ["300 m"]}])
    proc = deepstar("star", "--train", str(tasks), "--dev", str(tasks), "--out", str(tmp_path / "star"),
                    "--human", str(human), home=tmp_path / "home", timeout=120)
    assert proc.returncode == 2 and "never trained on" in proc.stderr and "Traceback" not in proc.stderr
    proc = deepstar("star", "--train", str(tasks), "--dev", str(tasks), "--out", str(tmp_path / "star"),
                    "--final-test", home=tmp_path / "home", timeout=120)
    assert proc.returncode == 2 and "--test FILE" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "home" / "server.json").exists()


def test_an_unknown_mode_is_refused_before_anything_starts(tmp_path):
    tasks = _tasks(tmp_path / "tasks.jsonl", [{"id": "t0", "question": "Q?", "answers": ["a"], "split": "train"},
                                              {"id": "d0", "question": "D?", "answers": ["a"], "split": "dev"}])
    proc = deepstar("star", "--train", str(tasks), "--dev", str(tasks), "--out", str(tmp_path / "star"),
                    "--mode", "auto", home=tmp_path / "home", timeout=120)
    assert proc.returncode == 2 and "use react or plan" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "home" / "server.json").exists()
