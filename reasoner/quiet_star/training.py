"""Training: `train_quiet_star(config, train_texts, eval_texts)` reads top to bottom.

    1) data: fixed-length chunks, shuffled once by the seed
    2) model: the base in fp32 (whole, or frozen under a fresh LoRA), compute in bf16 autocast,
       the two thought embeddings, the mixing head; AdamW with a linear warm-up; the base
       model's held-out losses, scored before any step
    3) the loop: positions (all, or drawn), thoughts sampled in parallel, the joint loss, one step;
       every step logs the losses, the mixing weight, the reward and the thought log-probability
    4) artifacts: weights, then evaluation, metrics, plot, report and the marker last
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import torch

from reasoner.quiet_star.artifacts import CONFIG_FILE, METRICS_FILE, load_base_lm, save_weights
from reasoner.quiet_star.config import QuietStarConfig
from reasoner.quiet_star.data import chunk_texts
from reasoner.quiet_star.evaluation import base_token_losses, evaluate
from reasoner.quiet_star.loss import quiet_star_loss
from reasoner.quiet_star.model import wrap_model
from reasoner.quiet_star.plotting import write_plot
from reasoner.quiet_star.report import render_report
from reasoner.quiet_star.thoughts import think
from reasoner.train import (
    TRAIN_MARKER,
    _resolve_device,
    _write_json_atomic,
    resolve_dtype,
    start_output,
)

__all__ = ["thought_positions", "train_quiet_star"]

Progress = Callable[[dict[str, Any]], None]


def thought_positions(config: QuietStarConfig, step: int, device: torch.device) -> torch.Tensor:
    """The chunk positions that think at `step`: every one but the last (positions=0, as the
    paper), or `positions` of them drawn without replacement by (seed, step), sorted."""
    last = config.seq_len - 1
    if not config.positions:
        return torch.arange(last, device=device)
    drawn = torch.randperm(last, generator=torch.Generator().manual_seed(config.seed * 100_003 + step))
    return drawn[: config.positions].sort().values.to(device)


def train_quiet_star(config: QuietStarConfig, train_texts: Sequence[str], eval_texts: Sequence[str] = (),
                     *, progress: Progress | None = None) -> dict[str, Any]:
    """Train on `train_texts`, evaluate on `eval_texts`, write the artifacts; the metrics."""
    from transformers import AutoTokenizer

    t_start = time.perf_counter()
    report = progress or (lambda _event: None)
    base_path, out = start_output(config.base_model, config.output_dir)
    _write_json_atomic(out / CONFIG_FILE, asdict(config))
    if config.overrides:
        report({"event": "overrides", "weighting": config.weighting, "overrides": config.overrides})

    # 1) data: fixed-length chunks, shuffled once by the seed
    tokenizer = AutoTokenizer.from_pretrained(str(base_path))
    train_chunks = chunk_texts(tokenizer, train_texts, config.seq_len)
    eval_chunks = chunk_texts(tokenizer, eval_texts, config.seq_len)[: config.eval_chunks]
    if not train_chunks:
        raise ValueError(f"no training text has {config.seq_len} tokens: lower seq_len or pass longer texts")
    rng = random.Random(config.seed)
    rng.shuffle(train_chunks)
    report({"event": "data", "train_chunks": len(train_chunks), "eval_chunks": len(eval_chunks)})

    # 2) model. Weights in fp32, compute in the config's dtype (bf16 through autocast): at
    #    lr 1e-6 a bf16 weight would round nearly every update of a full fine-tune away, and
    #    both weightings then compute alike. The base model's column of the evaluation is
    #    scored before any step, so it is the same for every run on the same chunks.
    device = _resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    torch.manual_seed(config.seed)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)
    lm = load_base_lm(base_path, device, dtype=torch.float32)
    base_losses = None
    if eval_chunks:
        with autocast:
            base_losses = base_token_losses(lm, eval_chunks)
    if config.trainable == "lora":
        from peft import LoraConfig, get_peft_model

        from reasoner.adapters import DEFAULT_TARGET_MODULES

        lm = get_peft_model(lm, LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                                           target_modules=list(DEFAULT_TARGET_MODULES), task_type="CAUSAL_LM"))
    model = wrap_model(lm, tokenizer, config).to(device)
    model.train()
    weights = [p for p in model.lm.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([
        {"params": weights, "lr": config.learning_rate},
        {"params": [model.thought_embeddings], "lr": config.embedding_lr},
        {"params": list(model.mixer.parameters()), "lr": config.mixer_lr},
    ], weight_decay=config.weight_decay)
    warmup = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / config.warmup_steps) if config.warmup_steps else 1.0)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    gen = torch.Generator(device=device).manual_seed(config.seed)

    # 3) the loop: a batch of chunks, positions, thoughts sampled in parallel, one step
    history: list[dict[str, float]] = []
    tokens = 0
    t_loop = time.perf_counter()
    cursor = 0
    for step in range(config.max_steps):
        batch = []
        for _ in range(config.batch_size):
            batch.append(train_chunks[cursor % len(train_chunks)])
            cursor += 1
        ids = torch.tensor(batch, device=device)
        positions = thought_positions(config, step, device)
        with autocast:
            tp = think(model, ids, positions, n_thoughts=config.n_thoughts, thought_len=config.thought_len,
                       n_ahead=config.n_ahead, temperature=config.thought_temperature, generator=gen,
                       reinforce_temperature=config.reinforce_temperature)
            loss, parts = quiet_star_loss(model, ids, tp, n_thoughts=config.n_thoughts,
                                          base_loss_weight=config.base_loss_weight,
                                          policy_loss_beta=config.policy_loss_beta,
                                          remove_negative_rewards=config.remove_negative_rewards,
                                          thought_logprob_reduction=config.thought_logprob_reduction)
        loss.backward()
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        warmup.step()
        optimizer.zero_grad(set_to_none=True)
        # tokens through the model: the text plus every block of every column
        tokens += ids.numel() + ids.shape[0] * tp.columns.numel() * (config.thought_len + 1 + config.n_ahead)
        history.append({"step": step + 1, **{k: round(v, 6) for k, v in parts.items()}})
        if (step + 1) % config.log_every == 0 or step + 1 == config.max_steps:
            elapsed = time.perf_counter() - t_loop
            report({"event": "step", **history[-1], "tokens_per_s": round(tokens / elapsed, 1),
                    "step_s": round(elapsed / (step + 1), 2), "elapsed_s": round(elapsed, 1)})
    train_s = time.perf_counter() - t_loop

    # 4) artifacts: weights, then evaluation, metrics and the marker last
    save_weights(model, out)
    evaluation = None
    t_eval = time.perf_counter()
    if eval_chunks:
        with autocast:
            evaluation = evaluate(model, eval_chunks, thought_len=config.thought_len,
                                  temperature=config.thought_temperature, seed=config.seed, progress=report,
                                  base_losses=base_losses)
    metrics = {
        "config": asdict(config), "device": str(device), "dtype": str(dtype).removeprefix("torch."),
        "train_chunks": len(train_chunks), "eval_chunks": len(eval_chunks), "steps": config.max_steps,
        "tokens": tokens, "tokens_per_s": round(tokens / train_s, 2), "train_s": round(train_s, 1),
        "eval_s": round(time.perf_counter() - t_eval, 1), "history": history, "evaluation": evaluation,
        "trainable": {"model": sum(p.numel() for p in weights), "thought_embeddings": model.thought_embeddings.numel(),
                      "mixer": sum(p.numel() for p in model.mixer.parameters())},
    }
    metrics["wall_s"] = round(time.perf_counter() - t_start, 1)
    _write_json_atomic(out / METRICS_FILE, metrics)
    write_plot(out / "loss.png", history)
    (out / "report.md").write_text(render_report(metrics), encoding="utf-8")
    _write_json_atomic(out / TRAIN_MARKER, {"kind": "quiet-star", "config": asdict(config),
                                            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    report({"event": "done", "out": str(out), "train_s": metrics["train_s"], "wall_s": metrics["wall_s"]})
    return metrics
