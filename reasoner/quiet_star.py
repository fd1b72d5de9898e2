"""Quiet-STaR (Zelikman et al., 2024): the model learns to think before each token, top to bottom.

    text chunk x[0..L-1]
      -> one forward over the text (KV cached): h_text, the plain next-token logits
      -> at P chosen positions i, N thoughts each (J = P*N columns), all at once:
         <|startthought|> t1 .. t_T <|endthought|> x[i+1] .. x[i+n_ahead-1]
         one forward per block of J tokens, each reusing the cache of the ones before;
         a block token at column j attends to the text up to its own position and to its
         own column's earlier tokens only (the "diagonal" mask)
      -> mixing head: w = sigmoid(MLP([h_base ; h_after_thought])); the prediction of
         x[i+1+a] is (1-w)*logits_base + w*logits_thought (a = 0 .. n_ahead-1)
      -> loss = NLL of the mixed predictions of the next n_ahead true tokens (non-myopic)
              + base_loss_weight * plain LM loss on the text
              + reinforce_weight * REINFORCE on the thought tokens, reward = the mixed
                log-likelihood of those n_ahead tokens minus its mean over the N thoughts
                at the same position (the baseline)
      -> AdamW on the LoRA, the two thought-token embeddings and the mixing head

The thought tokens are added to the tokenizer; their embeddings are two learned rows next
to the (frozen) 262k-row table, started from the embedding of "---" and of a newline, and
the LM head only ever scores the original vocabulary: a thought token can be fed to the
model, never emitted by it. Artifacts in output_dir: quiet-star.json (the config),
adapter/ (LoRA), quiet_star.safetensors (thought embeddings + mixing head), metrics.json,
and deepstar-train.json written last.

    python -m reasoner.quiet_star is not an entry point: `deepstar quiet-star train` reads the
    offline wiki corpus (tools/, which reasoner may not import) and calls train_quiet_star().
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reasoner.errors import MissingExtra, ModelNotPrepared

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as exc:  # the training extra is optional; serving through vLLM does not need torch
    raise MissingExtra("train", exc.name or "torch") from None

from reasoner.train import TRAIN_MARKER, _resolve_device, _write_json_atomic, resolve_dtype

__all__ = [
    "CONFIG_FILE",
    "END_THOUGHT",
    "START_THOUGHT",
    "WEIGHTS_FILE",
    "QuietStar",
    "QuietStarConfig",
    "ThoughtPass",
    "build_mask",
    "chunk_texts",
    "evaluate",
    "generate",
    "load_quiet_star",
    "quiet_star_loss",
    "text_hidden",
    "think",
    "train_quiet_star",
]

START_THOUGHT = "<|startthought|>"
END_THOUGHT = "<|endthought|>"
CONFIG_FILE = "quiet-star.json"
WEIGHTS_FILE = "quiet_star.safetensors"

Progress = Callable[[dict[str, Any]], None]


# --- configuration -------------------------------------------------------------------------

@dataclass
class QuietStarConfig:
    """Everything that determines a Quiet-STaR run; stored whole in every artifact."""

    base_model: str = field(metadata={"help": "Directory of the base Hugging Face checkpoint (the prepared bundled model)."})
    output_dir: str = field(metadata={"help": "Where the adapter, the thought weights, metrics and plots are written."})
    max_steps: int = field(default=200, metadata={"help": "Optimizer steps (one batch of text chunks each)."})
    seq_len: int = field(default=64, metadata={"help": "Tokens per text chunk (the first seq_len tokens of an article; shorter articles are skipped)."})
    batch_size: int = field(default=1, metadata={"help": "Text chunks per step."})
    thought_len: int = field(default=4, metadata={"help": "Sampled thought tokens between <|startthought|> and <|endthought|> (paper: 12; keep small on CPU)."})
    n_ahead: int = field(default=2, metadata={"help": "True tokens after the thought whose teacher-forced likelihood scores it (paper: 4)."})
    n_thoughts: int = field(default=2, metadata={"help": "Thoughts sampled per position; their mean reward is the REINFORCE baseline (>= 2)."})
    positions: int = field(default=16, metadata={"help": "Positions per chunk that get thoughts, drawn at random each step; 0 = every position. "
                                                        "The 262k-row LM head at every thought token dominates the cost, so on CPU think at a subset."})
    thought_temperature: float = field(default=1.0, metadata={"help": "Sampling temperature of the thought tokens (0 = greedy)."})
    lora_rank: int = field(default=8, metadata={"help": "LoRA rank of the base model's attention and MLP projections."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha; the update is scaled by alpha / r."})
    learning_rate: float = field(default=1e-4, metadata={"help": "Learning rate of the LoRA weights."})
    embedding_lr: float = field(default=1e-3, metadata={"help": "Learning rate of the two thought-token embeddings (the paper uses a larger rate for them)."})
    mixer_lr: float = field(default=1e-3, metadata={"help": "Learning rate of the mixing head."})
    mixer_hidden: int = field(default=256, metadata={"help": "Hidden width of the mixing head's MLP."})
    mixer_init: float = field(default=-2.0, metadata={"help": "Initial bias of the mixing head's output (sigmoid(-2) = 0.12: start mostly on the base prediction)."})
    base_loss_weight: float = field(default=1.0, metadata={"help": "Weight of the plain LM loss on the text (trained jointly)."})
    reinforce_weight: float = field(default=1.0, metadata={"help": "Weight of the REINFORCE loss on the thought tokens."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Clip the gradient norm to this; 0 disables clipping."})
    eval_chunks: int = field(default=40, metadata={"help": "Held-out chunks scored by evaluate() at the end of training (0 = none)."})
    seed: int = field(default=0, metadata={"help": "Seeds the LoRA and head initialisation, the data order, positions and thought sampling."})
    dtype: str = field(default="auto", metadata={"help": "'auto' (bf16 where the hardware has it, else fp32), 'bf16' or 'fp32'."})
    device: str = field(default="auto", metadata={"help": "'auto' (cuda if available, else cpu), 'cpu', 'cuda' or 'cuda:N'."})
    log_every: int = field(default=10, metadata={"help": "Report loss and tokens/s every this many steps (and at the last)."})
    extra: dict = field(default_factory=dict, metadata={"help": "Free-form provenance stored as is (corpus hash, held-out rule); JSON-serialisable."})

    def __post_init__(self) -> None:
        self.base_model, self.output_dir = str(self.base_model), str(self.output_dir)
        if not self.base_model.strip() or not self.output_dir.strip():
            raise ValueError("base_model and output_dir must be non-empty paths")
        for name in ("max_steps", "batch_size", "thought_len", "n_ahead", "lora_rank", "lora_alpha", "mixer_hidden", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_thoughts < 2:
            raise ValueError(f"n_thoughts must be >= 2 (the baseline is their mean), got {self.n_thoughts}")
        if self.seq_len < self.n_ahead + 2:
            raise ValueError(f"seq_len ({self.seq_len}) must be at least n_ahead + 2 ({self.n_ahead + 2})")
        if not 0 <= self.positions <= self.seq_len - 1:
            raise ValueError(f"positions must be in [0, seq_len - 1 = {self.seq_len - 1}], got {self.positions}")
        if self.thought_temperature < 0:
            raise ValueError(f"thought_temperature must be >= 0, got {self.thought_temperature}")
        for name in ("learning_rate", "embedding_lr", "mixer_lr"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.base_loss_weight < 0 or self.reinforce_weight < 0 or self.max_grad_norm < 0 or self.eval_chunks < 0:
            raise ValueError("base_loss_weight, reinforce_weight, max_grad_norm and eval_chunks must be >= 0")
        if self.dtype not in ("auto", "bf16", "fp32"):
            raise ValueError(f"dtype must be 'auto', 'bf16' or 'fp32', got {self.dtype!r}")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        try:
            json.dumps(self.extra)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"extra must be JSON-serialisable: {exc}") from None


# --- the model: a causal LM, two thought embeddings and a mixing head ----------------------

class QuietStar(nn.Module):
    """Wraps a Hugging Face causal LM (optionally peft-wrapped). Token ids >= base_vocab are
    the thought tokens, embedded from `thought_embeddings`; logits cover base_vocab only."""

    def __init__(self, lm: nn.Module, *, base_vocab: int, init_rows: torch.Tensor,
                 mixer_hidden: int = 256, mixer_init: float = -2.0) -> None:
        super().__init__()
        self.lm = lm
        self.base_vocab = base_vocab
        self.start_id, self.end_id = base_vocab, base_vocab + 1
        hidden = init_rows.shape[-1]
        # rows live in the embedding layer's output space (Gemma scales its table by sqrt(d))
        self.thought_embeddings = nn.Parameter(init_rows.detach().float().clone())
        self.mixer = nn.Sequential(nn.Linear(2 * hidden, mixer_hidden), nn.ReLU(), nn.Linear(mixer_hidden, 1))
        nn.init.zeros_(self.mixer[2].weight)
        nn.init.constant_(self.mixer[2].bias, mixer_init)

    @property
    def causal_lm(self) -> nn.Module:
        return self.lm.get_base_model() if hasattr(self.lm, "get_base_model") else self.lm

    @property
    def config(self) -> Any:
        return self.causal_lm.config

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        table = self.causal_lm.get_input_embeddings()
        out = table(ids.clamp(max=self.base_vocab - 1))
        special = ids >= self.base_vocab
        if bool(special.any()):
            rows = self.thought_embeddings[(ids - self.base_vocab).clamp(0, 1)].to(out.dtype)
            out = torch.where(special[..., None], rows, out)
        return out

    def decode(self, ids: torch.Tensor, position_ids: torch.Tensor, masks: dict[str, torch.Tensor],
               cache: Any) -> torch.Tensor:
        """Last hidden states of `ids` at `position_ids`, attending under `masks` (one additive
        [1, 1, q, kv] mask per layer type) to the cache plus themselves; the cache grows."""
        decoder = self.causal_lm.get_decoder()
        mask: Any = masks if getattr(self.config, "layer_types", None) else masks["full_attention"]
        out = decoder(inputs_embeds=self.embed(ids), position_ids=position_ids, attention_mask=mask,
                      past_key_values=cache, use_cache=True)
        return out.last_hidden_state

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.causal_lm.get_output_embeddings()(hidden).float()
        softcap = getattr(self.config, "final_logit_softcapping", None)
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        return logits[..., : self.base_vocab]  # a thought token is never a prediction

    def mix_weight(self, h_base: torch.Tensor, h_thought: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.mixer(torch.cat([h_base, h_thought], dim=-1).float()))

    def trainable_state(self) -> dict[str, torch.Tensor]:
        state = {"thought_embeddings": self.thought_embeddings.detach().float().cpu().contiguous()}
        state.update({f"mixer.{k}": v.detach().float().cpu().contiguous() for k, v in self.mixer.state_dict().items()})
        return state

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            self.thought_embeddings.copy_(state["thought_embeddings"])
        self.mixer.load_state_dict({k.removeprefix("mixer."): v for k, v in state.items() if k.startswith("mixer.")})


def _new_cache() -> Any:
    from transformers import DynamicCache

    # No config: every layer keeps all its keys. A sliding-window cache would drop keys by
    # count, and here the keys are text plus blocks of thoughts, not one contiguous sequence;
    # the window is applied by position in build_mask instead.
    return DynamicCache()


def _truncate(cache: Any, length: int) -> None:
    """Keep the first `length` positions of every layer. (`DynamicCache.crop(n)` is not this:
    in current transformers a positive n is a deprecated "final size", and crop(0) removes
    nothing at all.)"""
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


def build_mask(q_pos: torch.Tensor, q_col: torch.Tensor, q_anchor: torch.Tensor,
               k_pos: torch.Tensor, k_col: torch.Tensor, *, window: int | None,
               dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Additive attention masks ([1, 1, q, kv]) for both layer types.

    Keys of column -1 are the shared text: a query sees them up to its anchor (the text
    position it thinks after). Keys of column c >= 0 are one thought's tokens: only queries
    of the same column see them, and only earlier ones. The sliding-window layers also drop
    keys `window` or more positions behind the query."""
    text = (k_col[None, :] == -1) & (k_pos[None, :] <= q_anchor[:, None])
    own = (k_col[None, :] == q_col[:, None]) & (q_col[:, None] >= 0) & (k_pos[None, :] <= q_pos[:, None])
    allowed = text | own
    neg = torch.finfo(dtype).min

    def additive(ok: torch.Tensor) -> torch.Tensor:
        return torch.zeros(ok.shape, dtype=dtype, device=ok.device).masked_fill(~ok, neg)[None, None]

    masks = {"full_attention": additive(allowed)}
    slide = allowed & (q_pos[:, None] - k_pos[None, :] < window) if window else allowed
    masks["sliding_attention"] = additive(slide)
    return masks


