"""`deepstar adapters list | load | promote | ship` on real adapters (peft on a tiny model
built from a config) and a STaR run directory laid out as evals/star.py writes it; the
workspace default they set is what the embedded server is asked for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agent.cli import main
from agent.config import load_config
from agent.runtime import default_reasoner, embedded_adapters, server_spec
from reasoner.prepare import sha256_file
from reasoner.registry import AdapterRegistry
from reasoner.shipped_reasoner import SHIPPED_NAME, find_shipped
from tests.fakes.tiny_model import save_tiny_checkpoint, tiny_adapter


@pytest.fixture(scope="module")
def adapters(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("tiny")
    base = save_tiny_checkpoint(root / "gemma-3-270m")  # named as the bundled model: its served name
    return [tiny_adapter(base, root / f"adapter-{s}", seed=s) for s in range(3)]


def summary(em: float, success: float = 0.1) -> dict:
    kinds = {k: {"n": 4, "em": em, "f1": em, "citation_support": 0.5, "success_rate": success}
             for k in ("bridge", "comparison", "single")}
    return {"overall": {"n": 12, "em": em, "f1": em + 0.01, "citation_support": 0.7, "success_rate": success},
            "by_kind": kinds}


def make_run(root: Path, adapters: list[Path]) -> Path:
    """A finished STaR run: the seed adapter (dev EM 0.15), iteration 1 (0.10), iteration 2 (0.25)."""
    run = root / "star"
    for sub, adapter, n in (("seed/adapter-s0", adapters[0], 60), ("iter_1/adapter", adapters[1], 63),
                            ("iter_2/adapter", adapters[2], 66)):
        shutil.copytree(adapter, run / sub)
        data = run / sub.split("/")[0] / "dataset.jsonl"
        data.write_text("".join(json.dumps({"id": f"r{i}", "messages": []}) + "\n" for i in range(n)))
        (data.parent / "dataset.meta.json").write_text(json.dumps({"origins": {"demonstration": 60, "rollout": n - 60}}))
    config = {"iterations": 2, "start": "seed", "samples_per_task": 2, "mode": "react", "run_name": "star", "seed": 0}
    (run / "config.json").write_text(json.dumps({"config": config, "base_model": "gemma-3-270m",
                                                 "base_model_hash": "be" * 32}))
    (run / "command.json").write_text(json.dumps({"argv": ["star", "--train", "tasks.jsonl", "--dev", "tasks.jsonl",
                                                           "--out", "star/", "--iterations", "2"]}))
    (run / "metrics.json").write_text(json.dumps({
        "config": config, "base_model_hash": "be" * 32,
        "seed": {"iteration": 0, "model": "star-seed-s0", "dataset_size": 60,
                 "evals": [{"seed": 0, "model": "star-seed-s0", "summary": summary(0.15)}]},
        "iterations": [{"iteration": 1, "model": "star-iter1", "dev": summary(0.10)},
                       {"iteration": 2, "model": "star-iter2", "dev": summary(0.25, 0.2)}]}))
    (run / "iter_2" / "eval_human").mkdir(parents=True)  # an extra set scored beside dev (--human)
    (run / "iter_2" / "eval_human" / "summary.json").write_text(json.dumps(summary(0.18)))
    (run / "test").mkdir()
    (run / "test" / "metrics.json").write_text(json.dumps({  # as `deepstar star --final-test` writes it
        "chosen": {"iteration": 2, "model": "star-iter2", "dev_em": 0.25},
        "arms": {"chosen": {"model": "star-iter2", "summary": summary(0.22)},
                 "seed": {"model": "star-seed-s0", "summary": summary(0.12)}}}))
    (run / "baseline_direct").mkdir()
    (run / "baseline_direct" / "metrics.json").write_text(json.dumps({"baseline": "direct", "dev": summary(0.3, 0.0)}))
    return run


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("DEEPSTAR_HOME", str(home))
    monkeypatch.setenv("DEEPSTAR_SHIPPED_REASONER", str(tmp_path / "shipped" / SHIPPED_NAME))  # nothing shipped
    monkeypatch.delenv("DEEPSTAR_BASE_URL", raising=False)
    monkeypatch.delenv("DEEPSTAR_MODEL", raising=False)
    return home


def cli(*args: str, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_nothing_shipped_serves_the_base_as_before(home):
    cfg = load_config()
    notes: list[str] = []
    assert embedded_adapters(cfg, "gemma-3-270m", note=notes.append) == ()
    assert notes == ["no trained reasoner is shipped in this installation: the default model is the base gemma-3-270m"]
    choice = default_reasoner(cfg)
    assert (choice.name, choice.adapter, choice.source) == ("gemma-3-270m", None, "base")
    assert server_spec(cfg).lora_modules == ()


def test_load_registers_a_copy_and_lists_it(home, adapters, capsys):
    code, out, err = cli("adapters", "load", str(adapters[0]), "--name", "mine", capsys=capsys)
    assert code == 0, err
    assert "registered adapter 'mine'" in out and "no server is running" in out
    entry = AdapterRegistry(home / "adapters").get("mine")
    assert entry.path == home / "adapters" / "mine"
    assert entry.sha256 == sha256_file(adapters[0] / "adapter_model.safetensors")
    assert entry.base_model == "gemma-3-270m"
    # the server started from this workspace loads it
    cfg = load_config()
    assert server_spec(cfg).lora_modules == (("mine", str(entry.path)),)
    code, out, _ = cli("adapters", "list", "--json", capsys=capsys)
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["mine"]["kind"] == "registered" and not rows["mine"]["default"]
    assert rows["gemma-3-270m"]["default"]  # loading does not change the default; promote does


@pytest.mark.parametrize(("args", "message"), [
    (["--name", "no spaces allowed"], "adapter name 'no spaces allowed' is not usable"),
    (["--name", SHIPPED_NAME], "is reserved"),
    (["--name", "gemma-3-270m"], "is reserved"),
])
def test_load_refuses_bad_names_in_one_line(home, adapters, capsys, args, message):
    code, _, err = cli("adapters", "load", str(adapters[0]), *args, capsys=capsys)
    assert code == 2 and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_load_refuses_what_is_not_an_adapter(home, tmp_path, capsys):
    code, _, err = cli("adapters", "load", str(tmp_path), capsys=capsys)
    assert code == 2 and "is not a LoRA adapter: adapter_config.json is missing" in err


def test_promote_makes_the_best_dev_iteration_the_workspace_default(home, adapters, tmp_path, capsys):
    run = make_run(tmp_path, adapters)
    code, out, err = cli("adapters", "promote", str(run), capsys=capsys)
    assert code == 0, err
    assert "promoted 'star-iter2' (iteration 2" in out and "dev EM 0.250" in out
    cfg = load_config()
    choice = default_reasoner(cfg)
    assert (choice.name, choice.source) == ("star-iter2", "workspace default")
    assert choice.revision == sha256_file(adapters[2] / "adapter_model.safetensors")
    # an explicit iteration, 0 being the seed adapter
    code, out, _ = cli("adapters", "promote", str(run), "--iteration", "0", capsys=capsys)
    assert code == 0 and "promoted 'star-seed-s0' (iteration 0" in out
    assert default_reasoner(load_config()).name == "star-seed-s0"
    code, _, err = cli("adapters", "promote", str(run), "--iteration", "5", capsys=capsys)
    assert code == 2 and "has no adapter of iteration 5; it has iterations 0, 1, 2" in err


def test_promote_of_what_is_not_a_run_is_one_line(home, tmp_path, capsys):
    code, _, err = cli("adapters", "promote", str(tmp_path), capsys=capsys)
    assert code == 2 and "is not a STaR run directory (no metrics.json)" in err and "Traceback" not in err


def test_ship_writes_the_card_from_the_run(home, adapters, tmp_path, capsys):
    run = make_run(tmp_path, adapters)
    target = tmp_path / "shipped" / SHIPPED_NAME
    code, out, err = cli("adapters", "ship", str(run), capsys=capsys)  # to DEEPSTAR_SHIPPED_REASONER
    assert code == 0, err
    assert "shipped iteration 2" in out
    shipped = find_shipped(target)
    card = shipped.card
    assert shipped.sha256 == sha256_file(adapters[2] / "adapter_model.safetensors")
    assert card["base_model"] == {"name": "gemma-3-270m", "sha256": "be" * 32}
    assert card["training_data"]["sha256"] == sha256_file(run / "iter_2" / "dataset.jsonl")
    assert card["training_data"]["records"] == 66
    assert card["star_config"]["iterations"] == 2
    assert card["source"]["iteration"] == 2 and card["source"]["model"] == "star-iter2"
    assert card["reproduce"] == "deepstar star --train tasks.jsonl --dev tasks.jsonl --out star/ --iterations 2"
    assert card["default_mode"] == {"default": "react", "bridge": "react", "comparison": "react", "single": "react"}
    # an older run does not record its research settings: said, and the card records none
    assert card["research"] == {} and "does not record the research settings" in " ".join(err.split())
    table = {(r["model"], r["split"]): r["em"] for r in card["results"]}
    assert table == {("baseline: direct", "dev"): 0.3, ("iteration 0 (seed adapter, training seed 0)", "dev"): 0.15,
                     ("iteration 1", "dev"): 0.1, ("iteration 2", "dev"): 0.25, ("iteration 2", "human"): 0.18,
                     ("chosen: star-iter2", "test"): 0.22, ("seed: star-seed-s0", "test"): 0.12}
    assert card["source"]["chosen_by"] == "the run's choice on dev (the model it scored on test)"
    assert "| chosen: star-iter2 | test | 0.220 |" in (target / "MODEL_CARD.md").read_text()
    # the workspace now defaults to it, and the server loads it at start under the stable name
    cfg = load_config()
    assert default_reasoner(cfg).name == SHIPPED_NAME
    assert server_spec(cfg).lora_modules == ((SHIPPED_NAME, str(target)),)
    code, out, _ = cli("adapters", "list", "--json", capsys=capsys)
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows[SHIPPED_NAME]["kind"] == "shipped" and rows[SHIPPED_NAME]["default"]
    # a workspace default (promote) wins over the shipped reasoner
    assert cli("adapters", "promote", str(run), "--iteration", "1", capsys=capsys)[0] == 0
    assert default_reasoner(load_config()).name == "star-iter1"


def test_a_damaged_shipped_reasoner_stops_the_server_start_with_a_clear_error(home, adapters, tmp_path, capsys):
    run = make_run(tmp_path, adapters)
    assert cli("adapters", "ship", str(run), capsys=capsys)[0] == 0
    weights = tmp_path / "shipped" / SHIPPED_NAME / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    from reasoner.errors import AdapterError

    with pytest.raises(AdapterError, match="is damaged"):
        server_spec(load_config())


def test_load_and_replace_hot_load_into_a_running_server(home, adapters, capsys):
    """The running server is the OpenAI fake recorded in the workspace's server state."""
    import os
    import time

    from tests.fakes.openai_server import FakeOpenAI

    fake = FakeOpenAI()
    with fake:
        port = int(fake.url.rsplit(":", 1)[1].split("/")[0])
        home.mkdir(parents=True, exist_ok=True)
        (home / "server.json").write_text(json.dumps({
            "pid": os.getpid(), "host": "127.0.0.1", "port": port, "model": "gemma-3-270m", "model_path": "m",
            "log_path": "l", "device": "cpu", "started_at": time.time(), "lora": True, "adapters": []}))
        code, out, err = cli("adapters", "load", str(adapters[0]), "--name", "x", capsys=capsys)
        assert code == 0, err
        assert "loaded into the running server" in out
        assert json.loads((home / "server.json").read_text())["adapters"] == ["x"]
        code, out, err = cli("adapters", "load", str(adapters[1]), "--name", "x", "--replace", capsys=capsys)
        assert code == 0, err
        assert fake.lora_requests == [("load", "x"), ("unload", "x"), ("load", "x")]  # the new weights served
        code, out, _ = cli("adapters", "list", "--json", capsys=capsys)
        assert {r["name"]: r["served"] for r in json.loads(out)}["x"] is True


