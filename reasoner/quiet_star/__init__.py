"""Quiet-STaR (Zelikman et al., 2024): the model learns to think before each token, top to bottom.

    config.py      QuietStarConfig: the official implementation's settings as defaults,
                   `weighting="legacy"` for deepstar's earlier ones, `overrides` naming
                   every field a run sets away from its preset (a CPU's smaller budget)
    data.py        text chunk x[0..L-1]: the first L tokens of an article
    model.py       the causal LM + two thought-token embeddings (<|startthought|>,
                   <|endthought|>, both started from "---", stored / embedding_scale) + the
                   mixing head; the LM head scores the original vocabulary only
    thoughts.py    one forward over the text (KV cached): h_text, the plain logits;
                   then at P positions (every one, by default), N thoughts each (J = P*N
                   columns), all at once:
                       <|startthought|> t1 .. t_T <|endthought|> x[i+1] .. x[i+n_ahead-1]
                   one forward per block of J tokens, each reusing the cache of the ones
                   before; a block token at column j attends to the text up to its own
                   position and to its own column's earlier tokens only (the "diagonal" mask)
    loss.py        mixing: w = sigmoid(MLP([h_base ; h_after_thought])); the prediction of
                   x[i+1+a] is (1-w)*logits_base + w*logits_thought (a = 0 .. n_ahead-1)
                   loss = NLL of the mixed predictions of the next n_ahead true tokens
                        + base_loss_weight * plain LM loss on the text
                        + policy_loss_beta * REINFORCE on the thought tokens:
                          reward = loss reduction from thinking on those tokens,
                          advantage = reward - mean over the N thoughts at the position,
                          clamped at 0 (remove_negative_rewards), times the thought's
                          log-probability at reinforce_temperature
    training.py    AdamW (warm-up, weight decay) on the whole model (or a LoRA), the thought
                   embeddings and the mixing head; per step: losses, mixing weight, mean
                   reward, share of positions where thinking helps, thought log-probability
    evaluation.py  held-out next-token loss with a thought, without, and of the base model,
                   paired bootstrap 95% intervals over chunks, the difficult tokens (top 10%
                   base loss), the held-out mixing weight
    generation.py  one token at a time: think, mix, forget the thought (the serving path)
    artifacts.py   what a run writes (config, weights, metrics) and load_quiet_star()
    plotting.py, report.py   loss.png's panels; report.md and the two-run comparison

`deepstar quiet-star train` reads the offline wiki corpus (tools/, which reasoner may not
import) and calls train_quiet_star(); `deepstar quiet-star compare` prints two runs side by side.
"""

from __future__ import annotations

from reasoner.errors import MissingExtra

try:
    import torch  # noqa: F401
except ImportError as exc:  # the training extra is optional; serving through vLLM does not need torch
    raise MissingExtra("train", exc.name or "torch") from None

from reasoner.quiet_star.artifacts import CONFIG_FILE, WEIGHTS_FILE, load_metrics, load_quiet_star
from reasoner.quiet_star.config import PRESETS, QuietStarConfig
from reasoner.quiet_star.data import chunk_texts
from reasoner.quiet_star.evaluation import base_token_losses, evaluate, paired_bootstrap
from reasoner.quiet_star.generation import generate
from reasoner.quiet_star.loss import quiet_star_loss
from reasoner.quiet_star.model import (
    END_THOUGHT,
    START_THOUGHT,
    QuietStar,
    build_mask,
    text_hidden,
    wrap_model,
)
from reasoner.quiet_star.report import render_comparison, render_report
from reasoner.quiet_star.thoughts import ThoughtPass, think
from reasoner.quiet_star.training import thought_positions, train_quiet_star

__all__ = [
    "CONFIG_FILE",
    "END_THOUGHT",
    "PRESETS",
    "START_THOUGHT",
    "WEIGHTS_FILE",
    "QuietStar",
    "QuietStarConfig",
    "ThoughtPass",
    "base_token_losses",
    "build_mask",
    "chunk_texts",
    "evaluate",
    "generate",
    "load_metrics",
    "load_quiet_star",
    "paired_bootstrap",
    "quiet_star_loss",
    "render_comparison",
    "render_report",
    "text_hidden",
    "think",
    "thought_positions",
    "train_quiet_star",
    "wrap_model",
]