def _window(model: QuietStar) -> int | None:
    types = getattr(model.config, "layer_types", None) or []
    return getattr(model.config, "sliding_window", None) if "sliding_attention" in types else None


def text_hidden(model: QuietStar, ids: torch.Tensor, cache: Any = None) -> torch.Tensor:
    """Hidden states of plain text (causal, sliding window by position), no thought."""
    B, L = ids.shape
    arange = torch.arange(L, device=ids.device)
    minus = torch.full((L,), -1, device=ids.device)
    dtype = model.embed(ids[:, :1]).dtype
    masks = build_mask(arange, minus, arange, arange, minus, window=_window(model), dtype=dtype)
    return model.decode(ids, arange[None].expand(B, L), masks, cache if cache is not None else _new_cache())


# --- the parallel thought pass -------------------------------------------------------------

@dataclass
class ThoughtPass:
    h_text: torch.Tensor          # [B, L, H] hidden states of the text, no thought
    h_after: torch.Tensor         # [B, J, n_ahead, H]: after <|endthought|>, then after each forced token
    columns: torch.Tensor         # [J] text position each column thinks after (J = N * P, thought r = j // P)
    thoughts: torch.Tensor        # [B, J, T] the thought tokens
    thought_logprobs: torch.Tensor  # [B, J, T] their log-probability under the sampling distribution


