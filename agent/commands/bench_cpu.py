"""`deepstar bench startup` and `deepstar bench research`: what a user on this CPU waits for.

- startup: the embedded server started on a free port in a scratch workspace that shares the
  prepared model, timed to its first healthy /health, stopped, and started again (the second
  start is what every later session sees: page cache warm, Python bytecode compiled).
- lora-ops: vLLM-CPU's reference LoRA ops against deepstar's grouped ones, in one run.
- research: one research run (react by default) on a healthy server, timed end to end, with
  every model call's prompt/completion tokens and latency from the run's own steps and the
  server's per-request queue / prefill / decode means over the run from vLLM's histograms.
"""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.commands._common import err_console

__all__ = ["lora_ops", "research_bench", "startup"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(data: dict[str, Any], out: Path | None) -> None:
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def startup(
    starts: Annotated[int, typer.Option(min=1, help="starts in a row (the first may find cold caches)")] = 2,
    dtype: Annotated[str | None, typer.Option("--dtype", help="auto, bf16 or fp32 (default: the config's)")] = None,
    out: Annotated[Path | None, typer.Option("--json", help="write the results here")] = None,
) -> None:
    """Seconds from `deepstar serve` to a healthy server, N starts in a row."""
    from agent.commands.bench import _report
    from agent.config import load_config
    from agent.runtime import server_spec
    from evals.bench_web import machine_info
    from reasoner.cpu import detect_cpu
    from reasoner.prepare import ensure_model
    from reasoner.server import start_server, stop_server

    cfg = load_config({"server_dtype": dtype} if dtype else {})
    model = ensure_model(cfg.models_dir, progress=lambda m: err_console.print(m))
    times: list[float] = []
    state = None
    with tempfile.TemporaryDirectory(prefix="deepstar-startup-") as scratch:
        scratch_cfg = load_config({"home": Path(scratch), "server_model_path": model,
                                   **({"server_dtype": dtype} if dtype else {})})
        for k in range(starts):
            spec = server_spec(scratch_cfg, port=_free_port())
            t0 = time.monotonic()
            state = start_server(spec, warn=lambda m: err_console.print(m))
            times.append(round(time.monotonic() - t0, 1))
            err_console.print(f"start {k + 1}: healthy after {times[-1]:.1f} s")
            stop_server(spec.state_path)
    cpu = detect_cpu()
    data = {"benchmark": "startup", "machine": {**machine_info(), "cpu": cpu.as_dict()}, "start_s": times,
            "dtype": state.dtype if state else None}
    _report("server start", [(f"start {k + 1}", f"{t:.1f} s") for k, t in enumerate(times)]
            + [("dtype / cpu class", f"{data['dtype']} / {cpu.cpu_class}{' (emulated)' if cpu.emulated else ''}")],
            data, out)


def research_bench(
    question: Annotated[str, typer.Argument(help="the question")] = "In what year was the Eiffel Tower completed?",
    mode: Annotated[str, typer.Option("--mode", help="react or plan")] = "react",
    model: Annotated[str | None, typer.Option("--model", help="model or adapter name")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1, help="model calls per run")] = None,
    out: Annotated[Path | None, typer.Option("--json", help="write the results here")] = None,
) -> None:
    """Wall time of one research run on a healthy server, and where its model calls' time went."""
    import httpx
    from rich.console import Console
    from rich.table import Table

    from agent.api import ResearchAgent
    from agent.config import load_config
    from agent.runtime import ensure_embedded_server
    from evals.bench_rollout import engine_breakdown, parse_prometheus
    from evals.bench_web import machine_info
    from reasoner.cpu import detect_cpu

    if mode not in ("react", "plan"):
        raise typer.BadParameter(f"{mode!r}: use react or plan", param_hint="--mode")
    cfg = load_config({k: v for k, v in {"mode": mode, "model": model, "max_steps": max_steps}.items() if v})
    state = ensure_embedded_server(cfg, log=lambda m: err_console.print(m)) if cfg.base_url is None else None
    root = (cfg.base_url or state.base_url).rstrip("/").removesuffix("/v1")

    async def main() -> dict[str, Any]:
        async with ResearchAgent(cfg, log=lambda m: None) as agent, httpx.AsyncClient(timeout=30, trust_env=False) as http:
            async def metrics() -> dict[str, float]:
                try:
                    resp = await http.get(f"{root}/metrics")
                except httpx.HTTPError:
                    return {}
                return parse_prometheus(resp.text) if resp.status_code == 200 else {}

            before = await metrics()
            t0 = time.monotonic()
            result = await agent.research(question, mode=mode)
            wall = time.monotonic() - t0
            after = await metrics()
            steps = await asyncio.to_thread(agent.store.steps, result.record["run_id"])
        calls = [{"node": s.get("node"), "prompt_tokens": s["prompt_tokens"], "completion_tokens": s["completion_tokens"],
                  "latency_s": round(s["latency_s"] or 0.0, 3)} for s in steps if s["kind"] == "llm"]
        tools = [s for s in steps if s["kind"] == "tool"]
        return {"benchmark": "research", "question": question, "mode": mode, "wall_s": round(wall, 2),
                "answer": result.answer, "citations": [c["url"] for c in result.citations], "error": result.error,
                "model_calls": calls, "tool_calls": len(tools),
                "tool_s": round(sum(s["latency_s"] or 0.0 for s in tools), 3),
                "model_s": round(sum(c["latency_s"] for c in calls), 3),
                "engine": engine_breakdown(after, before)}

    data = asyncio.run(main())
    cpu = detect_cpu()
    data["machine"] = {**machine_info(), "cpu": cpu.as_dict(), "server_dtype": state.dtype if state else None}
    table = Table(title=f"{mode} research run: {data['wall_s']:.1f} s, {len(data['model_calls'])} model calls, "
                        f"{data['tool_calls']} tool calls ({data['tool_s']:.1f} s)")
    for col in ("call", "node", "prompt tok", "completion tok", "latency"):
        table.add_column(col, justify="right")
    for k, c in enumerate(data["model_calls"], 1):
        table.add_row(str(k), str(c["node"] or ""), str(c["prompt_tokens"]), str(c["completion_tokens"]),
                      f"{c['latency_s']:.2f} s")
    Console().print(table)
    e = data["engine"]

    def ms(key: str) -> str:
        return "—" if e.get(key) is None else f"{1000 * e[key]:.0f} ms"

    def rate(key: str) -> str:
        return "—" if e.get(key) is None else f"{e[key]:.0f}"

    Console().print(f"server, per request: queue {ms('queue_s')}, first token {ms('ttft_s')}, prefill {ms('prefill_s')}"
                    f" at {rate('prefill_tokens_per_s')} tok/s, decode {ms('decode_s')} at "
                    f"{rate('decode_tokens_per_s')} tok/s; answer {data['answer']!r} citing {data['citations']}")
    _write(data, out)


