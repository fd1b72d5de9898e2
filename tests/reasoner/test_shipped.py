"""The shipped reasoner's folder and card, the workspace adapter registry, and the
server command that loads them at start. Real adapters (peft, on a tiny model built
from a config) in temp dirs; vLLM's own argument parser reads the command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reasoner.errors import AdapterError
from reasoner.prepare import sha256_file
from reasoner.registry import AdapterRegistry
from reasoner.server import ServerSpec, _command
from reasoner.shipped_reasoner import SHIPPED_NAME, default_shipped_dir, find_shipped, write_shipped
from tests.fakes.tiny_model import save_tiny_checkpoint, tiny_adapter


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    base = save_tiny_checkpoint(root / "base")
    return tiny_adapter(base, root / "adapter")


CARD = {"base_model": {"name": "gemma-3-270m", "sha256": "ab" * 32},
        "training_data": {"sha256": "cd" * 32, "records": 66, "origins": {"demonstration": 60, "rollout": 6}},
        "star_config": {"iterations": 3, "mode": "react"},
        "source": {"run_dir": "/runs/star", "iteration": 3, "model": "star-iter3", "chosen_by": "best dev EM"},
        "results": [{"model": "iteration 3", "split": "dev", "em": 0.2, "f1": 0.23, "citation_support": 0.75,
                     "success": 0.175, "n": 40}],
        "default_mode": {"default": "react", "single": "react"},
        "reproduce": "deepstar star --train t.jsonl --dev t.jsonl --out star/"}


def test_nothing_shipped_is_none(tmp_path):
    assert find_shipped(tmp_path / "deepstar-reasoner") is None
    # this checkout ships no placeholder: the package's folder holds no adapter without a card
    packaged = default_shipped_dir()
    assert find_shipped(packaged, verify=False) is None or (packaged / "card.json").exists()


def test_ship_writes_the_adapter_and_a_card_with_sizes_and_hashes(adapter, tmp_path):
    shipped = write_shipped(adapter, tmp_path / "deepstar-reasoner", CARD)
    assert shipped.name == SHIPPED_NAME
    files = shipped.card["files"]
    assert set(files) == {"adapter_model.safetensors", "adapter_config.json"}
    for name, meta in files.items():
        assert meta["sha256"] == sha256_file(adapter / name)
        assert meta["bytes"] == (adapter / name).stat().st_size
    assert shipped.sha256 == sha256_file(adapter / "adapter_model.safetensors")
    assert shipped.default_mode("single") == "react" and shipped.default_mode("bridge") == "react"
    card = json.loads((shipped.path / "card.json").read_text())
    assert card["base_model"]["sha256"] == "ab" * 32 and card["reproduce"] == CARD["reproduce"]
    text = (shipped.path / "MODEL_CARD.md").read_text()
    assert "ab" * 32 in text and CARD["reproduce"] in text and "| iteration 3 | dev | 0.200 |" in text
    assert f"{files['adapter_model.safetensors']['bytes']:,} bytes" in text
    assert "no test-split score" in text
    again = find_shipped(shipped.path)
    assert again is not None and again.card == shipped.card


def test_a_damaged_shipped_adapter_is_a_clear_error(adapter, tmp_path):
    shipped = write_shipped(adapter, tmp_path / "deepstar-reasoner", CARD)
    weights = shipped.path / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(AdapterError, match=r"is damaged: its SHA-256 is .* its card says .*deepstar adapters ship"):
        find_shipped(shipped.path)
    assert find_shipped(shipped.path, verify=False) is not None  # the card alone is still readable


def test_an_adapter_copied_in_without_a_card_is_refused(adapter, tmp_path):
    target = tmp_path / "deepstar-reasoner"
    shutil.copytree(adapter, target)
    with pytest.raises(AdapterError, match="without its card.json"):
        find_shipped(target)


def test_shipping_again_replaces_the_previous_one(adapter, tmp_path):
    target = tmp_path / "deepstar-reasoner"
    write_shipped(adapter, target, CARD)
    second = write_shipped(adapter, target, {**CARD, "reproduce": "another command"})
    assert second.card["reproduce"] == "another command"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deepstar-reasoner"]  # no .tmp / .old left


# --- the workspace registry ---------------------------------------------------------------------

def test_registry_copies_the_adapter_and_checks_it_later(adapter, tmp_path):
    source = tmp_path / "run" / "adapter"
    shutil.copytree(adapter, source)
    reg = AdapterRegistry(tmp_path / "home" / "adapters")
    entry = reg.add("mine", source, source=str(source), base_model="gemma-3-270m")
    shutil.rmtree(tmp_path / "run")  # the run directory is gone: the copy stays
    entry.verify()
    assert entry.path == tmp_path / "home" / "adapters" / "mine"
    assert [e.name for e in reg.entries()] == ["mine"] and reg.default is None
    reg.set_default("mine")
    assert AdapterRegistry(tmp_path / "home" / "adapters").default == "mine"
    weights = entry.path / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(AdapterError, match="has changed since it was loaded"):
        reg.get("mine").verify()


@pytest.mark.parametrize(("name", "message"), [("bad name", "not usable"), ("../up", "not usable"),
                                                ("gemma-3-270m", "reserved"), (SHIPPED_NAME, "reserved")])
def test_registry_refuses_bad_and_reserved_names(adapter, tmp_path, name, message):
    with pytest.raises(AdapterError, match=message):
        AdapterRegistry(tmp_path).add(name, adapter, source="x", reserved=("gemma-3-270m", SHIPPED_NAME))


def test_registry_refuses_a_taken_name_and_an_unknown_default(adapter, tmp_path):
    reg = AdapterRegistry(tmp_path)
    reg.add("a", adapter, source="first")
    with pytest.raises(AdapterError, match="already registered .*--replace"):
        reg.add("a", adapter, source="second")
    reg.add("a", adapter, source="second", replace=True)
    assert reg.get("a").source == "second"
    with pytest.raises(AdapterError, match="no adapter named 'b'"):
        reg.set_default("b")


def test_a_damaged_registry_is_a_clear_error(tmp_path):
    (tmp_path / "registry.json").write_text("{not json")
    with pytest.raises(AdapterError, match="registry .* is damaged"):
        AdapterRegistry(tmp_path).entries()


def test_not_an_adapter_is_refused(tmp_path):
    with pytest.raises(AdapterError, match="adapter_config.json is missing"):
        AdapterRegistry(tmp_path / "reg").add("x", tmp_path, source="x")


# --- the server loads them at start ---------------------------------------------------------------

def test_vllm_parses_the_lora_modules_of_the_start_command(tmp_path):
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    odd = tmp_path / "with,comma=and equals"
    spec = ServerSpec(model_path=tmp_path, served_name="gemma-3-270m", state_path=tmp_path / "s.json",
                      log_dir=tmp_path, lora_modules=((SHIPPED_NAME, str(tmp_path / "a")), ("mine", str(odd))))
    cmd = _command(spec, "cpu")
    args = make_arg_parser(FlexibleArgumentParser()).parse_args(cmd[3:])
    assert [(m.name, m.path) for m in args.lora_modules] == [(SHIPPED_NAME, str(tmp_path / "a")), ("mine", str(odd))]
    assert args.enable_lora
    no_lora = _command(ServerSpec(model_path=tmp_path, served_name="m", state_path=tmp_path / "s.json",
                                  log_dir=tmp_path, enable_lora=False, lora_modules=spec.lora_modules), "cpu")
    assert "--lora-modules" not in no_lora


def test_package_data_takes_every_file_of_the_shipped_reasoner(adapter, tmp_path):
    """What `pip wheel .` puts in the wheel: each file ship writes matches reasoner's package-data."""
    import fnmatch
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["reasoner"]
    shipped = write_shipped(adapter, tmp_path / "shipped" / SHIPPED_NAME, CARD)
    for file in sorted(shipped.path.iterdir()):
        rel = f"shipped/{SHIPPED_NAME}/{file.name}"
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), rel
    assert any(fnmatch.fnmatch("shipped/README.md", p) for p in patterns)


def test_public_names_are_pinned():
    import reasoner.registry
    import reasoner.shipped_reasoner

    assert sorted(reasoner.shipped_reasoner.__all__) == ["CARD_VERSION", "RESEARCH_DEFAULTS", "SHIPPED_NAME", "ShippedReasoner",
                                                "default_shipped_dir", "find_shipped", "render_model_card",
                                                "verify_files", "write_shipped"]
    assert sorted(reasoner.registry.__all__) == ["AdapterEntry", "AdapterRegistry", "validate_name"]
    for module in (reasoner.shipped_reasoner, reasoner.registry):
        for name in module.__all__:
            assert hasattr(module, name), name
