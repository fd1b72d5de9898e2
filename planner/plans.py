"""Plans with dependencies: what the planner's output means, checked before anything runs.

A plan is a list of sub-questions, numbered q0, q1, ... in the order the model wrote them.
An item is either a string or `{"text": ..., "depends_on": ["q0", ...]}`; a string (or a
text) may name an earlier sub-question's answer as `{q0}`, which makes it depend on q0 too.
A plain list of strings is therefore still a plan (every item independent).

    ["Which country is Antwerp located in?", "On which continent is {q0}?"]

`build_plan` turns the model's items into sub-questions (the state's `subquestions`):

1. structure: a reference to an id the plan does not have (`MissingReference`) or a ring
   of dependencies (`PlanCycle`) is a planning error, raised — the planner falls back to
   the question and records why;
2. the guard: an item sharing no content word with the question (placeholders do not
   count: "On which continent is {q0}?" is judged by "On which continent is ?") or
   repeating another is dropped, and so is every item that depends on a dropped one;
   then at most `k` are kept;
3. depth: a chain longer than `max_depth` is `PlanTooDeep`;
4. the survivors are renumbered from `first` (placeholders rewritten to match).

At run time `ready` says which pending sub-questions may be dispatched (all dependencies
done), `blocked` which can never be (a dependency ended without an answer), and
`substitute` writes the dependencies' answers into the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from planner.errors import MissingReference, PlanCycle, PlanTooDeep
from tools.evidence import content_words, normalize

__all__ = ["PLACEHOLDER", "blocked", "build_plan", "depth_of", "placeholders", "ready", "substitute"]

PLACEHOLDER = re.compile(r"\{(q\d+)\}")


def placeholders(text: str) -> list[str]:
    """The ids `text` names as `{qN}`, in order, once each."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def _literal(text: str) -> str:
    return PLACEHOLDER.sub(" ", text)


def _items(raw: Any, first: int) -> list[dict[str, Any]]:
    """(id, template, depends_on) of every well-formed item; ids are the model's positions."""
    out: list[dict[str, Any]] = []
    if not isinstance(raw, list):
        return out
    for i, item in enumerate(raw):
        explicit: list[str] = []
        if isinstance(item, Mapping):
            text, deps = item.get("text"), item.get("depends_on") or []
            if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
                continue
            explicit = [d.strip() for d in deps]
        else:
            text = item
        if not isinstance(text, str):
            continue
        text = " ".join(text.split())
        sid = f"q{first + i}"
        deps = list(dict.fromkeys([*explicit, *placeholders(text)]))
        out.append({"id": sid, "template": text, "depends_on": deps})
    return out


def _check_structure(items: list[dict[str, Any]], known: Iterable[str]) -> None:
    ids = {s["id"] for s in items}
    known = set(known)
    for s in items:
        for dep in s["depends_on"]:
            if dep not in ids and dep not in known:
                raise MissingReference(s["id"], dep)
    graph = {s["id"]: [d for d in s["depends_on"] if d in ids] for s in items}
    state: dict[str, int] = {}  # 1: on the path, 2: finished

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in graph[node]:
            if state.get(dep) == 1:
                raise PlanCycle(path[path.index(dep):] if dep in path else [dep])
            if dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for s in items:
        if s["id"] not in state:
            visit(s["id"], [s["id"]])


def depth_of(subs: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """id -> length of the longest dependency chain ending at it (an independent one: 1)."""
    by_id = {s["id"]: s for s in subs}
    depth: dict[str, int] = {}

    def of(sid: str) -> int:
        if sid not in depth:
            deps = [d for d in by_id[sid].get("depends_on") or [] if d in by_id]
            depth[sid] = 1 + max((of(d) for d in deps), default=0)
        return depth[sid]

    for s in subs:
        of(s["id"])
    return depth


def build_plan(raw: Any, *, question: str, k: int, max_depth: int, first: int = 0, round: int = 0,
               parent: str | None = None, known: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """The sub-questions of a plan (`known`: sub-questions of earlier rounds, which new ones
    may name); raises a `PlanningError` when its dependencies cannot be scheduled."""
    items = _items(raw, first)
    _check_structure(items, (s["id"] for s in known))
    asked = content_words(question)
    seen = {normalize(t) for s in known for t in (s.get("template"), s["text"]) if t}
    known_ids = {s["id"] for s in known}
    kept: list[dict[str, Any]] = []
    dropped: set[str] = set()
    for s in items:
        literal = _literal(s["template"])
        key = normalize(s["template"])
        off_question = bool(asked) and not asked & content_words(literal)
        if len(normalize(literal)) < 3 or key in seen or off_question or any(d in dropped for d in s["depends_on"]):
            dropped.add(s["id"])
            continue
        seen.add(key)
        kept.append(s)
    # at most k; a kept item whose dependency fell beyond k goes too (references may point forward)
    cut = {s["id"] for s in kept[k:]}
    kept = kept[:k]
    while True:
        gone = {s["id"] for s in kept if any(d in dropped | cut for d in s["depends_on"])}
        if not gone:
            break
        dropped |= gone
        kept = [s for s in kept if s["id"] not in gone]
    depths = depth_of([*known, *kept])
    for s in kept:
        if depths[s["id"]] > max_depth:
            raise PlanTooDeep(s["id"], depths[s["id"]], max_depth)
    renumber = {s["id"]: f"q{first + i}" for i, s in enumerate(kept)}

    def rename(sid: str) -> str:
        return renumber.get(sid, sid) if sid not in known_ids else sid

    out = []
    for s in kept:
        template = PLACEHOLDER.sub(lambda m: "{" + rename(m.group(1)) + "}", s["template"])
        out.append({"id": renumber[s["id"]], "text": template, "template": template,
                    "depends_on": [rename(d) for d in s["depends_on"]], "status": "pending", "parent": parent,
                    "round": round})
    return out


def ready(subs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Pending sub-questions whose dependencies are all done, in plan order."""
    status = {s["id"]: s["status"] for s in subs}
    return [s for s in subs if s["status"] == "pending"
            and all(status.get(d) == "done" for d in s.get("depends_on") or [])]


def blocked(subs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """id -> the dependency that ended unanswered, for every pending sub-question that can never
    run (directly or through another blocked one)."""
    status = {s["id"]: s["status"] for s in subs}
    out: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for s in subs:
            if s["id"] in out or status[s["id"]] != "pending":
                continue
            bad = next((d for d in s.get("depends_on") or []
                        if d in out or status.get(d) not in ("pending", "running", "done")), None)
            if bad is not None:
                out[s["id"]] = bad
                changed = True
    return out


def substitute(template: str, answers: Mapping[str, str]) -> str:
    """`template` with each `{qN}` replaced by qN's answer."""
    return PLACEHOLDER.sub(lambda m: answers.get(m.group(1), m.group(0)), template)
