from __future__ import annotations

import json

import pytest
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


def test_tasks_synth_exclude_keeps_held_out_articles_out(tmp_path):
    app = typer.Typer()
    tasks_command.register(app)

    @app.callback()
    def _root() -> None:
        pass

    held_out = tmp_path / "held_out.jsonl"
    held_out.write_text(json.dumps({"id": "h1", "question": "Which is longer, the Volga or the Lena River?",
                                    "answers": ["Lena River"], "supporting_titles": ["Volga", "Lena River"]}) + "\n")
    out, plain = tmp_path / "tasks.jsonl", tmp_path / "plain.jsonl"
    for args in (["--out", str(plain)], ["--out", str(out), "--exclude", str(held_out)]):
        result = CliRunner().invoke(app, ["tasks", "synth", "--seed", "0", *args])
        assert result.exit_code == 0, result.output
    titles = [set(json.loads(line)["supporting_titles"]) for line in plain.read_text(encoding="utf-8").splitlines()]
    assert any(t & {"Volga", "Lena River"} for t in titles)  # without --exclude they are asked about
    titles = [set(json.loads(line)["supporting_titles"]) for line in out.read_text(encoding="utf-8").splitlines()]
    assert titles and not any(t & {"Volga", "Lena River"} for t in titles)


@pytest.mark.integration
def test_tasks_demos_cli_against_the_real_wiki(tmp_path):
    from agent.cli import app

    tasks_file = tmp_path / "tasks.jsonl"
    result = CliRunner().invoke(app, ["tasks", "synth", "--n", "30", "--seed", "4", "--out", str(tasks_file)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "demos.jsonl"
    result = CliRunner().invoke(app, ["tasks", "demos", "--tasks", str(tasks_file), "--out", str(out), "--limit", "6"],
                                env={"DEEPSTAR_HOME": str(tmp_path / "home")})
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert "wrote" in result.output and 5 <= len(rows) <= 6
    assert all(r["success"] and r["source"] == "demonstration" and r["snapshots"] for r in rows)


def test_eval_cli_runs_the_agent_through_the_harness(tmp_path, monkeypatch):
    import agent
    from agent.cli import app

    class FakeAgent:
        def __init__(self, cfg) -> None:
            self.cfg = cfg

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc) -> None:
            return None

        async def research(self, question, *, task=None, **kw):
            seen.append(kw)
            page = "http://wiki.test/wiki/X"
            record = {"id": f"t-{task['id']}", "final_answer": task["answers"][0], "messages": [],
                      "citations": [{"n": 1, "url": page, "title": "X", "snippet": task["answers"][0]}],
                      "usage": {"prompt_tokens": 5, "completion_tokens": 1}, "latency_s": 0.1, "error": None,
                      "snapshots": {page: f"text {task['answers'][0]} text"}}
            return type("Result", (), {"record": record})()

    seen: list[dict] = []
    monkeypatch.setattr(agent, "ResearchAgent", FakeAgent)
    tasks_file = tmp_path / "tasks.jsonl"
    tasks_file.write_text("".join(json.dumps({"id": f"q{i}", "question": f"Question {i}?", "answers": [str(1900 + i)],
                                              "kind": "single"}) + "\n" for i in range(3)))
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(app, ["eval", "--tasks", str(tasks_file), "--out", str(out), "--mode", "react",
                                      "--base-url", "http://127.0.0.1:9/v1"], env={"DEEPSTAR_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert summary["overall"]["em"] == 1.0 and summary["overall"]["n"] == 3
    assert summary["config"]["mode"] == "react" and summary["config"]["tasks_file"] == str(tasks_file)
    assert len(out.with_suffix(".jsonl").read_text().splitlines()) == 3
    # --split keeps only that split's tasks
    tasks_file.write_text("".join(json.dumps({"id": f"s{i}", "question": f"Q {i}?", "answers": ["x"], "kind": "single",
                                              "split": "dev" if i % 2 else "train"}) + "\n" for i in range(4)))
    out2 = tmp_path / "dev.json"
    result = CliRunner().invoke(app, ["eval", "--tasks", str(tasks_file), "--split", "dev", "--out", str(out2),
                                      "--base-url", "http://127.0.0.1:9/v1"], env={"DEEPSTAR_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert json.loads(out2.read_text())["overall"]["n"] == 2
    assert seen and all(kw == {} for kw in seen)  # no exemplars unless asked

    # --fewshot: the demonstrations' first trajectories go to every run as exemplars
    demo = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "Who built X?"},
                         {"role": "assistant", "content": "", "tool_calls": [
                             {"function": {"name": "search", "arguments": '{"query":"X"}'}}]},
                         {"role": "tool", "content": "X was built by Y."}]}
    demos = tmp_path / "demos.jsonl"
    demos.write_text(json.dumps(demo) + "\n" + json.dumps({**demo, "messages": demo["messages"][:2]}) + "\n")
    seen.clear()
    out3 = tmp_path / "fewshot.json"
    result = CliRunner().invoke(app, ["eval", "--tasks", str(tasks_file), "--out", str(out3), "--fewshot", str(demos),
                                      "--fewshot-n", "2", "--base-url", "http://127.0.0.1:9/v1"],
                                env={"DEEPSTAR_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    exemplars = seen[0]["sampling"]["exemplars"]
    assert "Who built X?" in exemplars and '<tool_call>{"name":"search","arguments":{"query":"X"}}</tool_call>' in exemplars
    assert json.loads(out3.read_text())["config"]["fewshot"] == {"file": str(demos), "n": 2}
    # bad demonstration files are named, with the line: a TaskFileError (the CLI's entry point
    # turns it into exit 2), or a usage error for too few demonstrations
    from evals.errors import TaskFileError

    def run_with(content: str):
        demos.write_text(content)
        return CliRunner().invoke(app, ["eval", "--tasks", str(tasks_file), "--out", str(out3), "--fewshot",
                                        str(demos), "--base-url", "http://127.0.0.1:9/v1"],
                                  env={"DEEPSTAR_HOME": str(tmp_path)})

    for content, why in (("{not json\n", "demos.jsonl line 1: invalid JSON"),
                         ('{"id": 1}\n', "demos.jsonl line 1: not a demonstration")):
        result = run_with(content)
        assert isinstance(result.exception, TaskFileError) and why in str(result.exception), result.output
    result = run_with(json.dumps(demo) + "\n")
    assert result.exit_code == 2 and "fewer than --fewshot-n 2" in " ".join(result.output.split()), result.output
