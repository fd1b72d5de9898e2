"""`deepstar bench rollout`: research runs at once against one vLLM server, against the
server's own limit for the same load (see evals/bench_rollout.py)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agent.commands._common import err_console

__all__ = ["rollout", "run_rollout_bench"]


def _levels(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(sorted({int(c) for c in text.split(",") if c.strip()}))
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give comma-separated integers, e.g. 1,4,16",
                                 param_hint="--concurrency") from None
    if not levels or min(levels) < 1:
        raise typer.BadParameter(f"{text!r}: concurrency levels must be >= 1", param_hint="--concurrency")
    return levels


def _load_tasks(path: Path, n: int) -> list[dict]:
    from evals.loaders import TaskFileError, load_tasks

    try:
        rows = load_tasks(path)
    except TaskFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tasks") from None
    dev = [r for r in rows if r.get("split") == "dev"] or rows
    if not dev:
        raise typer.BadParameter(f"{path}: no tasks", param_hint="--tasks")
    return dev[:n]


def run_rollout_bench(tasks: list[dict], levels: tuple[int, ...], *, base_url: str | None = None,
                      model: str | None = None, max_steps: int | None = None, home: Path | None = None,
                      warmup: bool = True, log: Any = None) -> dict[str, Any]:
    """Both phases at every level; returns the JSON-ready result."""
    from agent.api import ResearchAgent
    from agent.config import load_config
    from agent.runtime import BUNDLED_NAME, ensure_embedded_server, make_client
    from evals.bench_rollout import (
        RunSample,
        agent_phase,
        machine,
        parse_prometheus,
        raw_phase,
        verdicts,
    )
    from evals.star import passes_filter
    from reasoner.protocol import CALL_OPEN, render_prompt

    log = log or (lambda m: err_console.print(m))
    overrides: dict[str, Any] = {"base_url": base_url, "model": model, "mode": "react",
                                 "max_concurrency": max(levels), "home": home}
    if max_steps:
        overrides["max_steps"] = max_steps
    cfg = load_config({k: v for k, v in overrides.items() if v is not None})
    embedded = cfg.base_url is None
    url = cfg.base_url or ensure_embedded_server(cfg).base_url
    model_name = cfg.model or (BUNDLED_NAME if embedded else None)
    root = url.rstrip("/").removesuffix("/v1")
    count_training_tokens = _training_token_counter(cfg)

    async def main() -> dict[str, Any]:
        import httpx

        from reasoner.endpoint import async_client

        async with make_client(cfg, url, embedded=embedded, model=model_name) as client, \
                async_client(root, use_env_proxy=cfg.use_proxy, timeout=30) as http:
            name = await client._model(model_name)
            cfg.model = name

            async def metrics() -> dict[str, float]:
                resp = await http.get(f"{root}/metrics")
                return parse_prometheus(resp.text) if resp.status_code == 200 else {}

            async def tokenize(text: str) -> list[int]:
                resp = await http.post(f"{root}/tokenize", json={"model": name, "prompt": text,
                                                                  "add_special_tokens": False})
                return list(resp.json().get("tokens", [])) if resp.status_code == 200 else []

            async def complete(ids: list[int], n: int) -> tuple[int, int]:
                res = await client.complete(ids, model=name, max_tokens=n, temperature=0.0,
                                            extra={"min_tokens": n, "ignore_eos": True})
                return res.usage.prompt_tokens, res.usage.completion_tokens

            version = None
            try:
                version = (await http.get(f"{root}/version")).json().get("version")
            except (httpx.HTTPError, ValueError):
                pass
            server = {"model": name, "server": "vllm" if version else "openai-compatible", "server_version": version,
                      "base_url": url, "embedded": embedded}

            async with ResearchAgent(cfg, client=client, log=lambda m: None) as agent:
                store = agent.store

                async def run_task(task: dict) -> RunSample:
                    t0 = time.monotonic()
                    try:
                        result = await agent.research(task["question"], task=task, mode="react")
                    except Exception as exc:  # noqa: BLE001 - a failed run is a row, not the end of the bench
                        return RunSample(wall_s=time.monotonic() - t0, model_s=0, tool_s=0, calls=[], ok=False,
                                         error=f"{type(exc).__name__}: {exc}"[:200])
                    wall = time.monotonic() - t0
                    steps = await asyncio.to_thread(store.steps, result.record["run_id"])
                    llm = [s for s in steps if s["kind"] == "llm"]
                    prompts = []
                    if client.protocol == "deepstar":  # the prompt text the client sent for each call
                        prompts = [render_prompt(s["input"]["messages"], s["input"].get("tools") or None)
                                   + (CALL_OPEN if s["input"].get("tools") else "") if s["input"] else ""
                                   for s in llm]
                    kept = passes_filter(result.record, task=task)[0] if task.get("answers") else None
                    return RunSample(
                        wall_s=wall, model_s=sum(s["latency_s"] or 0 for s in llm),
                        tool_s=sum(s["latency_s"] or 0 for s in steps if s["kind"] == "tool"),
                        calls=[(s["prompt_tokens"] or 0, s["completion_tokens"] or 0) for s in llm],
                        prompts=prompts, ok=result.error is None, error=result.error, kept=kept,
                        training_tokens=count_training_tokens(result.record) if kept else None)

                if warmup:
                    # greedy runs repeat their prompts: fill the prefix cache once, so that
                    # every measured phase (agent and raw alike) finds it equally warm
                    log(f"warm-up: {len(tasks)} runs at concurrency {max(levels)} (not measured)")
                    await agent_phase(run_task, tasks, max(levels), metrics=metrics)
                results = []
                for c in levels:
                    def tick(done: int, total: int, phase: str = "agent", c: int = c) -> None:
                        if done == total or done % max(1, total // 4) == 0:
                            log(f"concurrency {c}: {phase} {done}/{total}")
                    client.max_in_flight = 0
                    agent_row, samples = await agent_phase(run_task, tasks, c, metrics=metrics, progress=tick)
                    agent_row["max_in_flight"] = client.max_in_flight
                    client.max_in_flight = 0
                    raw_row = await raw_phase(complete, tokenize, samples, c, metrics=metrics, seed=c,
                                              progress=lambda d, t, c=c: tick(d, t, "raw", c))
                    raw_row["max_in_flight"] = client.max_in_flight
                    eff = (agent_row["generated_tokens_per_s"] / raw_row["generated_tokens_per_s"]
                           if raw_row["generated_tokens_per_s"] else None)
                    results.append({"concurrency": c, "agent": agent_row, "raw": raw_row, "efficiency": eff,
                                    "calls": [s.calls for s in samples]})
                    log(f"concurrency {c}: {agent_row['trajectories_per_min']:.2f} trajectories/min, "
                        f"efficiency {eff if eff is None else round(eff, 3)}")
            return {"benchmark": "rollout", "machine": machine(server), "tasks": len(tasks), "warmup": warmup,
                    "max_steps": cfg.max_steps, "levels": results, "targets": verdicts(results)}

    return asyncio.run(main())


def _training_token_counter(cfg: Any) -> Any:
    """record -> the number of tokens SFT trains on (its labelled positions), with the bundled
    model's tokenizer; -> None when that tokenizer is not prepared here."""
    from reasoner.prepare import bundled_model_dir

    path = bundled_model_dir(cfg.models_dir)
    if not (path / "tokenizer.json").exists():
        return lambda record: None
    from transformers import AutoTokenizer

    from reasoner.train import IGNORE_INDEX, encode_conversation

    tokenizer = AutoTokenizer.from_pretrained(path)

    def count(record: dict[str, Any]) -> int:
        _, labels = encode_conversation(tokenizer, record["messages"], record.get("tools") or None)
        return sum(label != IGNORE_INDEX for label in labels)

    return count