def think(model: QuietStar, ids: torch.Tensor, positions: torch.Tensor, *, n_thoughts: int, thought_len: int,
          n_ahead: int, temperature: float = 1.0, generator: torch.Generator | None = None,
          thoughts: torch.Tensor | None = None) -> ThoughtPass:
    """Thoughts after every position in `positions`, n_thoughts each, all in parallel: one
    forward per thought token over all J columns, each block reusing the KV cache of the
    text and of the earlier blocks. `thoughts` ([B, J, T]) forces the thought tokens
    (for tests and scoring); otherwise they are sampled."""
    B, L = ids.shape
    device = ids.device
    columns = positions.to(device).repeat(n_thoughts)
    J = columns.numel()
    window = _window(model)
    dtype = model.embed(ids[:, :1]).dtype
    cache = _new_cache()
    h_text = text_hidden(model, ids, cache)
    k_pos, k_col = torch.arange(L, device=device), torch.full((L,), -1, device=device)
    col_ids = torch.arange(J, device=device)

    def step(tokens: torch.Tensor, k: int) -> torch.Tensor:
        # block k (1-based) sits at position column + k, right after the column's block k-1
        nonlocal k_pos, k_col
        q_pos = columns + k
        k_pos, k_col = torch.cat([k_pos, q_pos]), torch.cat([k_col, col_ids])
        masks = build_mask(q_pos, col_ids, columns, k_pos, k_col, window=window, dtype=dtype)
        return model.decode(tokens, q_pos[None].expand(B, J), masks, cache)

    h = step(torch.full((B, J), model.start_id, device=device), 1)
    sampled, logps = [], []
    for t in range(thought_len):
        logits = model.logits(h)
        scaled = logits / temperature if temperature > 0 else logits
        logp = F.log_softmax(scaled, dim=-1)
        if thoughts is not None:
            token = thoughts[:, :, t].to(device)
        elif temperature > 0:
            token = torch.multinomial(logp.detach().exp().reshape(B * J, -1), 1, generator=generator).view(B, J)
        else:
            token = logits.argmax(-1)
        sampled.append(token)
        logps.append(logp.gather(-1, token[..., None]).squeeze(-1))
        h = step(token, 2 + t)
    after = [step(torch.full((B, J), model.end_id, device=device), thought_len + 2)]
    for a in range(1, n_ahead):  # teacher forcing: the true tokens that follow the position
        forced = ids[:, (columns + a).clamp(max=L - 1)]
        after.append(step(forced, thought_len + 2 + a))
    return ThoughtPass(h_text=h_text, h_after=torch.stack(after, dim=2), columns=columns,
                       thoughts=torch.stack(sampled, dim=-1), thought_logprobs=torch.stack(logps, dim=-1))