def test_remove_unregisters_and_a_missing_copy_names_the_fix(home, adapters, tmp_path, capsys):
    run = make_run(tmp_path, adapters)
    assert cli("adapters", "promote", str(run), capsys=capsys)[0] == 0
    assert cli("adapters", "load", str(adapters[0]), "--name", "other", capsys=capsys)[0] == 0
    shutil.rmtree(home / "adapters" / "other")  # its copy lost
    code, _, err = cli("adapters", "list", capsys=capsys)  # listing does not need the weights
    assert code == 0
    from reasoner.errors import AdapterError

    with pytest.raises(AdapterError, match=r"registered adapter 'other' is unusable .*deepstar adapters remove other"):
        server_spec(load_config())
    code, out, _ = cli("adapters", "remove", "other", capsys=capsys)
    assert code == 0 and out.strip() == "removed adapter 'other'"
    assert server_spec(load_config()).lora_modules == (("star-iter2", str(home / "adapters" / "star-iter2")),)
    code, out, _ = cli("adapters", "remove", "star-iter2", capsys=capsys)
    assert "the default is now gemma-3-270m" in out and not (home / "adapters" / "star-iter2").exists()
    code, _, err = cli("adapters", "remove", "star-iter2", capsys=capsys)
    assert code == 2 and "no adapter named 'star-iter2' is registered" in err


