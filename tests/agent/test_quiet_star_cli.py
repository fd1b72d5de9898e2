"""Quiet-STaR end to end on the real bundled model, on CPU: a few training steps of each
weighting through `deepstar quiet-star train` (official: the whole model; legacy: a LoRA),
`deepstar quiet-star compare` on the two, then the torch generation path (`deepstar
quiet-star serve --thinking quiet`, a real loopback HTTP server) answering through the real
agent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import torch  # noqa: F401  (the train extra: broken is a failure, not a skip)

from tests.conftest import REPO, deepstar, free_port

pytestmark = pytest.mark.integration


TINY = ["--steps", "2", "--seq-len", "20", "--positions", "2", "--thought-len", "2", "--n-ahead", "2",
        "--n-thoughts", "2", "--eval-chunks", "2", "--log-every", "1"]


@pytest.fixture(scope="module")
def trained_run(prepared_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("qs-home")
    out = tmp_path_factory.mktemp("qs") / "run"
    deepstar("quiet-star", "train", "--corpus", "wiki", "--out", str(out), "--model", str(prepared_model), *TINY,
             home=home, check=True, timeout=900)
    return out


@pytest.fixture(scope="module")
def legacy_run(prepared_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("qs-home")
    out = tmp_path_factory.mktemp("qs") / "legacy"
    deepstar("quiet-star", "train", "--weighting", "legacy", "--out", str(out), "--model", str(prepared_model), *TINY,
             home=home, check=True, timeout=900)
    return out


def test_short_training_run_writes_its_artifacts(trained_run: Path):
    from safetensors.torch import load_file

    config = json.loads((trained_run / "quiet-star.json").read_text())
    assert config["max_steps"] == 2 and config["thought_len"] == 2 and config["extra"]["corpus"] == "wiki"
    # the official weighting is the default, and the run says where the budget departs from it
    assert config["weighting"] == "official" and config["policy_loss_beta"] == 1e6 and config["trainable"] == "full"
    assert config["overrides"]["positions"] == {"preset": 0, "used": 2}
    assert config["overrides"]["thought_len"] == {"preset": 10, "used": 2}
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["config"] == config
    assert [h["step"] for h in metrics["history"]] == [1, 2]
    assert {"mix_weight", "reward", "helps", "thought_logprob"} <= set(metrics["history"][-1])
    ev = metrics["evaluation"]
    assert ev["chunks"] == 2 and ev["tokens"] == 2 * 19
    pair = ev["paired"]["thought_minus_no_thought"]
    assert pair["ci95"][0] <= pair["delta"] <= pair["ci95"][1] and 0 < ev["mix_weight"] < 1
    for key in ("thought", "no_thought", "base"):
        assert ev[key]["loss"] > 0 and ev[key]["perplexity"] > 1
    weights = load_file(str(trained_run / "quiet_star.safetensors"))
    assert weights["thought_embeddings"].shape == (2, 640)
    assert (trained_run / "model" / "config.json").is_file() and not (trained_run / "adapter").exists()
    assert (trained_run / "loss.png").stat().st_size > 1000
    assert "| trained, with thoughts |" in (trained_run / "report.md").read_text()
    marker = json.loads((trained_run / "deepstar-train.json").read_text())
    assert marker["kind"] == "quiet-star" and marker["config"] == config


def test_the_legacy_weighting_trains_a_lora_and_compares_beside_the_official(trained_run: Path, legacy_run: Path,
                                                                            tmp_path: Path):
    config = json.loads((legacy_run / "quiet-star.json").read_text())
    assert config["weighting"] == "legacy" and config["policy_loss_beta"] == 1.0 and config["trainable"] == "lora"
    assert (legacy_run / "adapter" / "adapter_model.safetensors").is_file()
    proc = deepstar("quiet-star", "compare", str(legacy_run), str(trained_run), home=tmp_path, check=True, timeout=300)
    assert proc.stdout.splitlines()[0] == "| | legacy (legacy) | official (run) |"
    evaluation = json.loads((trained_run / "metrics.json").read_text())["evaluation"]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| loss with thoughts |"))
    assert row.endswith(f"| {evaluation['thought']['loss']:.4g} |")
    # a later evaluation scores as the run's own did: fp32 weights, bf16 autocast, the base from its checkpoint
    again = deepstar("quiet-star", "eval", "--run", str(trained_run), "--chunks", "2", home=tmp_path, check=True,
                     timeout=900)
    result = json.loads(again.stdout)
    assert result["base"]["loss"] == pytest.approx(evaluation["base"]["loss"], abs=1e-3)
    assert result["no_thought"]["loss"] == pytest.approx(evaluation["no_thought"]["loss"], abs=1e-3)


def test_thinking_model_answers_through_the_agent(trained_run: Path, tmp_path: Path):
    port = free_port()
    env = {**os.environ, "DEEPSTAR_HOME": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "agent", "quiet-star", "serve", "--run", str(trained_run), "--thinking", "quiet",
         "--port", str(port)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the torch server did not come up:\n{server.stdout.read() if server.stdout else ''}")
            time.sleep(1)
        assert httpx.get(f"{url}/v1/models").json()["data"][0]["id"] == "quiet-star"
        # the native protocol's chat endpoint is refused with a message naming the fix
        refused = httpx.post(f"{url}/v1/chat/completions", json={"messages": []})
        assert refused.status_code == 400 and "DEEPSTAR_PROTOCOL=deepstar" in refused.text

        proc = deepstar("research", "What is the capital of France?", "--base-url", f"{url}/v1", "--model", "quiet-star",
                        "--mode", "react", "--max-steps", "2", "--web", "wiki", "--json", home=tmp_path, timeout=900,
                        env={"DEEPSTAR_PROTOCOL": "deepstar", "DEEPSTAR_MAX_TOKENS_PER_CALL": "24",
                             "DEEPSTAR_REQUEST_TIMEOUT_S": "600"})
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["trajectory_id"] and result["usage"]["completion_tokens"] > 0
        # the tool call's schema is enforced by the torch server: every model step is a valid
        # call of one of the offered tools (web tools or answer), never a cut or broken one
        from agent.store import TrajectoryStore

        store = TrajectoryStore(tmp_path / "deepstar.db")
        try:
            llm = [s for s in store.steps(store.list_runs()[0]["id"]) if s["kind"] == "llm"]
        finally:
            store.close()
        assert llm and all(s["error"] is None and s["output"]["message"].get("tool_calls") for s in llm), llm
        assert {c["function"]["name"] for s in llm for c in s["output"]["message"]["tool_calls"]} <= \
            {"search", "open", "find", "answer"}
        assert "<|startthought|>" not in proc.stdout and "<|endthought|>" not in proc.stdout
    finally:
        server.terminate()
        server.wait(timeout=30)
