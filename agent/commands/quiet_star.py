"""`deepstar quiet-star train | eval | serve | compare`: Quiet-STaR on the offline wiki corpus.

The held-out articles are a fixed rule, not a seeded draw: an article is held out when the
first byte of sha256(title) is below 26 (about 10%), so every run and every evaluation
agrees on them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import typer

from agent.commands._common import ConfigOpt, HomeOpt, build_config, err_console

__all__ = ["HELD_OUT_RULE", "register", "wiki_texts"]

HELD_OUT_RULE = "sha256(title)[0] < 26"


def _held_out(title: str) -> bool:
    return hashlib.sha256(title.encode("utf-8")).digest()[0] < 26


def wiki_texts() -> tuple[list[str], list[str], str]:
    """(training texts, held-out texts, corpus data hash) of the offline wiki corpus."""
    from tools.wiki_corpus import load_corpus

    corpus = load_corpus()
    train, held = [], []
    for article in corpus.articles:
        (held if _held_out(article.title) else train).append(article.extract)
    return train, held, corpus.data_hash


def _print_event(event: dict) -> None:
    if event.get("event") == "eval" and event["chunk"] % 10 and event["chunk"] != event["of"]:
        return
    err_console.print(json.dumps(event))


def train(
    corpus: str = typer.Option("wiki", "--corpus", help="training text: 'wiki' (the offline wiki corpus) is the one there is"),
    weighting: str = typer.Option("official", "--weighting", help="official (the paper's implementation: policy beta 1e6, "
                                  "clamped rewards, reinforce temperature 3, embedding scale 100, whole model at lr 1e-6) | "
                                  "legacy (deepstar's earlier LoRA weighting), for the comparison"),
    steps: int = typer.Option(60, "--steps", min=1, help="optimizer steps (CPU budget; the paper trains far longer)"),
    out: Path = typer.Option(..., "--out", help="output directory (config, weights, thought weights, metrics, plot, report)"),
    seq_len: int = typer.Option(48, "--seq-len", help="tokens per text chunk (CPU budget)"),
    batch_size: int = typer.Option(1, "--batch-size", help="chunks per step"),
    positions: int = typer.Option(16, "--positions", help="positions per chunk that think, drawn each step; 0 = every "
                                  "position, as the official preset. 16 is a CPU budget, recorded in the run's overrides"),
    thought_len: int | None = typer.Option(None, "--thought-len", help="sampled thought tokens (default: the preset's; official 10 = 12 with start and end)"),
    n_ahead: int | None = typer.Option(None, "--n-ahead", help="true tokens scored after each thought (default: the preset's, 4)"),
    n_thoughts: int | None = typer.Option(None, "--n-thoughts", help="thoughts per position, the official n_passes (default: the preset's, 2)"),
    trainable: str | None = typer.Option(None, "--trainable", help="full | lora (default: the preset's; official full)"),
    lr: float | None = typer.Option(None, "--lr", help="learning rate of the model's weights (default: the preset's)"),
    embedding_lr: float | None = typer.Option(None, "--embedding-lr", help="thought-embedding learning rate (default: the preset's)"),
    mixer_lr: float | None = typer.Option(None, "--mixer-lr", help="mixing-head learning rate (default: the preset's)"),
    policy_loss_beta: float | None = typer.Option(None, "--policy-loss-beta", help="REINFORCE weight (default: the preset's)"),
    eval_chunks: int = typer.Option(24, "--eval-chunks", help="held-out chunks scored at the end (0 = none)"),
    seed: int = typer.Option(0, "--seed", help="seed of initialisation, data order, positions and thoughts"),
    log_every: int = typer.Option(5, "--log-every", help="progress line every this many steps"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
    model: Path | None = typer.Option(None, "--model", help="base checkpoint directory (default: the bundled model, prepared if needed)"),
    home: Path | None = HomeOpt,
    config: Path | None = ConfigOpt,
) -> None:
    """Train thoughts at every token on wiki text; evaluate held-out loss with, without thoughts and base."""
    from reasoner.prepare import ensure_model
    from reasoner.quiet_star import QuietStarConfig, train_quiet_star

    if corpus != "wiki":
        raise typer.BadParameter(f"{corpus!r}: the offline corpus is 'wiki'", param_hint="--corpus")
    values = dict(max_steps=steps, seq_len=seq_len, batch_size=batch_size, thought_len=thought_len, n_ahead=n_ahead,
                  n_thoughts=n_thoughts, positions=positions, trainable=trainable, learning_rate=lr,
                  embedding_lr=embedding_lr, mixer_lr=mixer_lr, policy_loss_beta=policy_loss_beta,
                  eval_chunks=eval_chunks, seed=seed, log_every=log_every, device=device)
    try:  # checked before the model is prepared or the corpus read
        QuietStarConfig.preset(weighting, base_model=str(model or "base"), output_dir=str(out), **values)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if model is not None:
        base = model
    else:
        cfg = build_config(config, home=home)
        base = ensure_model(cfg.models_dir, progress=lambda m: err_console.print(m))
    train_texts, held, data_hash = wiki_texts()
    qcfg = QuietStarConfig.preset(
        weighting, base_model=str(base), output_dir=str(out), **values,
        extra={"corpus": "wiki", "corpus_hash": data_hash, "held_out": HELD_OUT_RULE,
               "train_articles": len(train_texts), "held_out_articles": len(held)})
    metrics = train_quiet_star(qcfg, train_texts, held, progress=_print_event)
    typer.echo((out / "report.md").read_text(encoding="utf-8"))
    typer.echo(json.dumps({"out": str(out), "train_s": metrics["train_s"], "wall_s": metrics["wall_s"],
                           "overrides": qcfg.overrides, "evaluation": metrics["evaluation"]}))


def evaluate(
    run: Path = typer.Option(..., "--run", help="a finished `quiet-star train` output directory"),
    chunks: int = typer.Option(24, "--chunks", min=1, help="held-out chunks to score"),
    thought_len: int | None = typer.Option(None, "--thought-len", help="thought length at evaluation (default: the run's)"),
    seed: int = typer.Option(0, "--seed", help="seed of the sampled thoughts"),
    out: Path | None = typer.Option(None, "--out", help="write the result JSON here"),
    device: str = typer.Option("cpu", "--device", help="auto | cpu | cuda | cuda:N"),
) -> None:
    """Held-out wiki loss and perplexity: with thoughts, without, and the base model, with
    paired 95% bootstrap intervals over chunks."""
    import torch

    from reasoner.quiet_star import base_token_losses, chunk_texts, load_quiet_star
    from reasoner.quiet_star import evaluate as run_eval
    from reasoner.quiet_star.artifacts import load_base_lm
    from reasoner.train import resolve_dtype

    # the numerics of the run's own evaluation: fp32 weights, the run's compute dtype in autocast
    model, tokenizer, qcfg = load_quiet_star(run, device=device, dtype="fp32")
    _, held, _ = wiki_texts()
    held_chunks = chunk_texts(tokenizer, held, qcfg.seq_len)[:chunks]
    dev = next(model.parameters()).device
    bf16 = resolve_dtype(qcfg.dtype, dev) == torch.bfloat16
    with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=bf16):
        # the base checkpoint itself, as training scores it (a full fine-tune has no adapter to switch off)
        base_lm = load_base_lm(qcfg.base_model, dev, dtype=torch.float32)
        base_losses = base_token_losses(base_lm, held_chunks)
        del base_lm
        result = run_eval(model, held_chunks, thought_len=thought_len or qcfg.thought_len,
                          temperature=qcfg.thought_temperature, seed=seed, progress=_print_event,
                          base_losses=base_losses)
    text = json.dumps(result, indent=2)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
    typer.echo(text)


def compare(
    runs: list[Path] = typer.Argument(..., help="two or more finished `quiet-star train` output directories"),
    label: list[str] = typer.Option([], "--label", help="column name per run, in order (default: the run's weighting)"),
) -> None:
    """The runs side by side: held-out loss with and without thoughts, the paired difference
    with its 95% interval, the difficult tokens, the mixing weight and the policy's numbers."""
    from reasoner.quiet_star import load_metrics, render_comparison

    if len(runs) < 2:
        raise typer.BadParameter("compare needs at least two run directories", param_hint="RUNS")
    if label and len(label) != len(runs):
        raise typer.BadParameter(f"{len(label)} labels for {len(runs)} runs: give one --label per run, or none",
                                 param_hint="--label")
    loaded = [load_metrics(run) for run in runs]
    for run, metrics in zip(runs, loaded, strict=True):
        if not metrics.get("evaluation"):
            raise typer.BadParameter(f"{run} has no held-out evaluation: train it with --eval-chunks > 0, "
                                     f"or run `deepstar quiet-star eval --run {run}`", param_hint="RUNS")
    names = label or [f"{m['config'].get('weighting', 'legacy')} ({run.name})" for run, m in zip(runs, loaded, strict=True)]
    if len(set(names)) != len(names):
        raise typer.BadParameter(f"two runs would share the column name {names}: pass --label per run", param_hint="--label")
    typer.echo(render_comparison(dict(zip(names, loaded, strict=True))), nl=False)