def test_without_test_scores_promote_takes_the_highest_dev_em(home, adapters, tmp_path, capsys):
    run = make_run(tmp_path, adapters)
    shutil.rmtree(run / "test")
    code, out, _ = cli("adapters", "promote", str(run), capsys=capsys)
    assert code == 0 and "promoted 'star-iter2' (iteration 2, the highest dev EM of the run" in out


def test_ship_carries_the_research_settings_the_run_trained_with(home, adapters, tmp_path, capsys):
    run = make_run(tmp_path, adapters)
    config = json.loads((run / "config.json").read_text())
    config["research"] = {"focus_reading": False, "typed_answers": True, "max_steps": 10, "demo_query": "entity"}
    (run / "config.json").write_text(json.dumps(config))
    code, _, err = cli("adapters", "ship", str(run), capsys=capsys)
    assert code == 0, err
    card = find_shipped(tmp_path / "shipped" / SHIPPED_NAME).card
    assert card["research"] == config["research"] and "does not record" not in err
    assert "focus_reading': False" in (tmp_path / "shipped" / SHIPPED_NAME / "MODEL_CARD.md").read_text()
    # for an older run the flag says what it ran with
    (run / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "research"}))
    code, _, err = cli("adapters", "ship", str(run), "--no-focus-reading", "--answer-spans", capsys=capsys)
    assert code == 0, err
    assert find_shipped(tmp_path / "shipped" / SHIPPED_NAME).card["research"] == {"focus_reading": False,
                                                                                 "answer_spans": True}


def test_ship_adds_the_evals_measured_with_the_cards_settings(home, adapters, tmp_path, capsys):
    run = make_run(tmp_path, adapters)
    served = tmp_path / "spans_human.json"
    served.write_text(json.dumps(summary(0.25)))
    code, _, err = cli("adapters", "ship", str(run), "--iteration", "0", "--no-focus-reading", "--answer-spans",
                       "--served-eval", f"human={served}", capsys=capsys)
    assert code == 0, err
    card = find_shipped(tmp_path / "shipped" / SHIPPED_NAME).card
    rows = {(r["model"], r["split"]): r["em"] for r in card["results"]}
    assert rows[("as shipped (star-seed-s0, answer_spans, no focus_reading)", "human")] == 0.25
    # the command that reproduces it carries the setting its demonstrations and evals ran with
    assert card["reproduce"].startswith("DEEPSTAR_FOCUS_READING=false DEEPSTAR_ANSWER_SPANS=true deepstar star ")
    code, _, err = cli("adapters", "ship", str(run), "--served-eval", "human", capsys=capsys)
    assert code == 2 and "write SPLIT=SUMMARY.json" in " ".join(err.split())
