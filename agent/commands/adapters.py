"""`deepstar adapters list | load DIR [--name N] | promote RUN_DIR [--iteration I] | remove NAME | ship RUN_DIR`.

A workspace's adapters live in `$DEEPSTAR_HOME/adapters/` (reasoner/registry.py); the
embedded server loads every one of them at start, and `load` / `promote` also hot-load
into a running server. `promote` makes a STaR run's adapter the workspace's default
reasoner; `ship` installs it as the package's shipped one (`deepstar-reasoner`, with its
model card), which is what a fresh workspace gets by default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from agent.commands._common import ConfigOpt, HomeOpt, build_config, err_console
from agent.config import AgentConfig
from agent.runtime import (
    BUNDLED_NAME,
    SHIPPED_NAME,
    default_reasoner,
    served_name,
    shipped_reasoner,
)
from reasoner.adapters import check_adapter
from reasoner.errors import AdapterError
from reasoner.registry import AdapterEntry, AdapterRegistry
from reasoner.server import ServerSpec, served_models, server_status, sync_adapters

__all__ = ["register"]


def _base_of(adapter_dir: Path) -> str | None:
    """The served name of the base an adapter was trained on (what `server_spec` names it)."""
    base = check_adapter(adapter_dir).get("base_model_name_or_path")
    return Path(str(base)).name if base else None


def _check_rank(adapter_dir: Path) -> None:
    rank = int(check_adapter(adapter_dir).get("r") or 0)
    limit = ServerSpec.__dataclass_fields__["max_lora_rank"].default
    if rank > limit:
        raise AdapterError(f"{adapter_dir} is a rank-{rank} LoRA; the embedded server serves ranks up to {limit}: "
                           "train it with a smaller rank")


def _hot_load(cfg: AgentConfig, entry: AdapterEntry, *, replace: bool) -> str:
    """Load the adapter into the running embedded server, if one runs; a line saying what happened."""
    state, status = server_status(cfg.server_state_path)
    if state is None or status != "healthy":
        return "no server is running: `deepstar serve` will load it at start"
    if not state.lora:
        return f"the running server (pid {state.pid}) has LoRA disabled: restart it with `deepstar serve --enable-lora`"
    if entry.base_model not in (None, state.model):
        return f"the running server serves {state.model}, not {entry.base_model}: not loaded there"
    if replace and entry.name in served_models(state):
        import httpx

        httpx.post(f"{state.base_url}/unload_lora_adapter", json={"lora_name": entry.name}, timeout=60)
        state.adapters = [a for a in state.adapters if a != entry.name]
    loaded = sync_adapters(state, ((entry.name, str(entry.path)),), cfg.server_state_path)
    return f"loaded into the running server at {state.base_url}" if loaded else f"already served at {state.base_url}"


def _register(cfg: AgentConfig, adapter_dir: Path, name: str, *, source: str, replace: bool) -> AdapterEntry:
    _check_rank(adapter_dir)
    registry = AdapterRegistry(cfg.adapters_dir)
    return registry.add(name, adapter_dir, source=source, base_model=_base_of(adapter_dir),
                        reserved=(BUNDLED_NAME, SHIPPED_NAME, served_name(cfg)), replace=replace)


def _rows(cfg: AgentConfig) -> list[dict[str, Any]]:
    default = default_reasoner(cfg).name
    state, status = server_status(cfg.server_state_path)
    served = set(served_models(state)) if state is not None and status == "healthy" else set()
    rows = []
    shipped = shipped_reasoner(cfg)
    if shipped is not None:
        rows.append({"name": SHIPPED_NAME, "kind": "shipped", "base_model": shipped.card["base_model"].get("name"),
                     "sha256": shipped.sha256, "path": str(shipped.path),
                     "source": f"iteration {shipped.card['source'].get('iteration')} of {shipped.card['source'].get('run_dir')}"})
    for e in AdapterRegistry(cfg.adapters_dir).entries():
        rows.append({"name": e.name, "kind": "registered", "base_model": e.base_model, "sha256": e.sha256,
                     "path": str(e.path), "source": e.source})
    base = served_name(cfg)
    rows.append({"name": base, "kind": "base", "base_model": None, "sha256": None, "path": None, "source": "base model"})
    for r in rows:
        r["default"] = r["name"] == default
        r["served"] = r["name"] in served if served else None
    return rows


def register(app: typer.Typer) -> None:
    adapters_app = typer.Typer(help="LoRA adapters: the shipped reasoner and the workspace's own.", no_args_is_help=True)

    @adapters_app.command("list")
    def list_adapters(as_json: bool = typer.Option(False, "--json", help="one JSON list"),
                      home: Path | None = HomeOpt, config: Path | None = ConfigOpt) -> None:
        """The shipped reasoner, the registered adapters and the base; which is the default, which are served."""
        cfg = build_config(config, home=home)
        rows = _rows(cfg)
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        table = Table("", "name", "kind", "base", "sha256", "served", "source")
        for r in rows:
            table.add_row("*" if r["default"] else "", r["name"], r["kind"], r["base_model"] or "—",
                          (r["sha256"] or "—")[:12], {True: "yes", False: "no", None: "—"}[r["served"]], r["source"])
        Console(width=160).print(table)
        if not any(r["kind"] == "shipped" for r in rows):
            err_console.print("no trained reasoner is shipped in this installation (`deepstar adapters ship RUN_DIR`)")
        err_console.print("* the default model of research, eval and the Python API on the embedded server")

    @adapters_app.command("load")
    def load(
        adapter: Path = typer.Argument(..., help="a LoRA adapter directory (adapter_config.json + adapter_model.safetensors)"),
        name: str | None = typer.Option(None, "--name", help="the name it is served under (default: the directory's name)"),
        replace: bool = typer.Option(False, "--replace", help="replace an adapter registered under the same name"),
        home: Path | None = HomeOpt, config: Path | None = ConfigOpt,
    ) -> None:
        """Register an adapter in the workspace (copied in) and load it into the running server."""
        cfg = build_config(config, home=home)
        entry = _register(cfg, adapter, name or adapter.resolve().name, source=str(adapter.resolve()), replace=replace)
        typer.echo(f"registered adapter {entry.name!r} ({entry.sha256[:12]}, base {entry.base_model or 'any'}); "
                   + _hot_load(cfg, entry, replace=replace))

    @adapters_app.command("promote")
    def promote(
        run_dir: Path = typer.Argument(..., help="a `deepstar star --out DIR` run directory"),
        iteration: int | None = typer.Option(None, "--iteration", min=0, help="iteration (0: the seed adapter; default: the best on dev)"),
        name: str | None = typer.Option(None, "--name", help="the name it is served under (default: the run's name for it)"),
        home: Path | None = HomeOpt, config: Path | None = ConfigOpt,
    ) -> None:
        """Make a STaR run's adapter this workspace's default reasoner (registered and loaded)."""
        from evals.shipping import choose

        cfg = build_config(config, home=home)
        choice = choose(run_dir, iteration)
        entry = _register(cfg, choice.adapter_dir, name or choice.model,
                          source=f"iteration {choice.iteration} of {run_dir.resolve()}", replace=True)
        AdapterRegistry(cfg.adapters_dir).set_default(entry.name)
        em = choice.dev.get("overall", {}).get("em")
        typer.echo(f"promoted {entry.name!r} (iteration {choice.iteration}, {choice.chosen_by}; dev EM "
                   f"{em if em is None else f'{em:.3f}'}) to the workspace default; " + _hot_load(cfg, entry, replace=True))

    @adapters_app.command("remove")
    def remove(name: str = typer.Argument(..., help="a registered adapter's name"),
               home: Path | None = HomeOpt, config: Path | None = ConfigOpt) -> None:
        """Unregister an adapter and delete its copy (a running server keeps serving it until it restarts)."""
        cfg = build_config(config, home=home)
        registry = AdapterRegistry(cfg.adapters_dir)
        was_default = registry.default == name
        registry.remove(name)
        typer.echo(f"removed adapter {name!r}" + (f"; the default is now {default_reasoner(cfg).name}"
                                                   if was_default else ""))

    @adapters_app.command("ship")
    def ship(
        run_dir: Path = typer.Argument(..., help="a `deepstar star --out DIR` run directory"),
        iteration: int | None = typer.Option(None, "--iteration", min=0, help="iteration (0: the seed adapter; default: the best on dev)"),
        out: Path | None = typer.Option(None, "--out", help="where to write it (default: the package's reasoner/shipped/deepstar-reasoner)"),
        default_mode: str | None = typer.Option(None, "--default-mode", help="plan | react (default: the mode the run measured it in)"),
        focus_reading: bool | None = typer.Option(None, "--focus-reading/--no-focus-reading", help="the focus_reading setting the run was trained and measured with, for a run whose config.json does not record it (default: the run's record)"),
        answer_spans: bool | None = typer.Option(None, "--answer-spans/--no-answer-spans", help="serve it with answer-span selection (measured so, e.g. by `deepstar eval` with DEEPSTAR_ANSWER_SPANS=true; default: the run's record)"),
        subject_page_answers: bool | None = typer.Option(None, "--subject-page-answers/--no-subject-page-answers", help="serve it answering a typed question on its subject's own page (default: the run's record)"),
        served_eval: list[str] | None = typer.Option(None, "--served-eval", help="SPLIT=SUMMARY.json: a `deepstar eval` of this adapter with the card's research settings (e.g. dev=spans_dev.json), added to the card's results; repeatable"),
        home: Path | None = HomeOpt, config: Path | None = ConfigOpt,
    ) -> None:
        """Install a STaR run's adapter as the shipped reasoner `deepstar-reasoner`, with its model card."""
        from evals.shipping import build_card, choose
        from reasoner.shipped_reasoner import default_shipped_dir, write_shipped

        if default_mode not in (None, "plan", "react"):
            raise typer.BadParameter(f"{default_mode!r} is not plan or react", param_hint="--default-mode")
        cfg = build_config(config, home=home)
        choice = choose(run_dir, iteration)
        given = {k: v for k, v in (("focus_reading", focus_reading), ("answer_spans", answer_spans),
                                              ("subject_page_answers", subject_page_answers)) if v is not None}
        served: dict[str, Path] = {}
        for item in served_eval or []:
            split, sep, path = item.partition("=")
            if not sep or not split or not path:
                raise typer.BadParameter(f"{item!r}: write SPLIT=SUMMARY.json (e.g. dev=eval.json)", param_hint="--served-eval")
            if not Path(path).is_file():
                raise typer.BadParameter(f"{path}: no such file", param_hint="--served-eval")
            served[split] = Path(path)
        card = build_card(choice, base_model=BUNDLED_NAME, default_mode=default_mode, research=given,
                          served_evals=served)
        if "focus_reading" not in card["research"]:
            err_console.print(f"{run_dir} does not record the research settings it ran with (an older run): the card "
                              "says none, so the reasoner is served with the defaults; pass --no-focus-reading if it "
                              "ran with DEEPSTAR_FOCUS_READING=false")
        target = out or cfg.shipped_reasoner or default_shipped_dir()
        shipped = write_shipped(choice.adapter_dir, target, card)
        size = sum(f["bytes"] for f in shipped.card["files"].values())
        typer.echo(f"shipped iteration {choice.iteration} of {run_dir} ({choice.chosen_by}) as {SHIPPED_NAME} at "
                   f"{shipped.path}: {size / 1e6:.1f} MB, adapter SHA-256 {shipped.sha256[:16]}…; "
                   "the embedded server loads it on its next use")

    del list_adapters, load, promote, remove, ship
    app.add_typer(adapters_app, name="adapters")
