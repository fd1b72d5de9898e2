"""reasoner.stats: the paired bootstrap every report uses."""

from __future__ import annotations

import math
import random

import pytest

from reasoner.stats import bootstrap_ratio, paired_difference


def test_identical_systems_differ_by_exactly_zero():
    a = {f"t{i}": float(i % 2) for i in range(40)}
    d = paired_difference(a, dict(a), resamples=500)
    assert d["delta"] == 0 and d["ci95"] == [0, 0] and not d["excludes_zero"] and d["n"] == 40


def test_one_task_of_forty_is_not_a_gain():
    base = {f"t{i}": float(i < 8) for i in range(40)}
    better = {**base, "t30": 1.0}  # one more task right
    d = paired_difference(better, base, resamples=2000)
    assert d["delta"] == pytest.approx(0.025) and d["ci95"][0] == 0 and not d["excludes_zero"]


def test_a_consistent_gain_excludes_zero_and_matches_the_normal_width():
    rng = random.Random(1)
    base = {f"t{i}": float(rng.random() < 0.2) for i in range(200)}
    tuned = {k: 1.0 if v else float(rng.random() < 0.3) for k, v in base.items()}
    d = paired_difference(tuned, base, resamples=4000, seed=3)
    diffs = [tuned[k] - base[k] for k in base]
    mean = sum(diffs) / len(diffs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in diffs) / (len(diffs) - 1))
    half = 1.96 * sd / math.sqrt(len(diffs))
    assert d["excludes_zero"] and d["delta"] == pytest.approx(mean, abs=1e-4)
    assert d["ci95"][0] == pytest.approx(mean - half, abs=0.02) and d["ci95"][1] == pytest.approx(mean + half, abs=0.02)


def test_only_shared_units_are_paired_and_none_shared_is_an_error():
    assert paired_difference({"a": 1.0, "b": 0.0}, {"b": 1.0, "c": 1.0}, resamples=100)["n"] == 1
    with pytest.raises(ValueError, match="same tasks"):
        paired_difference({"a": 1.0}, {"b": 1.0})


def test_the_cluster_ratio_weighs_units_by_their_counts_and_is_deterministic():
    point, (lo, hi) = bootstrap_ratio([10.0, 0.0], [10.0, 90.0], resamples=1000, seed=5)
    assert point == pytest.approx(0.1) and 0.0 <= lo <= point <= hi <= 1.0
    assert bootstrap_ratio([10.0, 0.0], [10.0, 90.0], resamples=1000, seed=5) == (point, (lo, hi))
    with pytest.raises(ValueError):
        bootstrap_ratio([1.0], [1.0, 2.0])
