"""The STaR loop resuming after faults, with fakes: stage points in order, rollouts whose
run raised are run again, a damaged trained adapter is trained again."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.errors import StageFailed
from evals.star import StarConfig, StarDeps, StarLoop
from reasoner.errors import EndpointUnavailable, ReasonerError
from tests.evals.test_star import DEV, TRAIN, Fakes, record

DEMOS = [record(id="demo", question="Demo?")]


def make(tmp_path, fakes, **deps):
    cfg = StarConfig(out_dir=str(tmp_path / "star"), iterations=1, samples_per_task=1, base_steps=1, seed_steps=1,
                     noise_seeds=1, concurrency=1)
    return StarLoop(cfg, StarDeps(run=fakes.run, train=fakes.train, load_adapter=fakes.load, base_model="base",
                                  progress=lambda m: None, **deps), system="S")


async def test_each_stage_is_announced_as_it_starts(tmp_path):
    points: list[str] = []
    await make(tmp_path, Fakes(), on_stage=points.append).run(TRAIN, DEV, DEMOS)
    assert points == ["seed/train", "seed/load", "seed/s0/eval", "iter_1/rollout", "iter_1/filter",
                      "iter_1/rationalize", "iter_1/train", "iter_1/load", "iter_1/eval"]
    # a rerun of a finished loop trains nothing again (it only reloads the adapters)
    points.clear()
    await make(tmp_path, Fakes(), on_stage=points.append).run(TRAIN, DEV, DEMOS)
    assert "seed/train" not in points and "iter_1/train" not in points and "iter_1/load" in points


async def test_rollouts_whose_run_raised_run_again_on_resume(tmp_path):
    class ServerDown(Fakes):
        async def run(self, task, **kw):
            if kw["hint"] is None and kw["model"].endswith("seed-s0") and kw["temperature"] > 0:
                raise EndpointUnavailable("http://x/v1", "connection refused")
            return await super().run(task, **kw)

    # every rollout raising is a systematic failure: the stage stops the loop (it would
    # otherwise train on demonstrations alone) ...
    with pytest.raises(StageFailed, match="iter_1/rollouts: 3 of 3 runs raised"):
        await make(tmp_path, ServerDown()).run(TRAIN, DEV, DEMOS)
    path = tmp_path / "star" / "iter_1" / "rollouts.jsonl"
    assert path.read_text().count('"_raised": true') == len(TRAIN)
    assert not (tmp_path / "star" / "iter_1" / "kept.jsonl").exists()  # nothing was filtered or trained
    # ... and the same command, once the server is back, runs them again
    fakes = Fakes()
    loop = make(tmp_path, fakes)
    await loop.run(TRAIN, DEV, DEMOS)
    rollout_runs = [r for r in fakes.runs if r[2] is None and r[1] == "star-seed-s0"]
    assert len([r for r in rollout_runs if r[0] in {t["id"] for t in TRAIN}]) == len(TRAIN)
    latest = loop._read_jsonl(path)
    assert len(latest) == 2 * len(TRAIN)  # the raised lines stay; the re-run lines supersede them


async def test_a_damaged_trained_adapter_is_trained_again(tmp_path):
    damaged: set[Path] = set()

    def check(path: Path) -> None:
        if path in damaged:
            raise ReasonerError(f"{path}/adapter_model.safetensors is truncated or damaged")

    fakes = Fakes()
    await make(tmp_path, fakes, check_adapter=check).run(TRAIN, DEV, DEMOS)
    assert [t[0] for t in fakes.trained] == ["seed", "iter_1"]
    damaged.add(tmp_path / "star" / "iter_1" / "adapter")
    again = Fakes()
    notes: list[str] = []
    loop = make(tmp_path, again, check_adapter=check)
    loop.deps.progress = notes.append
    await loop.run(TRAIN, DEV, DEMOS)
    assert [t[0] for t in again.trained] == ["iter_1"]  # only the damaged one
    assert any("unusable" in n and "training it again" in n for n in notes)
