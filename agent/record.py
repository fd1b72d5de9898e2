"""Building the trajectory record (ARCHITECTURE.md) from a finished graph state."""

from __future__ import annotations

import time
from typing import Any

from evals.scoring import is_success, score_record
from planner.prompts import ANSWER_TOOL, strip_hint

__all__ = ["build_record", "linearize", "iso"]


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _strip(message: dict[str, Any]) -> dict[str, Any]:
    if message.get("role") == "user" and isinstance(message.get("content"), str):
        return {**message, "content": strip_hint(message["content"])}
    return message


def linearize(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The run as one OpenAI-format conversation, the rationalization hint removed.

    react mode: exactly the conversation the model saw. plan mode: the system and user
    turns, then every branch's assistant/tool turns in plan order (call ids renumbered),
    a linear research log rather than one prompt the model saw.
    """
    order = {s["id"]: i for i, s in enumerate(state.get("subquestions", []))}
    transcripts = sorted(state.get("transcripts", []), key=lambda t: order.get(t["branch"], 99))
    if not transcripts:
        return []
    if len(transcripts) == 1:
        return [_strip(m) for m in transcripts[0]["messages"]]
    head = [_strip(m) for m in transcripts[0]["messages"][:1]]
    head.append({"role": "user", "content": f"Question: {state['question']}"})
    out, seq = head, 0
    for t in transcripts:
        renamed: dict[str, str] = {}
        for m in t["messages"][2:]:
            m = dict(m)
            if m.get("tool_calls"):
                calls = []
                for c in m["tool_calls"]:
                    renamed[c["id"]] = f"call_{seq}"
                    calls.append({**c, "id": f"call_{seq}"})
                    seq += 1
                m["tool_calls"] = calls
            if m.get("role") == "tool":
                m["tool_call_id"] = renamed.get(m.get("tool_call_id", ""), m.get("tool_call_id"))
            out.append(_strip(m))
    return out


def build_record(*, run_id: str, state: dict[str, Any], task: dict[str, Any] | None, tools: list[dict[str, Any]],
                 model: dict[str, Any], sampling: dict[str, Any], engine: dict[str, Any], started: float,
                 finished: float, snapshots: dict[str, str], error: str | None, hint: str | None,
                 iteration: int | None = None) -> dict[str, Any]:
    task = task or {}
    usage = state.get("usage", {})
    citations = [{k: c.get(k) for k in ("n", "url", "title", "snippet", "claim", "supported")}
                 for c in state.get("citations", [])]
    record: dict[str, Any] = {
        "id": run_id,
        "run_id": run_id,
        "question_id": task.get("id"),
        "dataset": task.get("dataset", "adhoc" if not task else "tasks"),
        "split": task.get("split"),
        "kind": task.get("kind"),
        "question": state["question"],
        "gold_answers": list(task.get("answers", [])),
        "messages": linearize(state),
        "tools": tools + [ANSWER_TOOL],
        "plan": [{k: s.get(k) for k in ("id", "text", "status", "parent", "round")} for s in state.get("subquestions", [])],
        "final_answer": state.get("answer", ""),
        "report": state.get("report", ""),
        "citations": citations,
        # the report's claims and their citations, as verify checked them (re-checked by the scorer)
        "statements": [{k: s.get(k) for k in ("kind", "text", "cites", "rejected", "claims", "subject", "quote",
                                              "answer_bearing", "supported", "problem")}
                       for s in state.get("statements", [])],
        "mode": state.get("mode"),
        "truncated": bool(state.get("truncated")),
        "stop_reason": state.get("stop_reason"),
        "rationalized": bool(hint),
        "iteration": iteration if iteration is not None else task.get("iteration"),
        "source": "agent",
        "model": model,
        "sampling": sampling,
        "engine": engine,
        "usage": {"prompt_tokens": usage.get("prompt_tokens", 0), "completion_tokens": usage.get("completion_tokens", 0),
                  "turns": usage.get("model_calls", 0), "tool_calls": usage.get("tool_calls", 0)},
        "started_at": iso(started),
        "finished_at": iso(finished),
        "latency_s": round(finished - started, 3),
        "error": error or state.get("error"),
    }
    # a comparison is scored on both compared facts: the task's options and evidence (kept
    # out of the record, which is training data)
    reward = score_record({**record, "options": task.get("options"), "evidence": task.get("evidence")}, snapshots)
    if not record["gold_answers"]:
        reward["em"] = reward["f1"] = None
    record["reward"] = reward
    record["success"] = None if not record["gold_answers"] else is_success(reward)
    record["filter_reason"] = None
    return record
