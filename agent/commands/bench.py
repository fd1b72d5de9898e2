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
    from agent.commands.bench_cpu import lora_ops, research_bench, startup
    from agent.commands.bench_faults import faults
    from agent.commands.bench_rollout import rollout

    bench_app.command("rollout")(rollout)
    bench_app.command("faults")(faults)
    bench_app.command("startup")(startup)
    bench_app.command("research")(research_bench)
    bench_app.command("lora-ops")(lora_ops)
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
    weights: Annotated[Path | None, typer.Option("--weights", help="checkpoint whose weights bound decoding "
                                                  "(default: the embedded server's model)")] = None,
    weights_dtype: Annotated[str | None, typer.Option("--weights-dtype", help="bf16 or fp32 (default: what the "
                                                      "embedded server computes in)")] = None,
    out: Annotated[Path | None, typer.Option("--json", help="write the results here")] = None,
) -> None:
    """Raw generation tokens/s of the served model, one request and several at once, against
    the memory-bandwidth bound of single-stream decoding; and the cost of a tool-call grammar."""
    from agent.runtime import ensure_embedded_server, make_client
    from evals.bench_generate import bench_generate, bench_grammar
    from evals.bench_memory import decode_bound, read_bandwidth, weight_bytes_per_token
    from planner.prompts import ANSWER_TOOL
    from reasoner.cpu import detect_cpu
    from reasoner.protocol import tool_call_schema
    from tools.toolbox import Toolbox

    cfg = load_config({"base_url": base_url, "model": model})
    embedded = cfg.base_url is None
    state = None if not embedded else ensure_embedded_server(cfg)
    url = cfg.base_url or state.base_url
    levels = tuple(int(c) for c in concurrency.split(",") if c.strip())
    # the schema a research turn is decoded under: the web tools and the answer tool
    schema = tool_call_schema([cls.schema() for cls in Toolbox.tool_classes] + [ANSWER_TOOL])

    async def run() -> tuple[list[dict[str, Any]], dict[str, float]]:
        async with make_client(cfg, url, embedded=embedded) as client:
            rows = await bench_generate(client, tokens=tokens, concurrency=levels, model=cfg.model)
            grammar = await bench_grammar(client, schema, prompt=PROMPT_FOR_GRAMMAR, model=cfg.model)
            return rows, grammar

    rows, grammar = asyncio.run(run())
    cpu = detect_cpu()
    data: dict[str, Any] = {"benchmark": "generate", "machine": {**machine_info(), "cpu": cpu.as_dict()},
                            "base_url": url, "runs": rows, "grammar": grammar,
                            "server": {"dtype": state.dtype, "cpu_class": state.cpu_class} if state else None}
    table = [(f"concurrency {r['concurrency']}", f"{r['tokens_per_s']:.1f} tok/s ({r['per_request_tokens_per_s']:.1f} "
              "per request)") for r in rows]
    path = weights or (Path(state.model_path) if state else None)
    dtype = weights_dtype or (state.dtype if state else None)
    if path is not None and dtype in ("bf16", "fp32"):
        need = weight_bytes_per_token(path, dtype)
        bw = read_bandwidth(need["bytes_per_token"])
        bound = decode_bound(bw["gb_per_s"], need["bytes_per_token"])
        one = next((r for r in rows if r["concurrency"] == 1), None)
        data["bound"] = {**need, "bandwidth": bw, "decode_bound_tokens_per_s": round(bound, 2),
                         "share_at_1": round(one["tokens_per_s"] / bound, 3) if one else None}
        table += [("weights read per token", f"{need['bytes_per_token'] / 1e6:.0f} MB ({dtype}; largest table "
                   f"{need['largest_table_share']:.0%})"),
                  ("read bandwidth", f"{bw['gb_per_s']:.1f} GB/s ({bw['threads']} threads, {bw['buffer_mb']} MB)"),
                  ("single-stream decode bound", f"{bound:.1f} tok/s")]
        if one:
            table.append(("1 request / bound", f"{one['tokens_per_s'] / bound:.0%}"))
    elif path is not None:
        table.append(("single-stream decode bound", "not computed: the server's dtype is not recorded (started "
                      "by an older deepstar); pass --weights-dtype bf16|fp32"))
    by_c = {r["concurrency"]: r["tokens_per_s"] for r in rows}
    if 1 in by_c and len(by_c) > 1:
        top = max(by_c)
        data[f"speedup_{top}_over_1"] = round(by_c[top] / by_c[1], 2)
        table.append((f"{top} requests / 1", f"{by_c[top] / by_c[1]:.2f}×"))
    table += [("grammar: first use of a schema", f"+{1000 * grammar['compile_s']:.0f} ms"),
              ("grammar: cached", f"+{1000 * grammar['cached_overhead_s']:.0f} ms"),
              ("cpu", f"{cpu.model}, class {cpu.cpu_class}{' (emulated)' if cpu.emulated else ''}"
               + (f", server computes in {state.dtype}" if state and state.dtype else ""))]
    _report("generation throughput", table, data, out)


PROMPT_FOR_GRAMMAR = "Question: In what year was the Eiffel Tower completed?\n<tool_call>"


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

    from agent.commands._common import training_progress
    from evals.bench_train import bench_gpu_train, bench_train
    from reasoner.prepare import ensure_model

    cfg = load_config({})
    base = ensure_model(cfg.models_dir)

    data = bench_train(base, steps=steps, conversations=conversations, batch_tokens=batch_tokens,
                       dtype=dtype, progress=training_progress("bench train"))
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