def print_rollout(data: dict[str, Any]) -> None:
    table = Table(title=f"rollout throughput: {data['tasks']} research runs (react, ≤{data['max_steps']} model calls)")
    for col in ("concurrency", "traj/min", "prompt / completion tok per traj", "kept", "train tok per kept",
                "agent gen tok/s", "raw gen tok/s", "efficiency", "agent prompt tok/s",
                "cache hit agent / raw", "model / tools / other", "loop busy", "peak RSS", "max in flight"):
        table.add_column(col, justify="right")
    for lv in data["levels"]:
        a, r, s = lv["agent"], lv["raw"], lv["agent"]["split"]
        hit = " / ".join("—" if x["prefix_cache_hit_rate"] is None else f"{x['prefix_cache_hit_rate']:.0%}" for x in (a, r))
        per_kept = a.get("training_tokens_per_kept")
        table.add_row(str(lv["concurrency"]), f"{a['trajectories_per_min']:.2f}",
                      f"{a['prompt_tokens_per_trajectory']:.0f} / {a['completion_tokens_per_trajectory']:.0f}",
                      "—" if a.get("kept") is None else f"{a['kept']}/{a['runs']}",
                      "—" if per_kept is None else f"{per_kept:.0f}", f"{a['generated_tokens_per_s']:.1f}",
                      f"{r['generated_tokens_per_s']:.1f}", "—" if lv["efficiency"] is None else f"{lv['efficiency']:.2f}",
                      f"{a['prompt_tokens_per_s']:.0f}", hit,
                      f"{s['model']:.1%} / {s['tools']:.1%} / {s['other']:.1%}", f"{a['loop_busy_fraction']:.1%}",
                      f"{a['peak_rss_bytes'] / 2**20:.0f} MiB", str(a["max_in_flight"]))
    console = Console(width=None if Console().is_terminal else 160)
    console.print(table)
    engine = Table(title="where a model call's time goes (server side, mean per request, agent phase)")
    for col in ("concurrency", "requests", "queue (grammar incl.)", "time to first token", "prefill", "decode",
                "prefill tok/s", "decode tok/s per request"):
        engine.add_column(col, justify="right")
    for lv in data["levels"]:
        e = lv["agent"].get("engine") or {}

        def ms(key: str, e: dict = e) -> str:
            return "—" if e.get(key) is None else f"{1000 * e[key]:.0f} ms"

        def rate(key: str, e: dict = e) -> str:
            return "—" if e.get(key) is None else f"{e[key]:.0f}"

        engine.add_row(str(lv["concurrency"]), f"{e.get('requests') or 0:.0f}", ms("queue_s"), ms("ttft_s"),
                       ms("prefill_s"), ms("decode_s"), rate("prefill_tokens_per_s"), rate("decode_tokens_per_s"))
    console.print(engine)
    targets = Table(title="targets")
    for col in ("target", "measured", "met", "held back by"):
        targets.add_column(col)
    for t in data["targets"]:
        v = t["value"]
        targets.add_row(t["target"], "—" if v is None else f"{v:.3f}", "yes" if t["met"] else "NO", t["held_back_by"] or "")
    console.print(targets)


def rollout(
    tasks: Annotated[Path, typer.Option("--tasks", help="task file (JSONL); dev rows are used when present")],
    n: Annotated[int, typer.Option("--n", min=1, help="tasks run at every concurrency level")] = 16,
    concurrency: Annotated[str, typer.Option(help="comma-separated concurrency levels")] = "1,4,16",
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1, help="model calls per run")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="endpoint (default: the embedded server)")] = None,
    model: Annotated[str | None, typer.Option("--model", help="model or adapter name")] = None,
    out: Annotated[Path | None, typer.Option("--json", help="write the results here")] = None,
    warmup: Annotated[bool, typer.Option("--warmup/--no-warmup", help="fill the prefix cache with one unmeasured "
                                         "pass first, so every phase sees it equally warm")] = True,
) -> None:
    """Trajectories/min, tokens/s, prefix-cache hits and the wall-time split of N research runs
    at each concurrency, against the server's raw throughput for the same load."""
    levels = _levels(concurrency)
    rows = _load_tasks(tasks, n)
    data = run_rollout_bench(rows, levels, base_url=base_url, model=model, max_steps=max_steps, warmup=warmup)
    print_rollout(data)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
