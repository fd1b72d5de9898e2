"""`deepstar serve`, `deepstar serve --status`, `deepstar serve --stop`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from agent.commands._common import ConfigOpt, HomeOpt, build_config, err_console, server_progress
from agent.runtime import server_spec
from reasoner.cpu import CpuInfo, choose_dtype, detect_cpu
from reasoner.errors import ModelNotPrepared
from reasoner.prepare import ensure_model
from reasoner.server import server_status, start_server, stop_server, sync_adapters


def _cpu_line(cpu: CpuInfo) -> str:
    emulated = f", emulated on {cpu.hardware_class}" if cpu.emulated else ""
    return (f"{cpu.model}, {cpu.cores} cores, class {cpu.cpu_class}{emulated}, "
            f"auto dtype {choose_dtype('auto', cpu)}")


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        model: Path | None = typer.Option(None, "--model", help="checkpoint directory to serve (default: the bundled model)"),
        port: int | None = typer.Option(None, "--port", help="port (default 8011)"),
        host: str | None = typer.Option(None, "--host", help="bind address (default 127.0.0.1)"),
        allow_public: bool = typer.Option(False, "--allow-public", help="allow binding beyond loopback"),
        enable_lora: bool = typer.Option(True, "--enable-lora/--no-lora", help="LoRA adapters, loadable at run time"),
        dtype: str | None = typer.Option(None, "--dtype", help="auto (bf16 where the CPU has native bf16, else fp32), "
                                         "bf16 or fp32 (default: the config's server_dtype, auto)"),
        status: bool = typer.Option(False, "--status", help="report the recorded server and exit"),
        stop: bool = typer.Option(False, "--stop", help="stop the recorded server and its children"),
        as_json: bool = typer.Option(False, "--json", help="machine-readable output for --status"),
        home: Path | None = HomeOpt,
        config: Path | None = ConfigOpt,
    ) -> None:
        """Start the local vLLM server (reused if already running) and return when it is healthy."""
        cfg = build_config(config, home=home, server_host=host, server_dtype=dtype)
        if status:
            state, st = server_status(cfg.server_state_path)
            cpu = detect_cpu()
            if as_json:
                typer.echo(json.dumps({"status": st, **(state.__dict__ if state else {}),
                                       "base_url": state.base_url if state else None,
                                       "cpu": cpu.as_dict(), "auto_dtype": choose_dtype("auto", cpu)}))
            elif state is None:
                typer.echo(f"no deepstar vLLM server is recorded (stopped); this CPU: {_cpu_line(cpu)}")
            else:
                computes = f", {state.dtype}" if state.dtype else ""
                adapters = f", adapters {', '.join(state.adapters)}" if state.adapters else ""
                typer.echo(f"{st}: {state.model}{adapters} at {state.base_url} (pid {state.pid}, {state.device}{computes}, "
                           f"model {state.model_path}, log {state.log_path}); this CPU: {_cpu_line(cpu)}")
            raise typer.Exit(0 if st == "healthy" else 1)
        if stop:
            state = stop_server(cfg.server_state_path)
            typer.echo("no server was recorded" if state is None else f"stopped the server (pid {state.pid})")
            return
        if model is None and cfg.server_model_path is None:
            ensure_model(cfg.models_dir, progress=lambda m: err_console.print(m))
        if model is not None and not model.exists():
            raise ModelNotPrepared(f"--model {model}: the path does not exist (give a Hugging Face checkpoint directory)")
        spec = server_spec(cfg, model_path=model, port=port, enable_lora=enable_lora, allow_public=allow_public,
                           note=lambda m: err_console.print(m))
        state = start_server(spec, progress=server_progress(), warn=lambda m: err_console.print(m))
        if state.model == spec.served_name:  # a server found running: give it what registered since
            sync_adapters(state, spec.lora_modules, cfg.server_state_path)
        adapters = f", adapters {', '.join(state.adapters)}" if state.adapters else ""
        typer.echo(f"serving {state.model}{adapters} at {state.base_url} (pid {state.pid}, log {state.log_path})")

    del serve
