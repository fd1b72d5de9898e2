"""Turn public QA formats into deepstar tasks: `{"id", "question", "answers", ...}`.

Formats: `hotpotqa` and `2wiki` (JSON list with `_id`, `question`, `answer`), `musique`
(JSONL with `answer_aliases`), `bamboogle` (CSV `Question,Answer`), `frames` (CSV/TSV or
JSONL with `Prompt`, `Answer`), `deepstar` (JSONL with `answers`), and generic `jsonl`/`csv`
with configurable column names. Extra fields are kept. `load_tasks(path)` detects the format
from the extension and the first record; errors name the file, line (or record) and field.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evals.errors import TaskFileError

__all__ = ["FORMATS", "load_tasks", "read_jsonl_objects"]

FORMATS = ("auto", "hotpotqa", "2wiki", "musique", "bamboogle", "frames", "deepstar", "jsonl", "csv")


def _not_utf8(path: Path, exc: UnicodeDecodeError, line: int) -> TaskFileError:
    return TaskFileError(path, f"not UTF-8 text (byte {exc.object[exc.start]:#04x})", line=line)


def _text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc, raw.count(b"\n", 0, exc.start) + 1) from None


def read_jsonl_objects(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-empty line; a bad line is a TaskFileError naming it."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _not_utf8(path, exc, lineno) from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TaskFileError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=lineno) from None
            except RecursionError:
                raise TaskFileError(path, "invalid JSON: nested too deeply", line=lineno) from None
            if not isinstance(obj, dict):
                raise TaskFileError(path, "expected a JSON object", line=lineno)
            yield lineno, obj


def _json_list(path: Path) -> list[dict]:
    try:
        data = json.loads(_text(path))
    except json.JSONDecodeError as exc:
        raise TaskFileError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None
    except RecursionError:
        raise TaskFileError(path, "invalid JSON: nested too deeply") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise TaskFileError(path, "expected a JSON list of records")
    return data


def _csv(path: Path) -> Iterator[tuple[int, dict]]:
    with io.StringIO(_text(path), newline="") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        delimiter = "\t" if path.suffix.lower() == ".tsv" or ("\t" in sample.splitlines()[0] if sample else False) else ","
        reader = csv.DictReader(fh, delimiter=delimiter)
        try:
            for row in reader:
                if any((v or "").strip() for v in row.values() if isinstance(v, str)):
                    yield reader.line_num, row
        except csv.Error as exc:
            raise TaskFileError(path, f"invalid CSV: {exc}", line=reader.line_num) from None


def _require(path: Path, obj: dict, field: str, where: dict[str, int]) -> Any:
    value = obj.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise TaskFileError(path, f"missing field {field!r}", field=field, **where)
    return value


def _answers(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and str(v).strip()]
    return [str(value)]


def _split_links(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("["):
        try:
            return json.loads(value.replace("'", '"'))
        except json.JSONDecodeError:
            return value
    return value


def _detect(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        first = next(iter(_json_list(path)), {})
        return "2wiki" if "evidences" in first or "entity_ids" in first else "hotpotqa"
    if suffix in (".csv", ".tsv"):
        header = _text(path).split("\n", 1)[0]
        return "frames" if "Prompt" in header else "bamboogle" if "Question" in header else "csv"
    first = next((obj for _, obj in read_jsonl_objects(path)), {})
    if "answer_aliases" in first or "paragraphs" in first:
        return "musique"
    if "Prompt" in first:
        return "frames"
    if "answers" in first:
        return "deepstar"
    return "jsonl"


def load_tasks(
    path: str | Path,
    format: str = "auto",
    *,
    question_field: str = "question",
    answer_field: str = "answer",
    id_field: str = "id",
) -> list[dict]:
    """Tasks from a file in one of `FORMATS`; `*_field` name the generic formats' columns."""
    path = Path(path)
    if format not in FORMATS:
        raise TaskFileError(path, f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise TaskFileError(path, "no such file")
    fmt = _detect(path) if format == "auto" else format
    tasks: list[dict] = []

    def add(obj: dict, where: dict[str, int], qf: str, af: str, idf: str, n: int, dataset: str) -> None:
        question = str(_require(path, obj, qf, where)).strip()
        answers = _answers(_require(path, obj, af, where))
        task_id = obj.get(idf)
        extra = {k: v for k, v in obj.items() if k not in (qf, af, idf)}
        if dataset == "frames" and "wiki_links" in extra:
            extra["wiki_links"] = _split_links(extra["wiki_links"])
        tasks.append({**extra, "id": str(task_id) if task_id not in (None, "") else f"{dataset}-{n}",
                      "question": question, "answers": answers, "dataset": extra.get("dataset", dataset)})

    if fmt in ("hotpotqa", "2wiki"):
        for i, obj in enumerate(_json_list(path)):
            if not isinstance(obj, dict):
                raise TaskFileError(path, "expected a JSON object", record=i)
            add(obj, {"record": i}, "question", "answer", "_id", i, fmt)
    elif fmt == "musique":
        for n, (lineno, obj) in enumerate(read_jsonl_objects(path)):
            obj = dict(obj)
            answer = _require(path, obj, "answer", {"line": lineno})
            obj["answer"] = [answer, *obj.get("answer_aliases", [])]
            add(obj, {"line": lineno}, "question", "answer", "id", n, "musique")
    elif fmt in ("bamboogle", "frames", "csv") and path.suffix.lower() in (".csv", ".tsv"):
        qf, af = {"bamboogle": ("Question", "Answer"), "frames": ("Prompt", "Answer")}.get(fmt, (question_field, answer_field))
        for n, (lineno, row) in enumerate(_csv(path)):
            add(row, {"line": lineno}, qf, af, id_field, n, fmt)
    elif fmt in ("frames", "deepstar", "jsonl", "bamboogle"):
        qf, af = {"frames": ("Prompt", "Answer"), "deepstar": ("question", "answers"),
                  "bamboogle": ("Question", "Answer")}.get(fmt, (question_field, answer_field))
        for n, (lineno, obj) in enumerate(read_jsonl_objects(path)):
            add(obj, {"line": lineno}, qf, af, id_field, n, fmt)
    else:
        raise TaskFileError(path, f"format {fmt!r} does not match the file extension {path.suffix!r}")
    return tasks
