"""The model: a causal LM, two thought-token embeddings and a mixing head, with the
attention masks and caches that let thoughts run beside the text."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from reasoner.quiet_star.config import QuietStarConfig

__all__ = ["END_THOUGHT", "START_THOUGHT", "QuietStar", "build_mask", "text_hidden", "wrap_model"]

START_THOUGHT = "<|startthought|>"
END_THOUGHT = "<|endthought|>"


class QuietStar(nn.Module):
    """Wraps a Hugging Face causal LM (optionally peft-wrapped). Token ids >= base_vocab are
    the thought tokens, embedded from `thought_embeddings`; logits cover base_vocab only."""

    def __init__(self, lm: nn.Module, *, base_vocab: int, init_rows: torch.Tensor,
                 mixer_hidden: int = 256, mixer_init: float = -2.0, embedding_scale: float = 1.0) -> None:
        super().__init__()
        self.lm = lm
        self.base_vocab = base_vocab
        self.start_id, self.end_id = base_vocab, base_vocab + 1
        hidden = init_rows.shape[-1]
        # Rows live in the embedding layer's output space (Gemma scales its table by sqrt(d)).
        # Stored divided by embedding_scale and used multiplied by it: Adam's step is about
        # the learning rate in the stored units, so the rows move embedding_scale times faster.
        self.embedding_scale = float(embedding_scale)
        self.thought_embeddings = nn.Parameter(init_rows.detach().float().clone() / self.embedding_scale)
        self.mixer = nn.Sequential(nn.Linear(2 * hidden, mixer_hidden), nn.ReLU(), nn.Linear(mixer_hidden, 1))
        nn.init.zeros_(self.mixer[2].weight)
        nn.init.constant_(self.mixer[2].bias, mixer_init)

    def thought_rows(self) -> torch.Tensor:
        """The two thought-token embeddings as the model sees them ([2, hidden])."""
        return self.thought_embeddings * self.embedding_scale

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
            rows = self.thought_rows()[(ids - self.base_vocab).clamp(0, 1)].to(out.dtype)
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
        # the file holds the rows as used, so it does not depend on embedding_scale
        state = {"thought_embeddings": self.thought_rows().detach().float().cpu().contiguous()}
        state.update({f"mixer.{k}": v.detach().float().cpu().contiguous() for k, v in self.mixer.state_dict().items()})
        return state

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            self.thought_embeddings.copy_(state["thought_embeddings"] / self.embedding_scale)
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


def _add_thought_tokens(tokenizer: Any) -> tuple[int, int]:
    tokenizer.add_special_tokens({"additional_special_tokens": [START_THOUGHT, END_THOUGHT]})
    return tokenizer.convert_tokens_to_ids(START_THOUGHT), tokenizer.convert_tokens_to_ids(END_THOUGHT)


def _init_rows(lm: nn.Module, tokenizer: Any, texts: tuple[str, str]) -> torch.Tensor:
    """The start- and end-of-thought rows: what the embedding table outputs (scale included)
    for the first token of each of `texts`."""
    picks = []
    for text in texts:
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
    rows = _init_rows(lm, tokenizer, (config.start_thought_init, config.end_thought_init))
    return QuietStar(lm, base_vocab=base_vocab, init_rows=rows, mixer_hidden=config.mixer_hidden,
                     mixer_init=config.mixer_init, embedding_scale=config.embedding_scale)