def serve(
    run: Path = typer.Option(..., "--run", help="a finished `quiet-star train` output directory"),
    thinking: str = typer.Option("quiet", "--thinking", help="quiet (a thought before every token) | none (the same model, no thoughts)"),
    thought_len: int | None = typer.Option(None, "--thought-len", help="thought tokens per generated token (default: the run's)"),
    port: int = typer.Option(8013, "--port", help="loopback port"),
    name: str = typer.Option("quiet-star", "--name", help="model name served at /v1/models"),
    seed: int = typer.Option(0, "--seed", help="seed of the sampled thoughts"),
    device: str = typer.Option("cpu", "--device", help="auto | cpu | cuda | cuda:N"),
) -> None:
    """Serve the run through torch generation on an OpenAI-compatible loopback endpoint (vLLM has no
    Quiet-STaR decoding). Clients use the deepstar protocol: DEEPSTAR_PROTOCOL=deepstar."""
    from reasoner.quiet_star import load_quiet_star
    from reasoner.torch_server import TorchBackend, make_server

    if thinking not in ("quiet", "none"):
        raise typer.BadParameter(f"{thinking!r}: use quiet or none", param_hint="--thinking")
    model, tokenizer, qcfg = load_quiet_star(run, device=device)
    length = 0 if thinking == "none" else (thought_len or qcfg.thought_len)
    backend = TorchBackend(model, tokenizer, thought_len=length, thought_temperature=qcfg.thought_temperature,
                           seed=seed)
    server = make_server(backend, model_name=name, port=port)
    err_console.print(f"serving {name} (thinking {thinking}, thought length {length}) at "
                      f"http://127.0.0.1:{server.server_address[1]}/v1")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    sub = typer.Typer(name="quiet-star", help="Quiet-STaR: the model learns to think before each token.",
                      no_args_is_help=True)
    sub.command("train")(train)
    sub.command("eval")(evaluate)
    sub.command("serve")(serve)
    sub.command("compare")(compare)
    app.add_typer(sub, name="quiet-star")
