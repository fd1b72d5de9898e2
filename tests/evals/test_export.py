from __future__ import annotations

import json

import datasets
import pytest

from evals.export import dedup, select, to_openai, to_sharegpt, to_trl, write_export

TOOLS = [
    {"type": "function", "function": {"name": "search", "description": "Search the web.",
     "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
    {"type": "function", "function": {"name": "open", "description": "Open a URL.",
     "parameters": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}}},
]


def _record(i: int, success: bool = True, f1: float = 1.0, iteration: int = 0, question: str | None = None) -> dict:
    return {
        "id": f"r{i}", "question_id": f"q{i}", "dataset": "syn", "split": "train",
        "question": question or f"In what year was person {i} born?", "gold_answers": ["1898"],
        "messages": [
            {"role": "system", "content": "You are a researcher."},
            {"role": "user", "content": "In what year was Bertolt Brecht born?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "search", "arguments": '{"query": "Bertolt Brecht"}'}},
                {"id": "c2", "type": "function", "function": {"name": "open", "arguments": '{"url": "/wiki/Bertolt_Brecht"}'}},
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "1. Bertolt Brecht /wiki/Bertolt_Brecht"},
            {"role": "tool", "tool_call_id": "c2", "content": "German playwright and poet (1898–1956)"},
            {"role": "assistant", "content": "1898"},
        ],
        "tools": TOOLS, "plan": [], "final_answer": "1898",
        "citations": [{"url": "/wiki/Bertolt_Brecht", "title": "Bertolt Brecht", "snippet": "(1898–1956)"}],
        "reward": {"em": 1.0, "f1": f1, "judge": None, "format_ok": True, "citation_support": 1.0},
        "success": success, "filter_reason": None, "rationalized": False, "iteration": iteration,
        "model": {"base": "gemma-3-270m", "adapter": None, "revision": "abc"},
        "sampling": {"temperature": 0.7, "top_p": 0.95, "seed": i, "max_tokens": 512},
        "engine": {"name": "vllm", "version": "0.x"},
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "turns": 2, "tool_calls": 2},
        "started_at": "2025-01-01T00:00:00Z", "finished_at": "2025-01-01T00:00:05Z", "latency_s": 5.0, "error": None,
    }


def test_to_openai_and_trl():
    record = _record(0)
    out = to_openai(record)
    assert set(out) == {"messages", "tools"}
    assert isinstance(out["messages"][2]["tool_calls"][0]["function"]["arguments"], str)
    trl = to_trl(record)
    assert trl["messages"][2]["tool_calls"][0]["function"]["arguments"] == {"query": "Bertolt Brecht"}
    assert isinstance(record["messages"][2]["tool_calls"][0]["function"]["arguments"], str)  # input untouched


def test_to_sharegpt():
    out = to_sharegpt(_record(0))
    assert out["system"] == "You are a researcher."
    assert [t["from"] for t in out["conversations"]] == ["human", "function_call", "observation", "gpt"]
    calls = json.loads(out["conversations"][1]["value"])
    assert [c["name"] for c in calls] == ["search", "open"]
    assert json.loads(out["conversations"][2]["value"]) == [
        "1. Bertolt Brecht /wiki/Bertolt_Brecht", "German playwright and poet (1898–1956)"]
    assert json.loads(out["tools"]) == TOOLS


def test_select_and_dedup():
    records = [_record(0), _record(1, success=False), _record(2, f1=0.4), _record(3, iteration=1),
               _record(4, question="In what year was person 0 born?")]
    assert [r["id"] for r in select(records, only_successful=True)] == ["r0", "r2", "r3", "r4"]
    assert [r["id"] for r in select(records, min_f1=0.5)] == ["r0", "r1", "r3", "r4"]
    assert [r["id"] for r in select(records, iteration=1)] == ["r3"]
    assert select(records, dataset="other") == []
    assert [r["id"] for r in dedup(records)] == ["r0", "r1", "r2", "r3"]


@pytest.mark.parametrize("fmt", ["openai", "sharegpt", "trl"])
def test_jsonl_exports_load_with_datasets(tmp_path, fmt):
    path = write_export([_record(i) for i in range(3)], fmt, tmp_path / fmt / "train.jsonl", {"iterations": [0]})
    ds = datasets.load_dataset("json", data_files=str(path), split="train")
    assert ds.num_rows == 3
    card = (path.parent / "README.md").read_text(encoding="utf-8")
    assert "CC BY-SA 4.0" in card and "3 records" in card and "gemma-3-270m" in card


def test_parquet_export_round_trips(tmp_path):
    records = [_record(i) for i in range(3)]
    path = write_export(records, "parquet", tmp_path / "out" / "train.parquet", {"date": "2025-01-02"})
    ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
    assert ds.num_rows == 3
    row = ds[0]
    assert row["gold_answers"] == ["1898"] and row["success"] is True
    assert json.loads(row["messages"]) == records[0]["messages"]
    assert json.loads(row["reward"])["f1"] == 1.0
    assert "2025-01-02" in (path.parent / "README.md").read_text(encoding="utf-8")
