"""`deepstar runs list | show ID | resume ID`."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from agent.api import ResearchAgent
from agent.commands._common import ConfigOpt, HomeOpt, build_config, err_console, server_progress
from agent.errors import RunNotFound
from agent.progress import RunProgress
from agent.store import TrajectoryStore


def register(app: typer.Typer) -> None:
    runs_app = typer.Typer(help="Recorded research runs.", no_args_is_help=True)

    @runs_app.command("list")
    def list_runs(limit: int = typer.Option(50, "--limit"), as_json: bool = typer.Option(False, "--json"),
                  home: Path | None = HomeOpt, config: Path | None = ConfigOpt) -> None:
        """The most recent runs."""
        cfg = build_config(config, home=home)
        store = TrajectoryStore(cfg.db_path)
        rows = store.list_runs(limit)
        store.close()
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        table = Table("id", "status", "mode", "steps", "answer", "question", "created")
        for r in rows:
            table.add_row(r["id"], r["status"], r["mode"], str(r["steps"]), (r["answer"] or "")[:30],
                          r["question"][:60], time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created_at"])))
        if not rows:
            err_console.print("no runs recorded yet")
            return
        Console(width=max(120, Console().width)).print(table)

    @runs_app.command("show")
    def show(run_id: str, as_json: bool = typer.Option(False, "--json"),
             home: Path | None = HomeOpt, config: Path | None = ConfigOpt) -> None:
        """One run: its plan, every step, citations and usage."""
        cfg = build_config(config, home=home)
        store = TrajectoryStore(cfg.db_path)
        run = store.get_run(run_id)
        steps = store.steps(run_id)
        try:
            record = store.get_trajectory(run_id)
        except RunNotFound:  # an unfinished run has no trajectory yet
            record = None
        store.close()
        if as_json:
            typer.echo(json.dumps({"run": run, "steps": steps, "trajectory": record}, indent=2, default=str))
            return
        typer.echo(f"run {run['id']} · {run['status']} · mode {run['mode']} · {len(steps)} steps")
        typer.echo(f"question: {run['question']}")
        if run["error"]:
            typer.echo(f"error: {run['error']}")
        if record:
            if record.get("plan_error"):
                typer.echo(f"planning error (researched the question itself): {record['plan_error']}")
            for s in record["plan"]:
                after = f" (after {', '.join(s['depends_on'])})" if s.get("depends_on") else ""
                typer.echo(f"  [{s['status']}] {s['id']}: {s['text']}{after}")
        for s in steps:
            if s["kind"] == "llm":
                out = (s["output"] or {}).get("message", {})
                calls = ", ".join(c["function"]["name"] + c["function"]["arguments"] for c in out.get("tool_calls") or [])
                typer.echo(f"{s['seq']:4d} llm  {s['node']}/{s['branch']} {s['prompt_tokens']}+{s['completion_tokens']} tok "
                           f"{s['latency_s'] or 0:.2f}s {calls or (out.get('content') or '')[:80]!r}"
                           + (f" ERROR {s['error']}" if s["error"] else ""))
            else:
                typer.echo(f"{s['seq']:4d} tool {s['branch']} {s['name']}({json.dumps(s['input'])[:80]}) "
                           f"{'ok' if (s['output'] or {}).get('ok') else 'error: ' + str(s['error'])}")
        if record:
            typer.echo(f"answer: {record['final_answer']}")
            for c in record["citations"]:
                typer.echo(f"  [{c['n']}] {c['url']} supported={c.get('supported')}")
            typer.echo(f"usage: {record['usage']}")

    @runs_app.command("resume")
    def resume(run_id: str, as_json: bool = typer.Option(False, "--json"),
               out: Path | None = typer.Option(None, "--out"),
               home: Path | None = HomeOpt, config: Path | None = ConfigOpt) -> None:
        """Continue an interrupted run from its last checkpoint."""
        from agent.commands.research import emit_result

        cfg = build_config(config, home=home)
        store = TrajectoryStore(cfg.db_path)
        run = store.get_run(run_id)
        store.close()
        saved = run["config"]
        # a URL stored with its password redacted (user:***@) comes from the current config instead
        overrides = {k: saved[k] for k in ("base_url", "web", "searxng_url", "mode", "max_steps")
                     if saved.get(k) and ":***@" not in str(saved[k])}
        cfg = build_config(config, home=home, **overrides)
        agent = ResearchAgent(cfg, log=lambda m: err_console.print(m), server_progress=server_progress())
        with RunProgress() as progress:
            result = asyncio.run(agent.resume(run_id, emit=progress))
        emit_result(result, as_json=as_json, out=out)

    app.add_typer(runs_app, name="runs")