def quiet_star_loss(model: QuietStar, ids: torch.Tensor, tp: ThoughtPass, *, n_thoughts: int,
                    base_loss_weight: float = 1.0, reinforce_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """The joint loss of one thought pass and its parts (floats, for logging)."""
    B, L = ids.shape
    n_ahead = tp.h_after.shape[2]
    text_logits = model.logits(tp.h_text)                                   # [B, L, V]
    base_loss = F.cross_entropy(text_logits[:, :-1].reshape(-1, text_logits.shape[-1]), ids[:, 1:].reshape(-1))
    nll = torch.zeros(tp.columns.shape[0], device=ids.device).expand(B, -1).clone()  # [B, J]
    mixed_sum = torch.zeros((), device=ids.device)
    count = 0
    weights = []
    for a in range(n_ahead):
        target_at = tp.columns + 1 + a
        valid = target_at < L
        at = (tp.columns + a).clamp(max=L - 1)
        w = model.mix_weight(tp.h_text[:, at], tp.h_after[:, :, a])           # [B, J, 1]
        mixed = (1 - w) * text_logits[:, at] + w * model.logits(tp.h_after[:, :, a])
        ce = F.cross_entropy(mixed.transpose(1, 2), ids[:, target_at.clamp(max=L - 1)], reduction="none")
        ce = ce * valid
        nll = nll + ce
        mixed_sum = mixed_sum + ce.sum()
        count += int(valid.sum()) * B
        weights.append(w.detach().mean())
    mixed_loss = mixed_sum / max(count, 1)
    # REINFORCE: a thought is rewarded by how much more likely it made the next n_ahead
    # tokens than the other thoughts at the same position did (their mean is the baseline).
    reward = (-nll).view(B, n_thoughts, -1)
    advantage = (reward - reward.mean(dim=1, keepdim=True)).detach()
    logp = tp.thought_logprobs.sum(-1).view(B, n_thoughts, -1)
    reinforce = -(advantage * logp).mean()
    loss = mixed_loss + base_loss_weight * base_loss + reinforce_weight * reinforce
    parts = {"loss": float(loss.detach()), "mixed_nll": float(mixed_loss.detach()),
             "base_nll": float(base_loss.detach()), "reinforce": float(reinforce.detach()),
             "mix_weight": float(torch.stack(weights).mean())}
    return loss, parts


# --- generation one token at a time (the reference, and the serving path) ------------------

@torch.no_grad()
def generate(model: QuietStar, prompt_ids: Sequence[int], *, max_new_tokens: int, thought_len: int = 0,
             temperature: float = 0.0, thought_temperature: float = 1.0, generator: torch.Generator | None = None,
             stop: Callable[[list[int]], bool] | None = None, eos_ids: Sequence[int] = (),
             session: dict[str, Any] | None = None,
             pick: Callable[[list[int], torch.Tensor], int | None] | None = None) -> list[int]:
    """Tokens after `prompt_ids`. With thought_len > 0, before each token the model thinks:
    <|startthought|>, thought_len sampled tokens, <|endthought|>; the next token comes from
    the mixing head's blend of the prediction with and without the thought, and the thought
    is then dropped from the cache, so it never enters the text. `stop(tokens)` ends early.
    `session` (a dict the caller keeps) carries the KV cache from one call to the next: the
    longest common prefix with the previous call's text is not computed again. `pick(tokens,
    logits)`, when given, chooses each token from the final (mixed) logits instead of greedy
    or temperature sampling (constrained decoding); None from it ends generation."""
    device = next(model.parameters()).device
    window = _window(model)
    prompt_ids = list(prompt_ids)
    if not prompt_ids:
        raise ValueError("generate needs at least one prompt token")
    ids = torch.tensor([prompt_ids], device=device)
    dtype = model.embed(ids[:, :1]).dtype
    session = session if session is not None else {}
    cache, fed = session.get("cache"), session.get("tokens", [])
    if cache is None:
        cache = _new_cache()
    common = 0
    while common < min(len(fed), len(prompt_ids) - 1) and fed[common] == prompt_ids[common]:
        common += 1
    _truncate(cache, common)  # to nothing when no prefix is shared
    # until the prompt is in, the cache vouches for nothing (a call that fails part-way, or
    # is interrupted, leaves tokens empty, and the next call empties the cache)
    session.update(cache=cache, tokens=[])

    def feed(tokens: list[int], start: int) -> torch.Tensor:
        # the cache always holds one contiguous sequence here: plain causal masking
        n = len(tokens)
        q = torch.arange(start, start + n, device=device)
        k = torch.arange(start + n, device=device)
        text = torch.full((start + n,), -1, device=device)
        masks = build_mask(q, torch.full((n,), -1, device=device), q, k, text, window=window, dtype=dtype)
        return model.decode(torch.tensor([tokens], device=device), q[None], masks, cache)[:, -1]

    h = feed(prompt_ids[common:], common)
    fed = prompt_ids[:]
    session["tokens"] = fed
    n = len(prompt_ids)
    out: list[int] = []
    for _ in range(max_new_tokens):
        logits = model.logits(h)
        if thought_len > 0:
            t = feed([model.start_id], n)
            for k in range(thought_len):
                lt = model.logits(t)
                if thought_temperature > 0:
                    tok = int(torch.multinomial(F.softmax(lt / thought_temperature, -1), 1, generator=generator))
                else:
                    tok = int(lt.argmax(-1))
                t = feed([tok], n + 1 + k)
            t = feed([model.end_id], n + 1 + thought_len)
            _truncate(cache, n)  # forget the thought: the text goes on as if it had not been written
            w = model.mix_weight(h, t)
            logits = (1 - w) * logits + w * model.logits(t)
        if pick is not None:
            chosen = pick(out, logits)
            if chosen is None:
                break
            token = int(chosen)
        elif temperature > 0:
            token = int(torch.multinomial(F.softmax(logits / temperature, -1), 1, generator=generator))
        else:
            token = int(logits.argmax(-1))
        out.append(token)
        if token in eos_ids or (stop is not None and stop(out)):
            break
        h = feed([token], n)
        fed.append(token)
        n += 1
    return out


# --- evaluation: per-token loss with thoughts, without, and of the base model --------------

@torch.no_grad()
def evaluate(model: QuietStar, chunks: Sequence[Sequence[int]], *, thought_len: int, temperature: float = 1.0,
             seed: int = 0, difficult_quantile: float = 0.9, progress: Progress | None = None) -> dict[str, Any]:
    """Next-token loss on held-out chunks at every position: with a thought (one sampled
    thought per position, mixed by the head), the same model without thoughts, and the base
    model (adapter disabled, no thoughts). "Difficult" tokens are those whose base-model loss
    is in the top (1 - difficult_quantile) of all scored tokens, as in the paper's analysis."""
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    losses: dict[str, list[float]] = {"thought": [], "no_thought": [], "base": []}
    for n, chunk in enumerate(chunks):
        ids = torch.tensor([list(chunk)], device=device)
        L = ids.shape[1]
        tp = think(model, ids, torch.arange(L - 1, device=device), n_thoughts=1, thought_len=thought_len,
                   n_ahead=1, temperature=temperature, generator=gen)
        text_logits = model.logits(tp.h_text)[0, :-1]
        w = model.mix_weight(tp.h_text[0, :-1], tp.h_after[0, :, 0])
        mixed = (1 - w) * text_logits + w * model.logits(tp.h_after[0, :, 0])
        targets = ids[0, 1:]
        losses["thought"] += F.cross_entropy(mixed, targets, reduction="none").tolist()
        losses["no_thought"] += F.cross_entropy(text_logits, targets, reduction="none").tolist()
        with _adapter_disabled(model):
            h = text_hidden(model, ids)
            losses["base"] += F.cross_entropy(model.logits(h)[0, :-1], targets, reduction="none").tolist()
        if progress:
            progress({"event": "eval", "chunk": n + 1, "of": len(chunks)})
    base = torch.tensor(losses["base"])
    cut = float(torch.quantile(base, difficult_quantile)) if base.numel() else 0.0
    hard = base >= cut
    result: dict[str, Any] = {"chunks": len(chunks), "tokens": int(base.numel()), "thought_len": thought_len,
                              "thought_temperature": temperature, "seed": seed,
                              "difficult_quantile": difficult_quantile, "difficult_tokens": int(hard.sum()),
                              "difficult_base_loss_cut": round(cut, 4)}
    for name, values in losses.items():
        v = torch.tensor(values)
        result[name] = {"loss": round(float(v.mean()), 5), "perplexity": round(math.exp(float(v.mean())), 4),
                        "difficult_loss": round(float(v[hard].mean()), 5)}
    return result


class _adapter_disabled:
    def __init__(self, model: QuietStar) -> None:
        self.ctx = model.lm.disable_adapter() if hasattr(model.lm, "disable_adapter") else None

    def __enter__(self) -> None:
        if self.ctx is not None:
            self.ctx.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self.ctx is not None:
            self.ctx.__exit__(*exc)


# --- data ----------------------------------------------------------------------------------

def chunk_texts(tokenizer: Any, texts: Sequence[str], seq_len: int) -> list[list[int]]:
    """The first seq_len tokens (after <bos>) of every text long enough to fill them."""
    chunks = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=True)["input_ids"]
        if len(ids) >= seq_len:
            chunks.append(list(ids[:seq_len]))
    return chunks


