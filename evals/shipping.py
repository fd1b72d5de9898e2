"""From a STaR run directory to a shippable adapter and its model card.

A run directory (`deepstar star --out DIR`, see evals/star.py) holds `config.json` (the
StarConfig, base model and its hash), `metrics.json` (the seed adapter's and every
iteration's dev summary), `command.json` (the command line that ran it), `seed/` and
`iter_I/` with `adapter*/`, `dataset.jsonl` and `dataset.meta.json` (and `eval_<set>/`
beside each dev eval for the extra sets it also scored, e.g. `--human`), `baseline_*/`, and
`test/metrics.json` once the test split was scored (`--final-test`).
`choose` picks the adapter (the iteration asked for, else the best on dev), `build_card`
writes down everything the model card needs from those files.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.errors import StarError
from reasoner.prepare import sha256_file
from reasoner.shipped_reasoner import RESEARCH_DEFAULTS

__all__ = ["RunChoice", "build_card", "choose", "reproduce_command"]

# StarConfig field -> `deepstar star` flag, for a run that predates command.json
_FLAGS = {"iterations": "--iterations", "start": "--start", "samples_per_task": "--samples",
          "temperature": "--temperature", "train_sample": "--train-sample", "base_steps": "--base-steps",
          "seed_steps": "--seed-steps", "noise_seeds": "--noise-seeds", "concurrency": "--concurrency",
          "seed": "--seed", "run_name": "--run-name", "patience": "--patience"}


@dataclass(frozen=True)
class RunChoice:
    run_dir: Path
    iteration: int  # 0: the seed adapter
    model: str  # the name the run served it under
    adapter_dir: Path
    dataset: Path
    dev: dict[str, Any]  # its dev summary
    chosen_by: str


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise StarError(f"{path} is damaged ({exc}); is this a finished `deepstar star` run?") from None


def _candidates(run_dir: Path, metrics: Mapping[str, Any]) -> list[RunChoice]:
    out = []
    seed = metrics.get("seed")
    if seed and seed.get("evals"):
        first = seed["evals"][0]
        out.append(RunChoice(run_dir, 0, first["model"], run_dir / "seed" / f"adapter-s{first['seed']}",
                             run_dir / "seed" / "dataset.jsonl", first["summary"], ""))
    for m in metrics.get("iterations") or []:
        d = run_dir / f"iter_{m['iteration']}"
        out.append(RunChoice(run_dir, int(m["iteration"]), m["model"], d / "adapter", d / "dataset.jsonl", m["dev"], ""))
    return out


def choose(run_dir: Path, iteration: int | None = None) -> RunChoice:
    """The run's adapter of `iteration` (0 = the seed adapter), else the one the run chose on dev
    (recorded with its test scores), else the one with the highest dev EM (earlier on a tie)."""
    run_dir = Path(run_dir)
    metrics = _read(run_dir / "metrics.json")
    if not isinstance(metrics, dict):
        raise StarError(f"{run_dir} is not a STaR run directory (no metrics.json): give the --out DIR of a "
                        "`deepstar star` run")
    # an iteration whose training was skipped (no data) serves the previous model: not an adapter of its own
    found = [c for c in _candidates(run_dir, metrics) if (c.adapter_dir / "adapter_config.json").exists()]
    if not found:
        raise StarError(f"{run_dir} holds no trained adapter yet; let `deepstar star --out {run_dir} ...` finish")
    if iteration is not None:
        match = [c for c in found if c.iteration == iteration]
        if not match:
            raise StarError(f"{run_dir} has no adapter of iteration {iteration}; it has iterations "
                            f"{', '.join(str(c.iteration) for c in found)} (0 is the seed adapter)")
        c = match[0]
        return RunChoice(**{**c.__dict__, "chosen_by": f"iteration {iteration} asked for"})

    chosen = ((_read(run_dir / "test" / "metrics.json") or {}).get("chosen") or {}).get("iteration")
    if chosen is not None and any(c.iteration == chosen for c in found):
        best = next(c for c in found if c.iteration == chosen)
        return RunChoice(**{**best.__dict__, "chosen_by": "the run's choice on dev (the model it scored on test)"})
    # the loop's own rule (StarLoop.best_iteration): the highest dev EM, the earlier iteration on a tie
    best = max(found, key=lambda c: (c.dev.get("overall", {}).get("em", 0.0), -c.iteration))
    return RunChoice(**{**best.__dict__, "chosen_by": "the highest dev EM of the run (the earlier on a tie)"})


def reproduce_command(run_dir: Path, config: Mapping[str, Any]) -> str:
    """The command line that ran the STaR loop (recorded in command.json), else one rebuilt
    from its config with TASKS standing for the task file."""
    recorded = _read(Path(run_dir) / "command.json")
    if isinstance(recorded, dict) and recorded.get("argv"):
        return "deepstar " + shlex.join(recorded["argv"])
    parts = ["deepstar", "star", "--train", "TASKS", "--dev", "TASKS", "--out", str(run_dir)]
    for name, flag in _FLAGS.items():
        if config.get(name) is not None:
            parts += [flag, str(config[name])]
    return shlex.join(parts) + "   # TASKS: `deepstar tasks synth --seed 0 --out TASKS`"


def _row(model: str, split: str, summary: Mapping[str, Any]) -> dict[str, Any]:
    o = summary.get("overall", {})
    return {"model": model, "split": split, "em": o.get("em"), "f1": o.get("f1"),
            "citation_support": o.get("citation_support"), "success": o.get("success_rate"), "n": o.get("n"),
            "by_kind": {k: v.get("em") for k, v in (summary.get("by_kind") or {}).items()}}


def _with_extra(rows: list[dict[str, Any]], label: str, summary: Mapping[str, Any], eval_dir: Path) -> None:
    """The dev row, then one row per extra set the run scored beside dev (`eval_<name>/`, e.g. human)."""
    rows.append(_row(label, "dev", summary))
    for extra in sorted(eval_dir.glob("eval_*/summary.json")):
        rows.append(_row(label, extra.parent.name.removeprefix("eval_"), _read(extra) or {}))


def _results(run_dir: Path, metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for kind in ("fewshot", "direct"):
        b = _read(run_dir / f"baseline_{kind}" / "metrics.json")
        if b:
            _with_extra(rows, f"baseline: {kind}", b["dev"], run_dir / f"baseline_{kind}")
    for e in (metrics.get("seed") or {}).get("evals") or []:
        _with_extra(rows, f"iteration 0 (seed adapter, training seed {e['seed']})", e["summary"],
                    run_dir / "seed" / f"s{e['seed']}")
    for m in metrics.get("iterations") or []:
        _with_extra(rows, f"iteration {m['iteration']}", m["dev"], run_dir / f"iter_{m['iteration']}")
    # the test split, scored once at the end (`deepstar star --final-test`): test/metrics.json
    test = _read(run_dir / "test" / "metrics.json") or {}
    for label, arm in (test.get("arms") or {}).items():
        rows.append(_row(f"{label}: {arm.get('model')}", "test", arm.get("summary") or {}))
    return rows


def _settings_label(settings: Mapping[str, Any]) -> str:
    on = [k for k in ("focus_reading", "answer_spans", "subject_page_answers", "typed_answers") if settings.get(k) is True]
    off = [k for k in ("focus_reading", "answer_spans", "subject_page_answers") if settings.get(k) is False]
    return ", ".join([*on, *(f"no {k}" for k in off)]) or "the defaults"


def build_card(choice: RunChoice, *, base_model: str, default_mode: str | None = None,
               research: Mapping[str, Any] | None = None,
               served_evals: Mapping[str, Path] | None = None) -> dict[str, Any]:
    """Everything the model card says about the chosen adapter (reasoner.shipped_reasoner adds the files).

    `research`: the research settings it is served with (focus_reading, ...), as the run
    recorded them in config.json, updated by these; an older run recorded none.
    `served_evals`: split -> summary JSON of `deepstar eval` runs of this adapter with those
    settings (e.g. answer spans measured after the run), added to the results table."""
    run_dir = choice.run_dir
    metrics = _read(run_dir / "metrics.json") or {}
    config = _read(run_dir / "config.json") or {}
    star = config.get("config") or metrics.get("config") or {}
    if not choice.dataset.exists():
        raise StarError(f"{choice.dataset} is missing: the card needs the training data the adapter was trained on")
    meta = _read(choice.dataset.with_name("dataset.meta.json")) or {}
    records = sum(1 for line in choice.dataset.read_text(encoding="utf-8").splitlines() if line.strip())
    mode = default_mode or star.get("mode") or "react"
    kinds = sorted(choice.dev.get("by_kind") or {})
    settings = {**(config.get("research") or {}), **(research or {})}
    results = _results(run_dir, metrics)
    for split, path in (served_evals or {}).items():
        summary = _read(Path(path))
        if not isinstance(summary, dict) or "overall" not in summary:
            raise StarError(f"{path} is not a `deepstar eval` summary (no 'overall'): give the --out JSON of an eval")
        results.append(_row(f"as shipped ({choice.model}, {_settings_label(settings)})", split, summary))
    # the settings the run's demonstrations and evals ran with that differ from a fresh run's
    # (RESEARCH_DEFAULTS) come from the environment: the command carries them
    env = [f"DEEPSTAR_{k.upper()}={str(settings[k]).lower()}" for k, fresh in RESEARCH_DEFAULTS.items()
           if isinstance(settings.get(k), bool) and settings[k] is not fresh]
    reproduce = " ".join([*env, reproduce_command(run_dir, star)])
    return {
        "base_model": {"name": config.get("base_model") or base_model,
                       "sha256": config.get("base_model_hash") or metrics.get("base_model_hash") or None},
        "training_data": {"sha256": sha256_file(choice.dataset), "records": records, "origins": meta.get("origins")},
        "star_config": star,
        "source": {"run_dir": str(run_dir.resolve()), "iteration": choice.iteration, "model": choice.model,
                   "chosen_by": choice.chosen_by},
        "results": results,
        # the mode the run trained and measured it in, for every task kind it was measured on
        "default_mode": {"default": mode, **{k: mode for k in kinds}},
        # the settings it was trained and measured with: research runs that use it get them
        "research": settings,
        "reproduce": reproduce,
    }
