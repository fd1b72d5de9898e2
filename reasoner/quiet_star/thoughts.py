"""The parallel thought pass: thoughts after many positions of a chunk at once, over one
KV cache, with the "diagonal" mask keeping every thought to its own column."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from reasoner.quiet_star.model import QuietStar, _new_cache, _window, build_mask, text_hidden

__all__ = ["ThoughtPass", "think"]


@dataclass
class ThoughtPass:
    h_text: torch.Tensor          # [B, L, H] hidden states of the text, no thought
    h_after: torch.Tensor         # [B, J, n_ahead, H]: after <|endthought|>, then after each forced token
    columns: torch.Tensor         # [J] text position each column thinks after (J = N * P, thought r = j // P)
    thoughts: torch.Tensor        # [B, J, T] the thought tokens
    thought_logprobs: torch.Tensor  # [B, J, T] their log-probability under the policy (see think)


def think(model: QuietStar, ids: torch.Tensor, positions: torch.Tensor, *, n_thoughts: int, thought_len: int,
          n_ahead: int, temperature: float = 1.0, generator: torch.Generator | None = None,
          thoughts: torch.Tensor | None = None, reinforce_temperature: float = 0.0) -> ThoughtPass:
    """Thoughts after every position in `positions`, n_thoughts each, all in parallel: one
    forward per thought token over all J columns, each block reusing the KV cache of the
    text and of the earlier blocks. `thoughts` ([B, J, T]) forces the thought tokens
    (for tests and scoring); otherwise they are sampled at `temperature`. The recorded
    log-probability of a thought token, the one REINFORCE moves, is taken from
    logits / reinforce_temperature (the official implementation uses 3, a flatter
    distribution than the one sampled from); 0 takes it from the sampling distribution."""
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
        if reinforce_temperature > 0:
            logp = F.log_softmax(logits / reinforce_temperature, dim=-1)
        sampled.append(token)
        logps.append(logp.gather(-1, token[..., None]).squeeze(-1))
        h = step(token, 2 + t)
    after = [step(torch.full((B, J), model.end_id, device=device), thought_len + 2)]
    for a in range(1, n_ahead):  # teacher forcing: the true tokens that follow the position
        forced = ids[:, (columns + a).clamp(max=L - 1)]
        after.append(step(forced, thought_len + 2 + a))
    return ThoughtPass(h_text=h_text, h_after=torch.stack(after, dim=2), columns=columns,
                       thoughts=torch.stack(sampled, dim=-1), thought_logprobs=torch.stack(logps, dim=-1))