# --- building, saving and loading ----------------------------------------------------------

def _add_thought_tokens(tokenizer: Any) -> tuple[int, int]:
    tokenizer.add_special_tokens({"additional_special_tokens": [START_THOUGHT, END_THOUGHT]})
    return tokenizer.convert_tokens_to_ids(START_THOUGHT), tokenizer.convert_tokens_to_ids(END_THOUGHT)


def _init_rows(lm: nn.Module, tokenizer: Any) -> torch.Tensor:
    """Start-of-thought from "---", end-of-thought from a newline (what the embedding table
    outputs for them, scale included)."""
    picks = []
    for text in ("---", "\n"):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        picks.append(ids[0] if ids else 0)
    table = lm.get_input_embeddings()
    with torch.no_grad():
        return table(torch.tensor(picks, device=table.weight.device)).float()


def wrap_model(lm: nn.Module, tokenizer: Any, config: QuietStarConfig) -> QuietStar:
    """A QuietStar around `lm`; the thought tokens are added to `tokenizer` and must land
    right after the model's vocabulary (ids base_vocab and base_vocab + 1)."""
    base_vocab = lm.get_input_embeddings().weight.shape[0]
    start, end = _add_thought_tokens(tokenizer)
    if (start, end) != (base_vocab, base_vocab + 1):
        raise ValueError(f"the tokenizer gave the thought tokens ids {start}, {end}; expected {base_vocab}, "
                         f"{base_vocab + 1} (right after the model's {base_vocab}-row embedding table)")
    model = QuietStar(lm, base_vocab=base_vocab, init_rows=_init_rows(lm, tokenizer),
                      mixer_hidden=config.mixer_hidden, mixer_init=config.mixer_init)
    return model


