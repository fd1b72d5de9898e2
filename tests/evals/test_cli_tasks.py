from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from agent.commands import tasks as tasks_command


def test_tasks_synth_writes_jsonl_and_report(tmp_path):
    app = typer.Typer()
    tasks_command.register(app)

    @app.callback()
    def _root() -> None:  # keep `tasks` a sub-command even when it is the only one
        pass

    out = tmp_path / "tasks.jsonl"
    result = CliRunner().invoke(app, ["tasks", "synth", "--n", "40", "--seed", "2", "--out", str(out), "--report"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 40 and all({"id", "question", "answers"} <= set(r) for r in rows)
    assert "by split" in result.output and "wrote 40 tasks" in result.output
