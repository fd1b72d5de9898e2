"""Export trajectory records (ARCHITECTURE.md format) as training data sets.

Formats, one JSON object per line unless noted:
- `openai`:   {"messages", "tools"}; assistant `tool_calls[].function.arguments` stay JSON strings
              (what OpenAI-style fine-tuning and vLLM chat templates take).
- `sharegpt`: {"conversations": [{"from": human|gpt|function_call|observation, "value"}],
              "system", "tools" (a JSON string)}. An assistant turn with tool calls becomes one
              `function_call` turn (its text, if any, is dropped); consecutive tool replies merge
              into one `observation`, so turns alternate as LLaMA-Factory expects.
- `trl`:      {"messages", "tools"} with `arguments` parsed into dicts (TRL's SFTTrainer and
              chat templates take tool-call arguments as dicts).
- `calls`:    one row per MODEL CALL of a run (plan, each research turn, reflect, write; see
              `evals.trajectory`): {"run_id", "call_id", "node", "branch", "parent", "turn",
              "trainable", "question", "messages" (the prompt, then the output), "tools",
              "success", "reward" (a JSON string)}; rows of one run share `run_id`, and `parent`
              links a call to the one it follows from. Records without `calls` give no rows.
- `parquet`:  the full record, one row each. Fields that are not scalars or lists of strings
              (messages, tools, plan, citations, reward, model, sampling, engine, usage, ...)
              are stored as JSON strings, because their shapes vary between records and a
              parquet column needs one type; `json.loads` restores them.
A dataset card `README.md` is written next to the output file.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from evals.errors import EvalError
from evals.scoring import normalize_answer
from evals.trajectory import call_rows

__all__ = ["EXPORT_FORMATS", "check_record", "dedup", "select", "to_openai", "to_sharegpt", "to_trl", "write_export"]

EXPORT_FORMATS = ("openai", "sharegpt", "trl", "calls", "parquet")


def check_record(record: object, where: str) -> None:
    """EvalError naming `where` (e.g. "record 3", "records.jsonl line 7") and the field
    unless `record` has the shape the converters read (a file may hold anything)."""
    def bad(field: str, problem: str) -> EvalError:
        return EvalError(f"{where}: field {field!r} {problem}")

    if not isinstance(record, Mapping):
        raise EvalError(f"{where}: a trajectory record must be a JSON object")
    for field in ("question", "final_answer"):
        if record.get(field) is not None and not isinstance(record[field], str):
            raise bad(field, "must be a string")
    if not isinstance(record.get("tools") or [], list):
        raise bad("tools", "must be a list")
    messages = record.get("messages") or []
    if not isinstance(messages, list):
        raise bad("messages", "must be a list")
    calls = record.get("calls") or []
    if not isinstance(calls, list) or not all(
            isinstance(c, Mapping) and isinstance(c.get("node"), str) and isinstance(c.get("messages"), list)
            for c in calls):
        raise bad("calls", "must be a list of {\"node\", \"branch\", \"messages\", ...} objects")
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise bad(f"messages[{i}]", "must be an object with a string 'role'")
        if message.get("content") is not None and not isinstance(message["content"], str):
            raise bad(f"messages[{i}].content", "must be a string or null")
        calls = message.get("tool_calls") or []
        if not isinstance(calls, list):
            raise bad(f"messages[{i}].tool_calls", "must be a list")
        for j, call in enumerate(calls):
            fn = call.get("function") if isinstance(call, Mapping) else None
            if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) \
                    or not isinstance(fn.get("arguments", ""), (str, dict, type(None))):
                raise bad(f"messages[{i}].tool_calls[{j}]", "must be {\"function\": {\"name\": str, \"arguments\": str}}")


def to_openai(record: Mapping) -> dict:
    return {"messages": copy.deepcopy(list(record.get("messages") or [])), "tools": copy.deepcopy(list(record.get("tools") or []))}


def _arguments(raw: str | dict | None) -> dict:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"_value": value}


def to_trl(record: Mapping) -> dict:
    out = to_openai(record)
    for message in out["messages"]:
        for call in message.get("tool_calls") or []:
            call["function"]["arguments"] = _arguments(call["function"].get("arguments"))
    return out


def to_sharegpt(record: Mapping) -> dict:
    system, conversations = "", []
    for message in record.get("messages") or []:
        role, content = message.get("role"), message.get("content") or ""
        if role == "system":
            system = f"{system}\n\n{content}".strip()
        elif role == "user":
            conversations.append({"from": "human", "value": content})
        elif role == "assistant" and message.get("tool_calls"):
            calls = [{"name": c["function"]["name"], "arguments": _arguments(c["function"].get("arguments"))}
                     for c in message["tool_calls"]]
            conversations.append({"from": "function_call", "value": json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)})
        elif role == "assistant":
            conversations.append({"from": "gpt", "value": content})
        elif role == "tool":
            if conversations and conversations[-1]["from"] == "observation":
                previous = conversations[-1]["value"]
                merged = json.loads(previous) if previous.startswith("[") and conversations[-1].get("_merged") else [previous]
                conversations[-1] = {"from": "observation", "value": json.dumps([*merged, content], ensure_ascii=False), "_merged": True}
            else:
                conversations.append({"from": "observation", "value": content})
    for turn in conversations:
        turn.pop("_merged", None)
    return {"conversations": conversations, "system": system, "tools": json.dumps(record.get("tools") or [], ensure_ascii=False)}


def select(
    records: Iterable[Mapping],
    *,
    only_successful: bool = False,
    min_f1: float | None = None,
    iteration: int | None = None,
    dataset: str | None = None,
) -> list[Mapping]:
    out = []
    for record in records:
        if only_successful and not record.get("success"):
            continue
        if min_f1 is not None and float((record.get("reward") or {}).get("f1") or 0.0) < min_f1:
            continue
        if iteration is not None and record.get("iteration") != iteration:
            continue
        if dataset is not None and record.get("dataset") != dataset:
            continue
        out.append(record)
    return out


def dedup(records: Iterable[Mapping]) -> list[Mapping]:
    """Keep the first record per (normalized question, normalized final answer)."""
    seen, out = set(), []
    for record in records:
        key = (normalize_answer(record.get("question")), normalize_answer(record.get("final_answer")))
        if key not in seen:
            seen.add(key)
            out.append(record)
    return out


def _flat_row(record: Mapping) -> dict:
    row = {}
    for key, value in record.items():
        if isinstance(value, dict) or (isinstance(value, list) and not all(isinstance(v, str) for v in value)):
            row[key] = json.dumps(value, ensure_ascii=False, sort_keys=True)
        else:
            row[key] = value
    return row


def _card(records: Sequence[Mapping], fmt: str, out_path: Path, provenance: Mapping) -> str:
    models = sorted({json.dumps(r.get("model"), sort_keys=True) for r in records if r.get("model")})
    iterations = Counter(str(r.get("iteration")) for r in records)
    datasets = Counter(str(r.get("dataset")) for r in records)
    date = provenance.get("date") or datetime.now(UTC).strftime("%Y-%m-%d")
    schema = {
        "openai": "`messages` (OpenAI chat format; tool-call `arguments` are JSON strings), `tools` (JSON schemas)",
        "sharegpt": "`conversations` (from: human / gpt / function_call / observation), `system`, `tools` (JSON string)",
        "trl": "`messages` (tool-call `arguments` as objects), `tools` (JSON schemas)",
        "calls": "one row per model call: `run_id`, `call_id`, `node`, `branch`, `parent`, `turn`, `trainable`, "
                 "`question`, `messages` (prompt + output, OpenAI format), `tools`, `success`, `reward` (JSON string)",
        "parquet": "the full trajectory record; non-scalar fields other than lists of strings are JSON strings",
    }[fmt]
    lines = [
        f"# deepstar trajectories ({fmt})", "",
        f"File: `{out_path.name}`, {len(records)} records, "
        f"{sum(1 for r in records if r.get('success'))} successful.", "",
        "## Schema", "", schema, "",
        "## Counts", "",
        "By iteration: " + ", ".join(f"{k}: {v}" for k, v in sorted(iterations.items())),
        "By dataset: " + ", ".join(f"{k}: {v}" for k, v in sorted(datasets.items())), "",
        "## Provenance", "", f"- exported: {date}",
        *[f"- model: {m}" for m in models],
        *[f"- {k}: {json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)}" for k, v in sorted(provenance.items()) if k != "date"],
        "", "## Licence", "",
        "Page text quoted in tool observations comes from Wikipedia (offline summaries) and other web "
        "pages. Wikipedia text is licensed CC BY-SA 4.0: redistributions must credit Wikipedia's "
        "authors and share alike. Check the licences of other sources before redistributing.", "",
    ]
    return "\n".join(lines)


def write_export(records: Iterable[Mapping], fmt: str, out_path: str | Path, provenance: Mapping | None = None) -> Path:
    """Write `records` in `fmt` to `out_path` and a dataset card README.md beside it."""
    if fmt not in EXPORT_FORMATS:
        raise EvalError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    records = list(records)
    for i, record in enumerate(records):
        check_record(record, f"record {i}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        import datasets  # optional: the `train` extra

        datasets.Dataset.from_list([_flat_row(r) for r in records]).to_parquet(str(out_path))
    elif fmt == "calls":
        with out_path.open("w", encoding="utf-8") as fh:
            for row in call_rows(records):
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        convert = {"openai": to_openai, "sharegpt": to_sharegpt, "trl": to_trl}[fmt]
        with out_path.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(convert(record), ensure_ascii=False) + "\n")
    (out_path.parent / "README.md").write_text(_card(records, fmt, out_path, provenance or {}), encoding="utf-8")
    return out_path