def load_quiet_star(out_dir: str | Path, *, base_model: str | None = None, device: str = "cpu",
                    dtype: str = "auto") -> tuple[QuietStar, Any, QuietStarConfig]:
    """(model, tokenizer with the thought tokens, config) of a finished run."""
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = Path(out_dir)
    if not (out / TRAIN_MARKER).is_file():
        raise ModelNotPrepared(f"{out} is not a finished Quiet-STaR run (no {TRAIN_MARKER}): train it with "
                               f"`deepstar quiet-star train --out {out}`")
    config = QuietStarConfig(**json.loads((out / CONFIG_FILE).read_text(encoding="utf-8")))
    base = Path(base_model or config.base_model)
    if not (base / "config.json").is_file():
        raise ModelNotPrepared(f"the base model {base} of {out} is missing: prepare it, or pass base_model")
    dev = _resolve_device(device)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    lm = AutoModelForCausalLM.from_pretrained(str(base), dtype=resolve_dtype(dtype, dev), attn_implementation="eager")
    lm = PeftModel.from_pretrained(lm, str(out / "adapter"))
    model = wrap_model(lm, tokenizer, config)
    model.load_trainable_state(load_file(str(out / WEIGHTS_FILE)))
    model.to(dev).eval()
    return model, tokenizer, config


