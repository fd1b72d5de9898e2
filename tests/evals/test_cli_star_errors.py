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
