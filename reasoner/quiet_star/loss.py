"""The training signal of one thought pass: the mixed, non-myopic LM loss, the plain LM loss,
and REINFORCE on the thought tokens, with the numbers that show whether the policy learns."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reasoner.quiet_star.model import QuietStar
from reasoner.quiet_star.thoughts import ThoughtPass

__all__ = ["quiet_star_loss"]


def quiet_star_loss(model: QuietStar, ids: torch.Tensor, tp: ThoughtPass, *, n_thoughts: int,
                    base_loss_weight: float = 1.0, policy_loss_beta: float = 1.0,
                    remove_negative_rewards: bool = False,
                    thought_logprob_reduction: str = "sum") -> tuple[torch.Tensor, dict[str, float]]:
    """The joint loss of one thought pass and its parts (floats, for logging).

    A thought's reward is how much it lowered the loss of the next n_ahead true tokens: the
    plain prediction's loss minus the mixed prediction's, summed over those tokens (the
    official "loss reduction from thinking"). Its advantage is the reward minus the mean
    reward of the n_thoughts thoughts at the same position; `remove_negative_rewards` clamps
    the advantage at 0. The policy loss is -advantage * log p(thought), p's token
    log-probabilities combined by `thought_logprob_reduction` ('sum' or 'mean'), weighted by
    `policy_loss_beta`.

    Parts: loss, mixed_nll (with thought, next n_ahead tokens), base_nll (plain, every
    token), reinforce (the unweighted policy loss), mix_weight, reward (mean loss reduction
    from thinking, nats), helps (share of positions whose mean reward is > 0), thought_logprob
    (mean log-probability of a thought token under the policy)."""
    B, L = ids.shape
    n_ahead = tp.h_after.shape[2]
    text_logits = model.logits(tp.h_text)                                   # [B, L, V]
    base_loss = F.cross_entropy(text_logits[:, :-1].reshape(-1, text_logits.shape[-1]), ids[:, 1:].reshape(-1))
    nll = torch.zeros(B, tp.columns.shape[0], device=ids.device)           # [B, J] mixed loss of the n_ahead tokens
    plain = torch.zeros(B, tp.columns.shape[0], device=ids.device)         # [B, J] the same tokens, no thought
    count = 0
    weights = []
    for a in range(n_ahead):
        target_at = tp.columns + 1 + a
        valid = target_at < L
        at = (tp.columns + a).clamp(max=L - 1)
        targets = ids[:, target_at.clamp(max=L - 1)]
        w = model.mix_weight(tp.h_text[:, at], tp.h_after[:, :, a])           # [B, J, 1]
        mixed = (1 - w) * text_logits[:, at] + w * model.logits(tp.h_after[:, :, a])
        nll = nll + F.cross_entropy(mixed.transpose(1, 2), targets, reduction="none") * valid
        plain = plain + F.cross_entropy(text_logits[:, at].detach().transpose(1, 2), targets, reduction="none") * valid
        count += int(valid.sum()) * B
        weights.append(w.detach().mean())
    mixed_loss = nll.sum() / max(count, 1)
    reward = (plain - nll).detach().view(B, n_thoughts, -1)                 # [B, N, P]
    advantage = reward - reward.mean(dim=1, keepdim=True)
    if remove_negative_rewards:
        advantage = advantage.clamp(min=0)
    token_logp = tp.thought_logprobs.view(B, n_thoughts, -1, tp.thought_logprobs.shape[-1])
    logp = token_logp.mean(-1) if thought_logprob_reduction == "mean" else token_logp.sum(-1)
    reinforce = -(advantage * logp).mean()
    loss = mixed_loss + base_loss_weight * base_loss + policy_loss_beta * reinforce
    parts = {"loss": float(loss.detach()), "mixed_nll": float(mixed_loss.detach()),
             "base_nll": float(base_loss.detach()), "reinforce": float(reinforce.detach()),
             "mix_weight": float(torch.stack(weights).mean()), "reward": float(reward.mean()),
             "helps": float((reward.mean(dim=1) > 0).float().mean()),
             "thought_logprob": float(tp.thought_logprobs.detach().mean())}
    return loss, parts
