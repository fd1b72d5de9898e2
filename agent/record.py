"""Building the trajectory record (ARCHITECTURE.md) from a finished graph state."""

from __future__ import annotations

import json
import time
from typing import Any

from evals.scoring import is_success, score_record
from evals.trajectory import linearize as linear_log
from evals.trajectory import link_calls, strip_message
from planner.prompts import ANSWER_TOOL

__all__ = ["build_record", "iso", "linearize", "model_calls"]

PLAN_FIELDS = ("id", "text", "template", "depends_on", "status", "parent", "round", "answer", "reason")


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def linearize(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The run as one OpenAI-format conversation, the rationalization hint removed.

    react mode: exactly the conversation the model saw. plan mode: the system and user
    turns, then every branch's assistant/tool turns in plan order (call ids renumbered),
    a linear research log rather than one prompt the model saw (`calls` holds those).
    """
    order = {s["id"]: i for i, s in enumerate(state.get("subquestions", []))}
    transcripts = sorted(state.get("transcripts", []), key=lambda t: order.get(t["branch"], 99))
    return linear_log(state["question"], transcripts)


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def model_calls(steps: list[dict[str, Any]], state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every model call the store recorded for the run, as `evals.trajectory` calls: the prompt
    (hint removed) and the output as the graph appended it to the branch's conversation."""
    transcripts = {t["branch"]: [strip_message(m) for m in t["messages"]] for t in state.get("transcripts", [])}
    plan_steps = [s for s in steps if s["kind"] == "llm" and s["node"] == "plan"]
    last_plan = plan_steps[-1]["seq"] if plan_steps else None
    calls = []
    for step in steps:
        if step["kind"] != "llm":
            continue
        prompt = [strip_message(m) for m in (step["input"] or {}).get("messages") or []]
        tools = (step["input"] or {}).get("tools")
        output = (step["output"] or {}).get("message")
        transcript = transcripts.get(step["branch"]) or []
        if output is None:  # the call raised: nothing came back
            messages = prompt
        elif step["node"] == "research" and len(transcript) > len(prompt) and _same(transcript[:len(prompt)], prompt):
            messages = transcript[:len(prompt) + 1]  # the turn with the call id the next prompt uses
        else:
            reply = {"role": "assistant", "content": output.get("content") or ""}
            if output.get("tool_calls"):
                reply["tool_calls"] = output["tool_calls"]
            messages = [*prompt, reply]
        invalid = output is None or bool(step["error"])
        if step["node"] in ("plan", "reflect", "write") and not invalid:
            invalid = not _json_object(output.get("content"))
        if invalid and output is not None:
            messages = [*messages[:-1], {**messages[-1], "weight": 0}]
        trainable = not invalid
        if step["node"] == "plan":  # only the plan the run used, and only as the model wrote it
            trainable = trainable and step["seq"] == last_plan and state.get("plan_source") == "model"
        started = step["created_at"] - (step["latency_s"] or 0.0)
        calls.append({"node": step["node"], "branch": step["branch"], "messages": messages, "tools": tools,
                      "trainable": trainable, "error": step["error"], "started_at": round(started, 4),
                      "finished_at": round(step["created_at"], 4), "attempt": step.get("attempt", 1),
                      "usage": {"prompt_tokens": step["prompt_tokens"] or 0,
                                "completion_tokens": step["completion_tokens"] or 0}})
    return link_calls(calls, state.get("subquestions", []))


def _json_object(text: str | None) -> bool:
    text = (text or "").strip()
    start, end = text.find("{"), text.rfind("}")
    try:
        return start >= 0 and isinstance(json.loads(text[start:end + 1]), dict)
    except ValueError:
        return False


def build_record(*, run_id: str, state: dict[str, Any], task: dict[str, Any] | None, tools: list[dict[str, Any]],
                 model: dict[str, Any], sampling: dict[str, Any], engine: dict[str, Any], started: float,
                 finished: float, snapshots: dict[str, str], error: str | None, hint: str | None,
                 iteration: int | None = None, steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
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
        "plan": [{k: s.get(k) for k in PLAN_FIELDS if k in s or k in ("parent", "round")}
                 for s in state.get("subquestions", [])],
        "plan_source": state.get("plan_source"),
        "plan_error": state.get("plan_error"),
        "calls": model_calls(steps or [], state),
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
