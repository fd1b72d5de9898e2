"""`deepstar quiet-star compare` through the real CLI, on run directories holding what
train_quiet_star writes (metrics from the tiny model's real evaluation), and the train
command's checks of its input, which come before any model is prepared."""

from __future__ import annotations

import json
from pathlib import Path

import torch  # noqa: F401  (the train extra: CI installs it; a broken one fails here, never skips)
import transformers  # noqa: F401

from tests.conftest import deepstar


def write_run(path: Path, metrics: dict) -> Path:
    path.mkdir(parents=True)
    (path / "metrics.json").write_text(json.dumps(metrics))
    (path / "deepstar-train.json").write_text(json.dumps({"kind": "quiet-star", "config": metrics["config"]}))
    return path


def test_compare_prints_two_runs_side_by_side(tmp_path: Path):
    from tests.reasoner.test_quiet_star import tiny_run_metrics

    legacy = write_run(tmp_path / "a", tiny_run_metrics("legacy", -8.0))
    official = write_run(tmp_path / "b", tiny_run_metrics("official", 0.0))
    proc = deepstar("quiet-star", "compare", str(legacy), str(official), home=tmp_path, check=True, timeout=300)
    assert proc.stdout.splitlines()[0] == "| | legacy (a) | official (b) |"
    assert "| with − without (95% CI) |" in proc.stdout and "| mixing weight, held-out |" in proc.stdout
    labelled = deepstar("quiet-star", "compare", str(legacy), str(official), "--label", "old", "--label", "paper",
                        home=tmp_path, check=True, timeout=300)
    assert labelled.stdout.splitlines()[0] == "| | old | paper |"


def test_compare_refuses_a_directory_that_is_not_a_finished_run(tmp_path: Path):
    official = write_run(tmp_path / "b", {"config": {"weighting": "official"}})
    (tmp_path / "empty").mkdir()
    proc = deepstar("quiet-star", "compare", str(tmp_path / "empty"), str(official), home=tmp_path, timeout=300)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "is not a finished Quiet-STaR run" in proc.stderr and "deepstar quiet-star train" in proc.stderr
    one = deepstar("quiet-star", "compare", str(official), home=tmp_path, timeout=300)
    assert one.returncode != 0 and "at least two run directories" in one.stderr and "Traceback" not in one.stderr


def test_train_refuses_a_bad_weighting_or_budget_before_touching_the_model(tmp_path: Path):
    bad = deepstar("quiet-star", "train", "--out", str(tmp_path / "run"), "--weighting", "paper", home=tmp_path, timeout=300)
    assert bad.returncode == 2 and "weighting must be one of official, legacy, got 'paper'" in bad.stderr
    too_many = deepstar("quiet-star", "train", "--out", str(tmp_path / "run"), "--positions", "100", home=tmp_path,
                        timeout=300)
    assert too_many.returncode == 2 and "positions must be in [0, seq_len - 1 = 47], got 100" in too_many.stderr
    assert "Traceback" not in bad.stderr + too_many.stderr and not (tmp_path / "models").exists()