# --- training ------------------------------------------------------------------------------

def train_quiet_star(config: QuietStarConfig, train_texts: Sequence[str], eval_texts: Sequence[str] = (),
                     *, progress: Progress | None = None) -> dict[str, Any]:
    """Train on `train_texts`, evaluate on `eval_texts`, write the artifacts; the metrics."""
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reasoner.adapters import DEFAULT_TARGET_MODULES

    t_start = time.perf_counter()
    report = progress or (lambda _event: None)
    base_path = Path(config.base_model)
    if not (base_path / "config.json").is_file():
        raise ModelNotPrepared(f"{base_path} is not a checkpoint (no config.json): pass the directory "
                               f"reasoner.prepare.ensure_model() returns")
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / TRAIN_MARKER).unlink(missing_ok=True)
    _write_json_atomic(out / CONFIG_FILE, asdict(config))

    # 1) data: fixed-length chunks, shuffled once by the seed
    tokenizer = AutoTokenizer.from_pretrained(str(base_path))
    train_chunks = chunk_texts(tokenizer, train_texts, config.seq_len)
    eval_chunks = chunk_texts(tokenizer, eval_texts, config.seq_len)[: config.eval_chunks]
    if not train_chunks:
        raise ValueError(f"no training text has {config.seq_len} tokens: lower seq_len or pass longer texts")
    rng = random.Random(config.seed)
    rng.shuffle(train_chunks)
    report({"event": "data", "train_chunks": len(train_chunks), "eval_chunks": len(eval_chunks)})

    # 2) model: frozen base in the compute dtype, fresh LoRA, thought embeddings, mixing head
    device = _resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    torch.manual_seed(config.seed)
    lm = AutoModelForCausalLM.from_pretrained(str(base_path), dtype=dtype, attn_implementation="eager")
    lm = get_peft_model(lm, LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                                       target_modules=list(DEFAULT_TARGET_MODULES), task_type="CAUSAL_LM"))
    model = wrap_model(lm, tokenizer, config).to(device)
    model.train()
    lora = [p for n, p in model.lm.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([
        {"params": lora, "lr": config.learning_rate},
        {"params": [model.thought_embeddings], "lr": config.embedding_lr},
        {"params": list(model.mixer.parameters()), "lr": config.mixer_lr},
    ], weight_decay=0.0)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)
    gen = torch.Generator(device=device).manual_seed(config.seed)

    # 3) the loop: a batch of chunks, positions drawn, thoughts sampled in parallel, one step
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
        L = config.seq_len
        if config.positions:
            positions = torch.randperm(L - 1, generator=torch.Generator().manual_seed(config.seed * 100_003 + step))
            positions = positions[: config.positions].sort().values.to(device)
        else:
            positions = torch.arange(L - 1, device=device)
        with autocast:
            tp = think(model, ids, positions, n_thoughts=config.n_thoughts, thought_len=config.thought_len,
                       n_ahead=config.n_ahead, temperature=config.thought_temperature, generator=gen)
            loss, parts = quiet_star_loss(model, ids, tp, n_thoughts=config.n_thoughts,
                                          base_loss_weight=config.base_loss_weight,
                                          reinforce_weight=config.reinforce_weight)
        loss.backward()
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        # tokens through the model: the text plus every block of every column
        tokens += ids.numel() + ids.shape[0] * tp.columns.numel() * (config.thought_len + 1 + config.n_ahead)
        history.append({"step": step + 1, **{k: round(v, 5) for k, v in parts.items()}})
        if (step + 1) % config.log_every == 0 or step + 1 == config.max_steps:
            elapsed = time.perf_counter() - t_loop
            report({"event": "step", **history[-1], "tokens_per_s": round(tokens / elapsed, 1),
                    "step_s": round(elapsed / (step + 1), 2), "elapsed_s": round(elapsed, 1)})
    train_s = time.perf_counter() - t_loop

    # 4) artifacts: adapter and thought weights, then evaluation, metrics and the marker last
    model.lm.save_pretrained(str(out / "adapter"))
    save_file(model.trainable_state(), str(out / WEIGHTS_FILE))
    evaluation = None
    t_eval = time.perf_counter()
    if eval_chunks:
        with autocast:
            evaluation = evaluate(model, eval_chunks, thought_len=config.thought_len,
                                  temperature=config.thought_temperature, seed=config.seed, progress=report)
    metrics = {
        "config": asdict(config), "device": str(device), "dtype": str(dtype).removeprefix("torch."),
        "train_chunks": len(train_chunks), "eval_chunks": len(eval_chunks), "steps": config.max_steps,
        "tokens": tokens, "tokens_per_s": round(tokens / train_s, 2), "train_s": round(train_s, 1),
        "eval_s": round(time.perf_counter() - t_eval, 1), "history": history, "evaluation": evaluation,
        "trainable": {"lora": sum(p.numel() for p in lora), "thought_embeddings": model.thought_embeddings.numel(),
                      "mixer": sum(p.numel() for p in model.mixer.parameters())},
    }
    metrics["wall_s"] = round(time.perf_counter() - t_start, 1)
    _write_json_atomic(out / "metrics.json", metrics)
    _write_plot(out / "loss.png", history)
    (out / "report.md").write_text(render_report(metrics), encoding="utf-8")
    _write_json_atomic(out / TRAIN_MARKER, {"kind": "quiet-star", "config": asdict(config),
                                            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    report({"event": "done", "out": str(out), "train_s": metrics["train_s"], "wall_s": metrics["wall_s"]})
    return metrics


def _write_plot(path: Path, history: list[dict[str, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]

    def smooth(values: list[float], k: int = 10) -> list[float]:
        return [sum(values[max(0, i - k + 1): i + 1]) / len(values[max(0, i - k + 1): i + 1]) for i in range(len(values))]

    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (("mixed_nll", "with thought (mixed, n-ahead)"), ("base_nll", "without thought (next token)")):
        ax.plot(steps, smooth([h[key] for h in history]), label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss (moving average of {min(10, len(steps))} steps)")
    ax.set_title("Quiet-STaR training loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def render_report(metrics: dict[str, Any]) -> str:
    c = metrics["config"]
    lines = ["# Quiet-STaR run", "",
             f"- base model: `{c['base_model']}`, device {metrics['device']}, dtype {metrics['dtype']}, seed {c['seed']}",
             f"- {metrics['steps']} steps × {c['batch_size']} chunk(s) of {c['seq_len']} tokens; "
             f"thought length {c['thought_len']}, n-ahead {c['n_ahead']}, {c['n_thoughts']} thoughts at "
             f"{c['positions'] or 'every'} positions per chunk",
             f"- trainable: LoRA r={c['lora_rank']} ({metrics['trainable']['lora']:,} params), thought embeddings, "
             f"mixing head ({metrics['trainable']['mixer']:,} params)",
             f"- training {metrics['train_s']} s ({metrics['tokens_per_s']} tokens/s), evaluation {metrics['eval_s']} s, "
             f"wall {metrics['wall_s']} s", ""]
    ev = metrics.get("evaluation")
    if ev:
        lines += [f"Held-out: {ev['chunks']} chunks, {ev['tokens']} scored tokens; difficult tokens: the "
                  f"{ev['difficult_tokens']} whose base-model loss is >= {ev['difficult_base_loss_cut']} "
                  f"(top {round(100 * (1 - ev['difficult_quantile']))}%).", "",
                  "| model | loss | perplexity | loss on difficult tokens |", "|---|---|---|---|"]
        for key, label in (("thought", "trained, with thoughts"), ("no_thought", "trained, without thoughts"),
                           ("base", "base model")):
            r = ev[key]
            lines.append(f"| {label} | {r['loss']} | {r['perplexity']} | {r['difficult_loss']} |")
        lines.append("")
    lines.append("![loss](loss.png)")
    return "\n".join(lines) + "\n"
