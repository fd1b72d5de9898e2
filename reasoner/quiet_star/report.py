"""report.md of one run, and the side-by-side table of two (`deepstar quiet-star compare`)."""

from __future__ import annotations

from typing import Any

__all__ = ["render_comparison", "render_report"]


def _ci(pair: dict[str, Any], key: str = "") -> str:
    lo, hi = pair[f"{key}ci95"]
    return f"{pair[f'{key}delta']:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def _tail_mean(history: list[dict[str, Any]], key: str, n: int = 50) -> float | None:
    values = [h[key] for h in history[-n:] if key in h]
    return sum(values) / len(values) if values else None


def render_report(metrics: dict[str, Any]) -> str:
    c = metrics["config"]
    trainable = metrics["trainable"]
    what = (f"the whole model ({trainable.get('model', 0):,} params) at lr {c['learning_rate']:g}"
            if c.get("trainable") == "full" else
            f"LoRA r={c['lora_rank']} ({trainable.get('model', trainable.get('lora', 0)):,} params) at lr {c['learning_rate']:g}")
    lines = ["# Quiet-STaR run", "",
             f"- weighting `{c.get('weighting', 'legacy')}`; base model `{c['base_model']}`, device {metrics['device']}, "
             f"compute dtype {metrics['dtype']} (fp32 weights), seed {c['seed']}",
             f"- {metrics['steps']} steps × {c['batch_size']} chunk(s) of {c['seq_len']} tokens; "
             f"thought length {c['thought_len']} (+ start and end), n-ahead {c['n_ahead']}, {c['n_thoughts']} thoughts at "
             f"{c['positions'] or 'every'} positions per chunk",
             f"- policy loss beta {c.get('policy_loss_beta', c.get('reinforce_weight'))}, negative rewards "
             f"{'clamped' if c.get('remove_negative_rewards') else 'kept'}, reinforce temperature "
             f"{c.get('reinforce_temperature') or 'none'}, embedding scale {c.get('embedding_scale', 1.0):g}",
             f"- trainable: {what}, thought embeddings, mixing head ({trainable['mixer']:,} params)",
             f"- training {metrics['train_s']} s ({metrics['tokens_per_s']} tokens/s), evaluation {metrics['eval_s']} s, "
             f"wall {metrics['wall_s']} s"]
    if c.get("overrides"):
        lines.append("- departs from the preset: " + ", ".join(
            f"{k} {v['used']!r} (preset {v['preset']!r})" for k, v in c["overrides"].items()))
    lines.append("")
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
        pair = ev.get("paired", {}).get("thought_minus_no_thought")
        if pair:
            lines += ["", f"With minus without thoughts (same chunks; 95% bootstrap interval over chunks): "
                          f"{_ci(pair)} nats on all tokens, {_ci(pair, 'difficult_')} on the difficult ones. "
                          f"Mixing weight on the held-out chunks: {ev.get('mix_weight')}."]
        lines.append("")
    lines.append("![loss](loss.png)")
    return "\n".join(lines) + "\n"


def render_comparison(runs: dict[str, dict[str, Any]]) -> str:
    """A markdown table, one column per run ({label: metrics}), of what decides whether the
    thoughts help: held-out loss with and without them, the paired difference with its
    interval, the difficult tokens, the mixing weight, and the last 50 steps' policy numbers."""
    labels = list(runs)

    def row(name: str, get: Any) -> str:
        cells = []
        for label in labels:
            try:
                value = get(runs[label])
            except (KeyError, TypeError):
                value = None
            cells.append("—" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value)))
        return f"| {name} | " + " | ".join(cells) + " |"

    def ev(m: dict[str, Any]) -> dict[str, Any]:
        return m["evaluation"]

    def pair(m: dict[str, Any]) -> dict[str, Any]:
        return ev(m)["paired"]["thought_minus_no_thought"]

    lines = ["| | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels),
             row("weighting", lambda m: m["config"].get("weighting", "legacy")),
             row("steps × chunk tokens", lambda m: f"{m['steps']} × {m['config']['seq_len']}"),
             row("thinking positions per chunk", lambda m: m["config"]["positions"] or "every"),
             row("held-out chunks / tokens", lambda m: f"{ev(m)['chunks']} / {ev(m)['tokens']}"),
             row("loss with thoughts", lambda m: ev(m)["thought"]["loss"]),
             row("loss without thoughts", lambda m: ev(m)["no_thought"]["loss"]),
             row("base model loss", lambda m: ev(m)["base"]["loss"]),
             row("with − without (95% CI)", lambda m: _ci(pair(m))),
             row("difficult tokens: with thoughts", lambda m: ev(m)["thought"]["difficult_loss"]),
             row("difficult tokens: without", lambda m: ev(m)["no_thought"]["difficult_loss"]),
             row("difficult: with − without (95% CI)", lambda m: _ci(pair(m), "difficult_")),
             row("mixing weight, held-out", lambda m: ev(m)["mix_weight"]),
             row("mixing weight, last step", lambda m: m["history"][-1]["mix_weight"]),
             row("mean reward, last 50 steps (nats)", lambda m: _tail_mean(m["history"], "reward")),
             row("share thinking helps, last 50 steps", lambda m: _tail_mean(m["history"], "helps")),
             row("thought log-prob, last 50 steps", lambda m: _tail_mean(m["history"], "thought_logprob")),
             row("training s (tokens/s)", lambda m: f"{m['train_s']} ({m['tokens_per_s']})")]
    return "\n".join(lines) + "\n"
