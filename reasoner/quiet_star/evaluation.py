"""Evaluation: next-token loss on held-out chunks with a thought, without, and of the base
model, with paired bootstrap intervals over chunks and the loss on the difficult tokens."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from reasoner.quiet_star.model import QuietStar, text_hidden
from reasoner.quiet_star.thoughts import think
from reasoner.stats import bootstrap_ratio

__all__ = ["base_token_losses", "evaluate", "paired_bootstrap"]

Progress = Callable[[dict[str, Any]], None]


@torch.no_grad()
def evaluate(model: QuietStar, chunks: Sequence[Sequence[int]], *, thought_len: int, temperature: float = 1.0,
             seed: int = 0, difficult_quantile: float = 0.9, progress: Progress | None = None,
             base_losses: Sequence[Sequence[float]] | None = None, resamples: int = 2000) -> dict[str, Any]:
    """Next-token loss on held-out chunks at every position: with a thought (one sampled
    thought per position, mixed by the head), the same model without thoughts, and the base
    model. The base model is `model` with its adapter disabled unless `base_losses` (per
    chunk, per token; see base_token_losses) gives it, as it must for a fully trained model.
    "Difficult" tokens are those whose base-model loss is in the top (1 - difficult_quantile)
    of all scored tokens, as in the paper's analysis. `paired` holds the differences between
    the arms on the same chunks, each with a 95% bootstrap interval over chunks."""
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    per_chunk: dict[str, list[torch.Tensor]] = {"thought": [], "no_thought": [], "base": []}
    weights = []
    for n, chunk in enumerate(chunks):
        ids = torch.tensor([list(chunk)], device=device)
        L = ids.shape[1]
        tp = think(model, ids, torch.arange(L - 1, device=device), n_thoughts=1, thought_len=thought_len,
                   n_ahead=1, temperature=temperature, generator=gen)
        text_logits = model.logits(tp.h_text)[0, :-1]
        w = model.mix_weight(tp.h_text[0, :-1], tp.h_after[0, :, 0])
        mixed = (1 - w) * text_logits + w * model.logits(tp.h_after[0, :, 0])
        targets = ids[0, 1:]
        weights.append(w.float().flatten().cpu())
        per_chunk["thought"].append(F.cross_entropy(mixed, targets, reduction="none").float().cpu())
        per_chunk["no_thought"].append(F.cross_entropy(text_logits, targets, reduction="none").float().cpu())
        if base_losses is not None:
            per_chunk["base"].append(torch.tensor(list(base_losses[n]), dtype=torch.float32))
        else:
            with _adapter_disabled(model):
                h = text_hidden(model, ids)
                per_chunk["base"].append(F.cross_entropy(model.logits(h)[0, :-1], targets, reduction="none").float().cpu())
        if progress:
            progress({"event": "eval", "chunk": n + 1, "of": len(chunks)})
    base = torch.cat(per_chunk["base"]) if chunks else torch.zeros(0)
    cut = float(torch.quantile(base, difficult_quantile)) if base.numel() else 0.0
    hard = [b >= cut for b in per_chunk["base"]]
    result: dict[str, Any] = {"chunks": len(chunks), "tokens": int(base.numel()), "thought_len": thought_len,
                              "thought_temperature": temperature, "seed": seed,
                              "difficult_quantile": difficult_quantile, "difficult_tokens": int(sum(int(h.sum()) for h in hard)),
                              "difficult_base_loss_cut": round(cut, 4),
                              "mix_weight": round(float(torch.cat(weights).mean()), 6) if weights else None}
    for name, values in per_chunk.items():
        v = torch.cat(values) if values else torch.zeros(0)
        mask = torch.cat(hard) if hard else torch.zeros(0, dtype=torch.bool)
        result[name] = {"loss": round(float(v.mean()), 5), "perplexity": round(math.exp(float(v.mean())), 4),
                        "difficult_loss": round(float(v[mask].mean()), 5)}
    result["paired"] = {
        f"{a}_minus_{b}": paired_bootstrap(per_chunk[a], per_chunk[b], hard, resamples=resamples, seed=seed)
        for a, b in (("thought", "no_thought"), ("no_thought", "base"), ("thought", "base"))
    } if chunks else {}
    return result


def paired_bootstrap(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor], hard: Sequence[torch.Tensor], *,
                     resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Mean per-token difference a - b (same chunks, same tokens) over all tokens and over the
    `hard` ones, each with a 95% percentile interval from resampling whole chunks
    (reasoner.stats.bootstrap_ratio: a chunk contributes its summed difference and its count)."""
    diff_sum = [float((x - y).sum()) for x, y in zip(a, b, strict=True)]
    count = [float(x.numel()) for x in a]
    hard_sum = [float((x - y)[h].sum()) for x, y, h in zip(a, b, hard, strict=True)]
    hard_count = [float(h.sum()) for h in hard]

    def interval(sums: list[float], counts: list[float]) -> tuple[float, list[float]]:
        point, (lo, hi) = bootstrap_ratio(sums, counts, resamples=resamples, seed=seed)
        return round(point, 5), [round(lo, 5), round(hi, 5)]

    delta, ci = interval(diff_sum, count)
    hard_delta, hard_ci = interval(hard_sum, hard_count)
    return {"delta": delta, "ci95": ci, "difficult_delta": hard_delta, "difficult_ci95": hard_ci,
            "resamples": resamples, "unit": "chunk"}


@torch.no_grad()
def base_token_losses(lm: nn.Module, chunks: Sequence[Sequence[int]]) -> list[list[float]]:
    """Per-token next-token loss of a plain Hugging Face causal LM on each chunk (the base
    model's column of evaluate() when the trained model has no adapter to switch off)."""
    device = next(lm.parameters()).device
    out = []
    for chunk in chunks:
        ids = torch.tensor([list(chunk)], device=device)
        logits = lm(input_ids=ids).logits[0, :-1].float()
        out.append(F.cross_entropy(logits, ids[0, 1:], reduction="none").cpu().tolist())
    return out


class _adapter_disabled:
    def __init__(self, model: QuietStar) -> None:
        self.ctx = model.lm.disable_adapter() if hasattr(model.lm, "disable_adapter") else None

    def __enter__(self) -> None:
        if self.ctx is not None:
            self.ctx.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self.ctx is not None:
            self.ctx.__exit__(*exc)
