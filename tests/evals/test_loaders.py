from __future__ import annotations

import csv
import json

import pytest

from evals.errors import EvalError, TaskFileError
from evals.loaders import load_tasks

HOTPOT = [{
    "_id": "5a8b57f25542995d1e6f1371", "question": "Were Scott Derrickson and Ed Wood of the same nationality?",
    "answer": "yes", "type": "comparison", "level": "hard",
    "supporting_facts": [["Scott Derrickson", 0], ["Ed Wood", 0]],
    "context": [["Scott Derrickson", ["Scott Derrickson is an American director."]]],
}]
TWOWIKI = [{**HOTPOT[0], "_id": "2w-1", "evidences": [["Scott Derrickson", "country", "America"]]}]


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_hotpotqa(tmp_path):
    path = tmp_path / "hotpot_dev.json"
    path.write_text(json.dumps(HOTPOT), encoding="utf-8")
    [task] = load_tasks(path)
    assert task["id"] == "5a8b57f25542995d1e6f1371"
    assert task["answers"] == ["yes"] and task["dataset"] == "hotpotqa"
    assert task["level"] == "hard" and task["supporting_facts"] == [["Scott Derrickson", 0], ["Ed Wood", 0]]


def test_2wiki(tmp_path):
    path = tmp_path / "2wiki.json"
    path.write_text(json.dumps(TWOWIKI), encoding="utf-8")
    [task] = load_tasks(path)
    assert task["dataset"] == "2wiki" and task["id"] == "2w-1" and task["evidences"]


def test_musique(tmp_path):
    path = _write_jsonl(tmp_path / "musique.jsonl", [{
        "id": "2hop__1", "question": "Who founded the company that made X?", "answer": "Bill Gates",
        "answer_aliases": ["William Henry Gates III"], "answerable": True, "paragraphs": [],
    }])
    [task] = load_tasks(path)
    assert task["answers"] == ["Bill Gates", "William Henry Gates III"]
    assert task["answerable"] is True and task["dataset"] == "musique"


def test_bamboogle_csv(tmp_path):
    path = tmp_path / "bamboogle.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Question", "Answer"])
        writer.writerow(["Who was president when the first X flew?", "Calvin Coolidge"])
    [task] = load_tasks(path)
    assert task["question"].startswith("Who was") and task["answers"] == ["Calvin Coolidge"]
    assert task["id"] == "bamboogle-0"


def test_frames_tsv_and_jsonl(tmp_path):
    tsv = tmp_path / "frames.tsv"
    tsv.write_text("Prompt\tAnswer\twiki_links\nHow many X?\t42\t['https://en.wikipedia.org/wiki/X']\n", encoding="utf-8")
    [task] = load_tasks(tsv)
    assert task["answers"] == ["42"] and task["wiki_links"] == ["https://en.wikipedia.org/wiki/X"]
    jl = _write_jsonl(tmp_path / "frames.jsonl", [{"Prompt": "How many Y?", "Answer": "7"}])
    [task] = load_tasks(jl)
    assert task["dataset"] == "frames" and task["question"] == "How many Y?"


def test_deepstar_and_generic(tmp_path):
    ds = _write_jsonl(tmp_path / "tasks.jsonl", [{"id": "t1", "question": "Q?", "answers": ["a", "b"], "split": "dev"}])
    assert load_tasks(ds) == [{"id": "t1", "question": "Q?", "answers": ["a", "b"], "split": "dev", "dataset": "deepstar"}]
    gen = _write_jsonl(tmp_path / "g.jsonl", [{"q": "Q?", "gold": "x"}])
    [task] = load_tasks(gen, question_field="q", answer_field="gold")
    assert task["answers"] == ["x"] and task["id"] == "jsonl-0"
    gcsv = tmp_path / "g.csv"
    gcsv.write_text("key,query,target\nk1,Q?,y\n", encoding="utf-8")
    [task] = load_tasks(gcsv, "csv", question_field="query", answer_field="target", id_field="key")
    assert task["id"] == "k1" and task["answers"] == ["y"]


def test_missing_field_names_file_line_and_field(tmp_path):
    rows = [{"id": str(i), "question": "Q?", "answers": ["a"]} for i in range(6)] + [{"id": "6", "answers": ["a"]}]
    path = _write_jsonl(tmp_path / "tasks.jsonl", rows)
    with pytest.raises(TaskFileError) as info:
        load_tasks(path)
    assert str(info.value) == "tasks.jsonl line 7: missing field 'question'"
    assert info.value.line == 7 and info.value.field == "question"
    assert isinstance(info.value, EvalError)


def test_bad_json_line(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text('{"id": "1", "question": "Q?", "answers": ["a"]}\n{"id": 2,\n', encoding="utf-8")
    with pytest.raises(TaskFileError, match=r"tasks.jsonl line 2: invalid JSON"):
        load_tasks(path)


def test_malformed_hotpot_and_csv(tmp_path):
    path = tmp_path / "hotpot.json"
    path.write_text(json.dumps([HOTPOT[0], {"_id": "x", "question": "Q?"}]), encoding="utf-8")
    with pytest.raises(TaskFileError, match=r"hotpot.json record 1: missing field 'answer'"):
        load_tasks(path)
    broken = tmp_path / "broken.json"
    broken.write_text('[\n{"_id": 1,\n', encoding="utf-8")
    with pytest.raises(TaskFileError, match=r"broken.json line 3: invalid JSON"):
        load_tasks(broken)
    csv_path = tmp_path / "bamboogle.csv"
    csv_path.write_text("Question,Answer\nQ1?,A1\nQ2?,\n", encoding="utf-8")
    with pytest.raises(TaskFileError, match=r"bamboogle.csv line 3: missing field 'Answer'"):
        load_tasks(csv_path)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(TaskFileError, match="no such file"):
        load_tasks(tmp_path / "nope.jsonl")
    path = _write_jsonl(tmp_path / "t.jsonl", [{"question": "Q?", "answers": ["a"]}])
    with pytest.raises(TaskFileError, match="unknown format"):
        load_tasks(path, "squad")
