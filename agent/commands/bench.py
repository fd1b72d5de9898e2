"""`deepstar bench [search|fetch|generate|rollout|train]`: performance numbers, as a table and JSON."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agent.config import load_config
from agent.web import host_port, start_wiki_site
from evals.bench_web import bench_fetch, bench_search, derive_queries, machine_info
from tools.fetch import FetchConfig, Fetcher

__all__ = ["register"]

bench_app = typer.Typer(name="bench", help="Performance benchmarks; with no subcommand, search, fetch, rollout and "
                        "train together into one JSON file.", invoke_without_command=True)


def _report(title: str, rows: list[tuple[str, str]], data: dict[str, Any], out: Path | None) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in rows:
        table.add_row(key, value)
    Console().print(table)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


@bench_app.command("search")
def search(
    queries: Annotated[int, typer.Option(min=1, help="number of queries")] = 1000,
    limit: Annotated[int, typer.Option(min=1, help="results per query")] = 10,
    out: Annotated[Path | None, typer.Option("--json", help="write the results here")] = None,
) -> None:
    """Latency of varied queries on the wiki FTS5 index (target: p50 <= 2 ms)."""
    cfg = load_config({})
    site = start_wiki_site(cfg)  # loads the corpus and builds/opens the index; not served
    try:
        qs = derive_queries(site.corpus, queries)
        result = bench_search(site.index, qs, limit=limit)
    finally:
        site.stop()
        site.index.close()
    data = {"benchmark": "search", "machine": machine_info(), **result, "target_p50_ms": 2.0}
    _report("wiki index search", [
        ("queries", str(result["queries"])), ("p50", f"{result['p50_ms']:.3f} ms"),
        ("p95", f"{result['p95_ms']:.3f} ms"), ("p99", f"{result['p99_ms']:.3f} ms"),
        ("queries with results", str(result["with_results"]))], data, out)


@bench_app.command("fetch")
def fetch(
    pages: Annotated[int, typer.Option(min=1, help="pages fetched per concurrency level")] = 1000,
    out: Annotated[Path | None, typer.Option("--json", help="write the results here")] = None,
) -> None:
    """Fetch + extract throughput against the local wiki site at concurrency 1 and 16."""
    cfg = load_config({})
    site = start_wiki_site(cfg).start()
    try:
        urls = [site.url + a.path for a in site.corpus.articles[:pages]]
        allow = frozenset({host_port(site.url)})

        def make(concurrency: int) -> Fetcher:
            return Fetcher(FetchConfig(allow_hosts=allow, per_host_concurrency=concurrency,
                                       timeout_s=cfg.fetch_timeout_s, max_bytes=cfg.fetch_max_bytes))
        runs = [asyncio.run(bench_fetch(urls, make, concurrency=c)) for c in (1, 16)]
    finally:
        site.stop()
        site.index.close()
    one, sixteen = runs
    ratio = sixteen["pages_per_s"] / one["pages_per_s"]
    data = {"benchmark": "fetch", "machine": machine_info(), "runs": runs,
            "ratio_16_over_1": ratio, "target_pages_per_s_at_16": 300}
    _report("fetch + extract, local wiki site", [
        ("pages", str(len(urls))),
        ("pages/s @1", f"{one['pages_per_s']:.0f}"), ("pages/s @16", f"{sixteen['pages_per_s']:.0f}"),
        ("ratio 16/1", f"{ratio:.2f}"), ("errors", str(one["errors"] + sixteen["errors"]))], data, out)


def register(app: typer.Typer) -> None:
    from agent.commands.bench_faults import faults
    from agent.commands.bench_rollout import rollout

    bench_app.command("rollout")(rollout)
    bench_app.command("faults")(faults)
    app.add_typer(bench_app, name="bench")


@bench_app.callback()
def all_benchmarks(
    ctx: typer.Context,
    tasks: Annotated[Path | None, typer.Option("--tasks", help="task file for the rollout benchmark "
                                               "(default: synthesized into the workspace)")] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="rollout: tasks per concurrency level")] = 16,
    out: Annotated[Path, typer.Option("--json", help="write all results here")] = Path("bench.json"),
) -> None:
    """Run every benchmark (search, fetch, rollout, train) and write one JSON file."""
    if ctx.invoked_subcommand is not None:
        return
    from agent.commands._common import err_console

    parts = {}
    scratch = out.with_suffix(".parts")
    scratch.mkdir(parents=True, exist_ok=True)
    if tasks is None:
        tasks = scratch / "tasks.jsonl"
        if not tasks.exists():
            from agent.commands.tasks import synth

            synth(out=tasks, n=max(8 * n, 80), seed=0, report=False, corpus=None)
    for name, run in (("search", lambda p: search(out=p)), ("fetch", lambda p: fetch(out=p)),
                      ("rollout", lambda p: _rollout_all(tasks, n, p)), ("train", lambda p: train(out=p))):
        err_console.print(f"[bold]bench {name}[/bold]")
        path = scratch / f"{name}.json"
        run(path)
        parts[name] = json.loads(path.read_text(encoding="utf-8"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "all", "machine": machine_info(), **parts}, indent=2) + "\n",
                   encoding="utf-8")
    err_console.print(f"all benchmarks written to {out}")


def _rollout_all(tasks: Path, n: int, path: Path) -> None:
    from agent.commands.bench_rollout import rollout

    rollout(tasks=tasks, n=n, out=path)


@bench_app.command("generate")
def generate(
    tokens: Annotated[int, typer.Option(min=1, help="tokens generated per request")] = 128,
    concurrency: Annotated[str, typer.Option(help="comma-separated concurrency levels")] = "1,8",
    base_url: Annotated[str | None, typer.Option("--base-url", help="endpoint (default: the embedded server)")] = None,
    model: Annotated[str | None, typer.Option("--model", help="model or adapter name")] = None,
    out: Annotated[Path | None, typer.Option("--json", help="write the results here")] = None,
) -> None:
    """Raw generation tokens/s of the served model, one request and several at once."""
    from agent.runtime import ensure_embedded_server, make_client
    from evals.bench_generate import bench_generate

    cfg = load_config({"base_url": base_url, "model": model})
    embedded = cfg.base_url is None
    url = cfg.base_url or ensure_embedded_server(cfg).base_url
    levels = tuple(int(c) for c in concurrency.split(",") if c.strip())

    async def run() -> list[dict[str, Any]]:
        async with make_client(cfg, url, embedded=embedded) as client:
            return await bench_generate(client, tokens=tokens, concurrency=levels, model=cfg.model)

    rows = asyncio.run(run())
    data = {"benchmark": "generate", "machine": machine_info(), "base_url": url, "runs": rows}
    _report("generation throughput", [(f"concurrency {r['concurrency']}",
                                       f"{r['tokens_per_s']:.1f} tok/s ({r['per_request_tokens_per_s']:.1f} per request)")
                                      for r in rows], data, out)


@bench_app.command("train")
def train(
    steps: Annotated[int, typer.Option(min=1, help="optimizer steps")] = 10,
    conversations: Annotated[int, typer.Option(min=1, help="synthetic trajectories (~1,500 tokens each)")] = 8,
    batch_tokens: Annotated[int, typer.Option(min=256, help="token budget per micro-batch")] = 4096,
    dtype: Annotated[str, typer.Option(help="auto, bf16 or fp32")] = "auto",
    out: Annotated[Path | None, typer.Option("--json", help="write the results here")] = None,
) -> None:
    """LoRA SFT tokens/s of the bundled model on synthetic trajectories; with CUDA, also a
    bf16 full fine-tune step loop and its MFU."""
    import torch

    from agent.commands._common import err_console
    from evals.bench_train import bench_gpu_train, bench_train
    from reasoner.prepare import ensure_model

    cfg = load_config({})
    base = ensure_model(cfg.models_dir)

    def show(event: dict[str, Any]) -> None:
        if event["event"] == "step":
            err_console.print(f"step {event['step']}: loss {event['loss']:.3f}, "
                              f"{event['tokens_per_s']:.0f} tok/s, {event['step_s']:.2f} s/step")

    data = bench_train(base, steps=steps, conversations=conversations, batch_tokens=batch_tokens,
                       dtype=dtype, progress=show)
    rows = [("cpu", f"{data['machine']['cpu']} ({data['machine']['cores']} cores)"),
            ("device / dtype", f"{data['device']} / {data['dtype']}"),
            ("tokens per conversation", str(data["tokens_per_conversation"])),
            ("tokens/s (all)", f"{data['tokens_per_s']:.1f}"),
            ("tokens/s (trained)", f"{data['trained_tokens_per_s']:.1f}"),
            ("step time (median, after first)", f"{data['step_s_median_after_first']:.2f} s"),
            ("first step", f"{data['first_step_s']:.2f} s"),
            ("≈ GFLOP/s", f"{data['approx_gflop_per_s']:.1f}"),
            ("final loss", f"{data['final_loss']:.3f}")]
    if torch.cuda.is_available():
        gpu = bench_gpu_train(base)
        data["gpu"] = gpu
        mfu = f"{gpu['mfu']:.1%}" if gpu["mfu"] is not None else "n/a (unknown peak)"
        rows += [("gpu", gpu["gpu"]), ("gpu full-FT tokens/s (bf16)", f"{gpu['tokens_per_s']:.0f}"),
                 ("gpu MFU (6·N·tokens)", mfu)]
    _report("LoRA SFT throughput, bundled model", rows, data, out)
