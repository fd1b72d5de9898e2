"""Generation one token at a time: the reference for the parallel pass, and the serving path
(`deepstar quiet-star serve`). Before each token the model thinks, mixes, and forgets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from reasoner.quiet_star.model import QuietStar, _new_cache, _truncate, _window, build_mask

__all__ = ["generate"]


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
