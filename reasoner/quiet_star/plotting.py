"""loss.png: the training curves that say whether the thoughts are used and the policy learns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_plot"]

# (history keys and labels, y-axis label) per panel; a panel whose keys a history lacks
# (a run from before they were logged) is left out
PANELS = [
    ([("mixed_nll", "with thought (mixed, n-ahead)"), ("base_nll", "without thought (next token)")], "loss (nats)"),
    ([("mix_weight", "mixing weight")], "weight on the thought"),
    ([("reward", "mean reward: loss reduction from thinking")], "nats"),
    ([("helps", "share of positions where thinking helps")], "share"),
    ([("thought_logprob", "thought-token log-probability")], "log p per token"),
]


def _smooth(values: list[float], k: int = 10) -> list[float]:
    return [sum(values[max(0, i - k + 1): i + 1]) / len(values[max(0, i - k + 1): i + 1]) for i in range(len(values))]


def write_plot(path: Path, history: list[dict[str, Any]]) -> list[str]:
    """Write the panels the history has keys for; their first keys, top to bottom."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    panels = [(series, ylabel) for series, ylabel in PANELS if history and all(k in history[0] for k, _ in series)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.4 * len(panels)), sharex=True, squeeze=False)
    window = min(10, len(steps))
    for ax, (series, ylabel) in zip(axes[:, 0], panels, strict=True):
        for key, label in series:
            ax.plot(steps, _smooth([h[key] for h in history]), label=label)
        ax.set_ylabel(ylabel)
        if series[0][0] == "mix_weight" and min(h["mix_weight"] for h in history) > 0:
            ax.set_yscale("log")  # a head switching the thoughts off falls by orders of magnitude
        ax.legend(fontsize=8)
    axes[0, 0].set_title(f"Quiet-STaR training (moving averages of {window} steps)")
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [series[0][0] for series, _ in panels]