def lora_ops(
    tokens: Annotated[list[int] | None, typer.Option("--tokens", help="batch rows (tokens) to time; repeatable")] = None,
    rank: Annotated[int, typer.Option(min=1, help="LoRA rank")] = 8,
    repeats: Annotated[int, typer.Option(min=1, help="timed repetitions per size")] = 10,
    dtype: Annotated[str, typer.Option(help="bf16 or fp32")] = "bf16",
    out: Annotated[Path | None, typer.Option("--json", help="write the results here")] = None,
) -> None:
    """vLLM-CPU's LoRA ops, its reference against deepstar's grouped ones (reasoner/vllm_site),
    on the bundled model's largest projection (640 -> 2048): one shrink and one expand per row
    count, both in one run. A prefill chunk is up to 2,048 rows; a decode step one per request."""

    import torch

    from agent.commands.bench import _report
    from evals.bench_web import machine_info
    from reasoner.cpu import detect_cpu
    from reasoner.vllm_site import deepstar_lora_ops as grouped

    try:
        from vllm.lora.ops.torch_ops import lora_ops as reference
    except ImportError as exc:
        raise typer.BadParameter(f"vLLM's LoRA ops are not importable ({exc}); install the cpu extra") from exc
    ref = {name: getattr(reference, f"reference_{name}", getattr(reference, name)) for name in grouped.OPS}
    if dtype not in ("bf16", "fp32"):
        raise typer.BadParameter(f"--dtype must be bf16 or fp32, got {dtype!r}")
    torch_dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
    rows_out = []
    for n in tokens or [1, 16, 256, 2048]:
        x = torch.randn(n, 640, dtype=torch_dtype)
        a = torch.randn(4, 1, rank, 640, dtype=torch_dtype)
        b = torch.randn(4, 1, 2048, rank, dtype=torch_dtype)
        idx = torch.zeros(n, dtype=torch.long)
        h = torch.zeros(n, rank, dtype=torch_dtype)
        y = torch.zeros(n, 2048, dtype=torch_dtype)
        timing = {}
        for label, shrink, expand in (("reference", ref["bgmv_shrink"], ref["bgmv_expand"]),
                                      ("grouped", grouped.bgmv_shrink, grouped.bgmv_expand)):
            shrink(x, a, h, idx, 1.0)
            expand(h, b, y, idx, True)  # warm-up
            t0 = time.perf_counter()
            for _ in range(repeats):
                shrink(x, a, h, idx, 1.0)
                expand(h, b, y, idx, True)
            timing[label] = (time.perf_counter() - t0) / repeats * 1000
        rows_out.append({"tokens": n, "reference_ms": round(timing["reference"], 3),
                         "grouped_ms": round(timing["grouped"], 3),
                         "speedup": round(timing["reference"] / timing["grouped"], 2) if timing["grouped"] else None})
    cpu = detect_cpu()
    data = {"benchmark": "lora_ops", "machine": {**machine_info(), "cpu": cpu.as_dict()}, "dtype": dtype,
            "rank": rank, "shape": [640, 2048], "repeats": repeats, "rows": rows_out}
    _report(f"LoRA shrink+expand, 640->2048, rank {rank}, {dtype}, cpu class {cpu.cpu_class}",
            [(f"{r['tokens']} tokens", f"{r['reference_ms']:.2f} ms -> {r['grouped_ms']:.2f} ms (x{r['speedup']})")
             for r in rows_out], data, out)

