from __future__ import annotations

import json

import datasets
import pytest
from transformers.utils.chat_template_utils import render_jinja_template
from typer.testing import CliRunner

from agent.cli import app
from evals.demos import write_jsonl
from reasoner.prepare import chat_template
from reasoner.protocol import render_prompt

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demos_file(wiki_demos, tmp_path_factory):
    records, _ = wiki_demos
    return write_jsonl(records, tmp_path_factory.mktemp("demos") / "demos.jsonl")


def _export(fmt: str, out, *extra: str) -> None:
    result = CliRunner().invoke(app, ["export", "--format", fmt, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    assert (out.parent / "README.md").is_file()


@pytest.mark.parametrize("fmt", ["openai", "sharegpt", "trl", "parquet"])
def test_every_export_format_loads_with_datasets(fmt, demos_file, wiki_demos, tmp_path):
    records, _ = wiki_demos
    out = tmp_path / f"out.{'parquet' if fmt == 'parquet' else 'jsonl'}"
    _export(fmt, out, "--from-jsonl", str(demos_file), "--only-successful", "--dataset", "synth", "--iteration", "0")
    loaded = datasets.load_dataset("parquet" if fmt == "parquet" else "json", data_files=str(out), split="train")
    assert len(loaded) == sum(r["success"] for r in records) > 0
    if fmt == "parquet":
        assert json.loads(loaded[0]["messages"]) == next(r for r in records if r["success"])["messages"]


def test_min_f1_filter(demos_file, tmp_path):
    out = tmp_path / "none.jsonl"
    _export("openai", out, "--from-jsonl", str(demos_file), "--min-f1", "1.5")
    assert out.read_text(encoding="utf-8") == ""


def test_trl_rows_render_through_the_shipped_chat_template(demos_file, tmp_path, prepared_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(prepared_model))  # the template installed by `model prepare`
    out = tmp_path / "trl.jsonl"
    _export("trl", out, "--from-jsonl", str(demos_file), "--only-successful")
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows
    for row in rows:
        messages, tools = row["messages"], row["tools"]
        rendered = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)
        assert rendered == render_prompt(messages, tools, add_generation_prompt=False)
        shipped = render_jinja_template([messages], tools=tools, chat_template=chat_template(),
                                        add_generation_prompt=False, bos_token="<bos>")
        assert (shipped[0][0] if isinstance(shipped, tuple) else shipped) == rendered
        for message in messages:
            for call in message.get("tool_calls") or []:
                fn = call["function"]
                assert isinstance(fn["arguments"], dict)
                call_text = json.dumps({"name": fn["name"], "arguments": fn["arguments"]}, ensure_ascii=False,
                                       separators=(",", ":"))
                assert f"<tool_call>{call_text}</tool_call>" in rendered
