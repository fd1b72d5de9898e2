"""`deepstar bench faults [--json OUT] [--only NAME,...]`: inject every fault and attack
scenario (`agent.faults`) into real deepstar processes and count what survived.

The table has one row per scenario: what was injected, runs completed or resumed (of
those attempted), steps lost (must be 0) and forbidden requests made (must be 0). The
scenarios need the prepared bundled model and the embedded vLLM server of the workspace
(started if needed, left running); `vllm_killed` starts and kills a second server of its
own on another port. The command exits 1 when any scenario is not ok.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agent.commands._common import err_console, server_progress

__all__ = ["faults", "run_scenarios"]


def run_scenarios(names: list[str] | None, scratch: Path, *, home: Path, base_url: str | None,
                  model: str | None, log=err_console.print) -> list[dict[str, Any]]:
    """Run the named scenarios (all when None), each in a workspace of its own under `scratch`."""
    from agent.faults import FaultContext, ScenarioResult, all_scenarios

    chosen = [s for s in all_scenarios() if names is None or s.__name__ in names]
    rows = []
    for i, scenario in enumerate(chosen, 1):
        name = scenario.__name__
        log(f"[{i}/{len(chosen)}] {name}")
        ctx = FaultContext(home=scratch / name, server_home=home, base_url=base_url, model=model,
                           log=lambda m: log(f"  {m.strip()}"))
        ctx.home.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        try:
            result = asyncio.run(scenario(ctx))
        except Exception as exc:  # one broken scenario is a failed row, not a lost report
            result = ScenarioResult(name, "the scenario itself failed", runs=1,
                                    detail=f"{type(exc).__name__}: {exc}")
        row = {**result.as_dict(), "function": name, "wall_s": round(time.monotonic() - t0, 1)}
        log(f"  {'ok' if row['ok'] else 'NOT OK'}: {row['completed']}/{row['runs']} completed, "
            f"{row['steps_lost']} steps lost, {row['forbidden_requests']} forbidden requests, "
            f"{row['wall_s']:.0f} s — {row['detail'][:300]}")
        rows.append(row)
    return rows


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="deepstar bench faults")
    for column, justify in (("scenario", "left"), ("injected", "left"), ("runs completed/resumed", "right"),
                            ("steps lost", "right"), ("forbidden requests", "right"), ("ok", "center"),
                            ("wall s", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(r["scenario"], r["injected"], f"{r['completed']}/{r['runs']}", str(r["steps_lost"]),
                      str(r["forbidden_requests"]), "yes" if r["ok"] else "NO", f"{r['wall_s']:.0f}")
    return table


def faults(
    only: Annotated[str | None, typer.Option("--only", help="comma-separated scenario names (default: all)")] = None,
    out: Annotated[Path | None, typer.Option("--json", help="write the results here")] = None,
    scratch: Annotated[Path | None, typer.Option("--scratch", help="where the scenarios' workspaces go "
                                                 "(default: a temporary directory, removed afterwards)")] = None,
    list_only: Annotated[bool, typer.Option("--list", help="print the scenario names and exit")] = False,
) -> None:
    """Inject faults and attacks into real deepstar processes: runs survived, steps lost, forbidden requests."""
    from agent.config import load_config
    from agent.faults import scenario_names
    from agent.runtime import BUNDLED_NAME, ensure_embedded_server
    from evals.bench_web import machine_info

    known = scenario_names()
    if list_only:
        typer.echo("\n".join(known))
        return
    names = None
    if only:
        names = [n.strip() for n in only.split(",") if n.strip()]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise typer.BadParameter(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(known)}",
                                     param_hint="--only")
    cfg = load_config({})
    state = ensure_embedded_server(cfg, progress=server_progress(), log=lambda m: err_console.print(m))
    work = scratch or Path(tempfile.mkdtemp(prefix="deepstar-faults-"))
    t0 = time.monotonic()
    try:
        # the bundled base model: each scenario's own default (the prompt-injection scenario
        # then runs the shipped trained reasoner, the others the base model)
        model = None if state.model == BUNDLED_NAME else state.model
        rows = run_scenarios(names, work, home=cfg.home, base_url=state.base_url, model=model)
    finally:
        if scratch is None:
            shutil.rmtree(work, ignore_errors=True)
    data = {"benchmark": "faults", "machine": machine_info(), "base_url": state.base_url, "model": state.model,
            "wall_s": round(time.monotonic() - t0, 1), "ok": all(r["ok"] for r in rows), "scenarios": rows}
    Console(width=max(140, Console().width)).print(_table(rows))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        err_console.print(f"wrote {out}")
    if not data["ok"]:
        raise typer.Exit(1)
