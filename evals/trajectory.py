"""Whole-graph trajectories: every model call of a run, each as its own conversation.

A trajectory record's `calls` holds one entry per model call of the graph, in the order
they were made (plan, every turn of every research branch, reflect, write):

    {"id": "c3", "node": "research", "branch": "q1", "parent": "c2", "turn": 1,
     "messages": [...the prompt..., {"role": "assistant", ...the output}],
     "tools": [...] | None, "trainable": true, "error": None,
     "started_at": 1767225600.12, "finished_at": 1767225601.40, "attempt": 1}

`parent` is the call the model call follows from: a branch's previous turn; for a
branch's first turn, the plan (or reflect) call that proposed its sub-question; for a
reflect call, the plan call (or the previous reflect); for write, the last planning call.
`messages` is exactly what the model was sent, then what it answered, so each call's
prompt is the prefix training renders for it (`reasoner.train.encode_conversation`). An
invalid output carries `weight: 0` (never taught). `trainable` is false for invalid
outputs, a plan the guard had to clean (only a plan used as the model wrote it is
taught), and calls of an attempt that a resumed run redid.

`call_rows` (export: one conversation per call, linked by run id, node and branch) and
`training_rows` (STaR: a branch's turns are prefixes of its last turn's conversation, so
one conversation per branch teaches every turn once, plus one per planning / write call)
read it; `linearize` is the one-conversation view kept in `messages`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reasoner.protocol import strip_hint

__all__ = ["PLANNING_NODES", "call_rows", "calls_of", "link_calls", "linearize", "strip_message", "training_rows"]

PLANNING_NODES = ("plan", "reflect")


def strip_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """`message` with any rationalization hint cut from a user turn."""
    if message.get("role") == "user" and isinstance(message.get("content"), str):
        return {**message, "content": strip_hint(message["content"])}
    return dict(message)


def linearize(question: str, transcripts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The run as one OpenAI-format conversation, the hint removed. One branch: exactly the
    conversation the model saw; several (in plan order): the first system turn, the question,
    then every branch's assistant/tool turns (call ids renumbered) — a research log, not a
    prompt the model saw (`calls` has those)."""
    if not transcripts:
        return []
    if len(transcripts) == 1:
        return [strip_message(m) for m in transcripts[0]["messages"]]
    out = [strip_message(m) for m in transcripts[0]["messages"][:1]]
    out.append({"role": "user", "content": f"Question: {question}"})
    seq = 0
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
            out.append(strip_message(m))
    return out


def link_calls(calls: list[dict[str, Any]], plan: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Give each call its id, turn and parent (see the module docstring); `plan`: the
    sub-questions with their `round` (round r was proposed by the r-th reflect call)."""
    round_of = {s["id"]: int(s.get("round") or 0) for s in plan}
    last_in_branch: dict[str, str] = {}
    turns: dict[str, int] = {}
    plan_calls: list[str] = []
    reflect_calls: list[str] = []
    for i, call in enumerate(calls):
        cid = call["id"] = f"c{i}"
        node, branch = call["node"], call["branch"]
        if node == "plan":
            parent = plan_calls[-1] if plan_calls else None
            plan_calls.append(cid)
        elif node == "reflect":
            parent = (reflect_calls or plan_calls or [None])[-1]
            reflect_calls.append(cid)
        elif node == "research":
            parent = last_in_branch.get(branch)
            if parent is None:
                r = round_of.get(branch, 0)
                creator = plan_calls if r == 0 else reflect_calls[r - 1:r]
                parent = creator[-1] if creator else None
        else:  # write
            parent = (reflect_calls or plan_calls or [None])[-1]
        call["parent"] = parent
        call["turn"] = turns.get(branch, 0)
        turns[branch] = call["turn"] + 1
        last_in_branch[branch] = cid
    return calls


def calls_of(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    calls = record.get("calls")
    return calls if isinstance(calls, list) else []


def call_rows(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per model call: the conversation (prompt + output) and tools, linked to its run
    (`run_id`), node, branch and parent call, with the run's reward and success."""
    rows = []
    for record in records:
        run_id = record.get("run_id") or record.get("id")
        for call in calls_of(record):
            rows.append({
                "run_id": run_id, "call_id": call["id"], "node": call["node"], "branch": call["branch"],
                "parent": call.get("parent"), "turn": call.get("turn", 0), "trainable": bool(call.get("trainable")),
                "question": record.get("question"), "messages": call["messages"], "tools": call.get("tools") or [],
                "success": record.get("success"), "reward": json.dumps(record.get("reward"), sort_keys=True),
            })
    return rows


def _is_prefix(short: Sequence[Mapping], long: Sequence[Mapping]) -> bool:
    if len(short) > len(long):
        return False
    dump = lambda m: json.dumps(_unweighted(m), sort_keys=True)  # noqa: E731
    return all(dump(a) == dump(b) for a, b in zip(short, long, strict=False))


def _unweighted(message: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "weight"}


def training_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The conversations STaR trains on from one plan-mode run: every trainable call, a
    branch's turns folded into its longest conversation (each earlier turn's conversation is
    a prefix of it, so each turn is taught once; an invalid turn stays unlabelled)."""
    calls = [c for c in calls_of(record) if c.get("messages")]
    if not calls:
        return []
    latest = {}
    for c in calls:
        key = (c["node"], c["branch"])
        latest[key] = max(latest.get(key, 0), int(c.get("attempt") or 1))
    rows = []
    by_branch: dict[str, list[Mapping[str, Any]]] = {}
    for c in calls:
        if int(c.get("attempt") or 1) < latest[(c["node"], c["branch"])]:
            continue  # redone by a resumed attempt
        if c["node"] == "research":
            by_branch.setdefault(c["branch"], []).append(c)
        elif c.get("trainable"):
            rows.append(c)
    for branch_calls in by_branch.values():
        if not any(c.get("trainable") for c in branch_calls):
            continue
        longest = branch_calls[-1]
        if all(_is_prefix(c["messages"], longest["messages"]) for c in branch_calls):
            rows.append(longest)
        else:  # not one growing conversation (should not happen): each trainable call alone
            rows += [c for c in branch_calls if c.get("trainable")]
    order = {c["id"]: i for i, c in enumerate(calls)}
    rows.sort(key=lambda c: order[c["id"]])
    return [{"node": c["node"], "branch": c["branch"], "call_id": c["id"], "messages": list(c["messages"]),
             "tools": list(c.get("tools") or [])} for c in rows]
