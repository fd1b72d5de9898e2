"""The research graph: plan → schedule ⇄ research × N (Send) → reflect → write → verify.

A plan's sub-questions may depend on earlier ones and name their answers (`{q0}`,
planner.plans). `schedule` dispatches, with `Send`, every pending sub-question whose
dependencies are done (at most `max_plan_width` at once, the others in the next wave), its
text with those answers written in; independent ones run in parallel. When nothing is left
to run it goes to `reflect` (after a round's research) or `write`. LangGraph runs in
supersteps: a dependent sub-question starts in the superstep after its dependencies' wave.
`--mode react` enters at `direct` instead of `plan`: one research branch on the
question itself, no plan or reflect; the same tool loop, writer and verifier follow.
Each research branch is a bounded tool-call loop (search / open / find / answer; a call
identical to an earlier one of the branch is answered "already done" and fetches nothing)
whose answer becomes an evidence note: the URL it rests on and the page sentence
that states it. `write` answers from the notes and writes a report whose `[n]` refer
only to pages fetched in this run (extractive, or composed by a capable model:
planner/report.py); `verify` checks every cited snippet and every statement of the
report against the page snapshot. The graph is assembled at the bottom of this file.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from planner import prompts
from planner.configuration import PlannerConfig
from planner.errors import PlanningError
from planner.events import (
    DraftEvent,
    Event,
    NodeEvent,
    NoteEvent,
    PlanEvent,
    SubquestionEvent,
    ToolCallEvent,
    ToolResultEvent,
    UsageEvent,
    VerifyEvent,
)
from planner.plans import blocked, build_plan, ready, substitute
from planner.report import (
    UNSTATED,
    check_statements,
    composed_report,
    extractive_report,
    label_unstated,
    note_citations,
)
from planner.state import BranchInput, ResearchState
from reasoner.errors import ContextLengthExceeded
from reasoner.protocol import public_tools
from tools.answer_types import answer_spans, question_subject, repeats_question, selects_spans
from tools.evidence import (
    MIN_QUOTE_WORDS,
    content_words,
    find_evidence,
    normalize,
    relevant_sentences,
    split_sentences,
)

__all__ = ["UNSTATED", "Budget", "Recorder", "RunContext", "build_graph", "evidence_snippet"]


# --- the seams: what a run needs, injected by the caller ------------------------------
class ChatClient(Protocol):
    async def chat(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any: ...


class Recorder(Protocol):
    """Receives every model call and tool call as it happens (the agent's store)."""

    def llm_call(self, *, node: str, branch: str, messages: list[dict[str, Any]],
                 tools: list[dict[str, Any]] | None, result: Any, error: str | None,
                 sampling: dict[str, Any], latency_s: float) -> None: ...

    def tool_call(self, *, node: str, branch: str, name: str, arguments: dict[str, Any], ok: bool,
                  text: str, error: str | None, url: str | None, page: Any, latency_s: float) -> None: ...


@dataclass
class Budget:
    """Limits shared by all branches of one run (one event loop: no lock needed).

    A model call takes its step with `reserve()` before it is sent, so branches that
    ask at the same moment cannot all pass a check made before any of them is counted;
    tokens are known only after a call and are added by `spend()`."""

    max_steps: int
    max_tokens: int
    max_wall_clock_s: float
    steps: int = 0
    tokens: int = 0
    elapsed_before_s: float = 0.0  # wall time spent before a resume
    started: float = field(default_factory=time.monotonic)

    def reserve(self) -> str | None:
        """Take one model-call step; the reason instead when the budget is spent."""
        reason = self.exhausted()
        if reason is None:
            self.steps += 1
        return reason

    def spend(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.tokens += prompt_tokens + completion_tokens

    def exhausted(self) -> str | None:
        if self.steps >= self.max_steps:
            return f"step budget ({self.max_steps} model calls) reached"
        if self.tokens >= self.max_tokens:
            return f"token budget ({self.max_tokens}) reached"
        if self.elapsed_before_s + time.monotonic() - self.started >= self.max_wall_clock_s:
            return f"wall-clock budget ({self.max_wall_clock_s:.0f} s) reached"
        return None


@dataclass
class RunContext:
    client: ChatClient
    toolbox: Any  # tools.toolbox.Toolbox or a stand-in: .schemas, async .call()
    config: PlannerConfig
    budget: Budget
    recorder: Recorder | None = None
    emit: Callable[[Event], None] = lambda event: None
    page_text: Callable[[str], str | None] | None = None  # snapshots from earlier attempts (resume)
    # the pages THIS run's tool calls returned (the toolbox's cache is shared by every run of
    # an agent: a run cites, and is verified on, only what it fetched itself)
    pages: dict[str, Any] = field(default_factory=dict)

    def saw(self, url: str | None, page: Any) -> None:
        """Record a page a tool call of this run returned, under every URL it is known by."""
        if page is None:
            return
        for u in {url, getattr(page, "url", None), getattr(page, "final_url", None)}:
            if u:
                self.pages[u.strip()] = page

    def text_of(self, url: str) -> str | None:
        page = self.pages.get(url)
        if page is not None:
            return page.text
        return self.page_text(url) if self.page_text else None


# --- helpers ----------------------------------------------------------------------------
def evidence_snippet(page_text: str, answer: str, question: str = "") -> str:
    """The page sentence that states `answer` and names the question's subject (else the
    sentence closest to the question, which verify will then flag)."""
    found = find_evidence(page_text, claims=[answer], subject=question)
    if found.sentence:
        return found.sentence
    sentences = split_sentences(page_text)
    if not sentences:
        return ""
    words = content_words(question + " " + answer)
    return max(sentences, key=lambda s: len(words & content_words(s)))[:400]


class OutOfBudget(Exception):
    """A model call was not made: the run's budget is spent (the message says which)."""


def _usage_of(result: Any) -> tuple[int, int]:
    usage = getattr(result, "usage", None)
    return (getattr(usage, "prompt_tokens", 0), getattr(usage, "completion_tokens", 0))


async def _model_call(ctx: RunContext, *, node: str, branch: str, messages: list[dict[str, Any]],
                      tools: list[dict[str, Any]] | None = None, tool_choice: str | dict[str, Any] = "auto",
                      structured: dict[str, Any] | None = None,
                      max_tokens: int | None = None) -> tuple[Any, dict[str, int]]:
    cfg = ctx.config
    if (reason := ctx.budget.reserve()) is not None:  # before the call, synchronously
        raise OutOfBudget(reason)
    t0 = time.monotonic()
    error = None
    result = None
    try:
        result = await ctx.client.chat(
            messages, model=cfg.model, tools=tools, tool_choice=tool_choice,
            max_tokens=max_tokens or cfg.max_tokens_per_call,
            temperature=cfg.temperature, top_p=cfg.top_p, seed=cfg.seed, structured_outputs=structured)
    except Exception as exc:  # recorded, then re-raised: the run ends with this error
        error = f"{type(exc).__name__}: {exc}"
        if ctx.recorder:
            ctx.recorder.llm_call(node=node, branch=branch, messages=messages, tools=public_tools(tools), result=None,
                                  error=error, sampling=cfg.sampling, latency_s=time.monotonic() - t0)
        raise
    p, c = _usage_of(result)
    ctx.budget.spend(p, c)
    ctx.emit(UsageEvent(node=node, prompt_tokens=p, completion_tokens=c))
    choice_error = result.choices[0].error if result.choices else "no choice"
    if ctx.recorder:
        ctx.recorder.llm_call(node=node, branch=branch, messages=messages, tools=public_tools(tools), result=result,
                              error=choice_error, sampling=cfg.sampling, latency_s=time.monotonic() - t0)
    return result, {"prompt_tokens": p, "completion_tokens": c, "model_calls": 1}


def _json_content(result: Any) -> dict[str, Any] | None:
    text = (result.message.get("content") or "").strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start:end + 1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# --- the research branch: one bounded tool loop -----------------------------------------
@dataclass
class _AlreadyDone:
    """The observation of a call identical to an earlier one of the same branch."""

    text: str
    ok: bool = True
    error: str | None = None
    url: str | None = None
    page: Any = None


async def run_tool_loop(ctx: RunContext, *, branch: str, question: str, subquestion: str,
                        hint: str | None) -> dict[str, Any]:
    """Search / open / find until `answer`; returns the state update of the branch."""
    cfg = ctx.config
    web_tools = list(ctx.toolbox.schemas)
    typed = subquestion if cfg.typed_answers else None
    tools = web_tools + [prompts.answer_tool(typed)]
    read: dict[str, str] = {}  # URL -> text of each page this branch opened or searched with `find`
    # answer-span selection, for a question asking for a name, a quantity, or comparing
    spans = cfg.answer_spans and selects_spans(subquestion)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": prompts.branch_system(cfg.exemplars)},
        {"role": "user", "content": prompts.branch_user(question, subquestion, hint)},
    ]
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "model_calls": 0, "tool_calls": 0}
    note: dict[str, Any] | None = None
    invalid = 0
    tool_calls = 0
    stop_reason = None
    error = None
    call_seq = 0
    done_calls: set[tuple[str, str]] = set()
    # a typed question about a named subject is answered on the subject's own page once the
    # branch has read it there (subject_page_answers): no hop away from it
    subject = question_subject(subquestion) if cfg.subject_page_answers else None
    on_subject_page = False
    while True:
        # the last allowed turn forces `answer` through the grammar, yet renders every tool: the
        # prompt is the one training renders for this turn (so does a turn on the subject's page)
        last_chance = tool_calls >= cfg.max_tool_calls_per_branch or on_subject_page
        choice_of = {"type": "function", "function": {"name": "answer"}} if last_chance else "required"
        if spans and read:  # the answer can only come from what the branch read
            tools = web_tools + [prompts.answer_tool(typed, evidence=_read_sentences(read, messages, subquestion),
                                                     spans_of=subquestion)]
        try:
            result, used = await _model_call(ctx, node="research", branch=branch, messages=messages,
                                             tools=tools, tool_choice=choice_of)
        except OutOfBudget as exc:
            stop_reason = str(exc)
            break
        except ContextLengthExceeded:
            # the conversation outgrew the model's window: stop this branch as a budget stop
            stop_reason = "context window full"
            break
        for key, value in used.items():
            usage[key] += value
        choice = result.choices[0]
        calls = choice.message.get("tool_calls") or []
        if choice.error or not calls:
            invalid += 1
            problem = choice.error or "no tool call"
            messages.append({"role": "assistant", "content": choice.text or choice.message.get("content") or ""})
            messages.append({"role": "user", "content": prompts.corrective(problem)})
            if invalid >= cfg.max_invalid_outputs:
                error = f"the model produced {invalid} invalid outputs in a row (last: {problem})"
                break
            continue
        invalid = 0
        call = dict(calls[0])
        call["id"] = f"call_{call_seq}"
        call_seq += 1
        messages.append({"role": "assistant", "content": choice.message.get("content") or "", "tool_calls": [call]})
        name = call["function"]["name"]
        args = json.loads(call["function"]["arguments"])
        ctx.emit(ToolCallEvent(branch=branch, name=name, arguments=args))
        if name == "answer" and cfg.typed_answers and not last_chance \
                and repeats_question(subquestion, str(args.get("answer", ""))):
            # an answer made of the question's own words is no answer: the model is told so as
            # for an invalid output (training leaves this turn unlabelled); the rejection counts
            # as a tool call, so the branch's bound holds and its last turn takes any answer
            tool_calls += 1
            messages.append({"role": "user", "content": prompts.corrective(
                f"the answer {str(args.get('answer', ''))[:60]!r} only repeats the question; "
                "answer with what the question asks for")})
            continue
        if name == "answer":
            note = _make_note(ctx, branch=branch, subquestion=subquestion, args=args)
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": "Answer recorded."})
            ctx.emit(NoteEvent(branch=branch, note=note))
            break
        t0 = time.monotonic()
        key = (name, json.dumps(args, sort_keys=True))
        if key in done_calls:  # the same call again: its result is above, fetch nothing
            outcome = _AlreadyDone(prompts.ALREADY_DONE)
        else:
            done_calls.add(key)
            outcome = await ctx.toolbox.call(name, args, focus=subquestion if cfg.focus_reading else None)
        seen_url = args.get("url") if isinstance(args.get("url"), str) else outcome.url
        ctx.saw(seen_url, outcome.page)
        if outcome.ok and outcome.page is not None:  # under the URL its observation shows
            read[outcome.page.final_url or seen_url] = outcome.page.text
            if subject and name in ("open", "find") and _is_page_of(outcome.page, subject):
                url = outcome.page.final_url or seen_url
                offered = _read_sentences({url: outcome.page.text}, [*messages, {"role": "tool", "content": outcome.text}],
                                          subquestion)
                on_subject_page = any(answer_spans(subquestion, sentence) for _, sentence in offered)
        tool_calls += 1
        usage["tool_calls"] += 1
        if ctx.recorder:
            ctx.recorder.tool_call(node="research", branch=branch, name=name, arguments=args, ok=outcome.ok,
                                   text=outcome.text, error=outcome.error, url=outcome.url, page=outcome.page,
                                   latency_s=time.monotonic() - t0)
        ctx.emit(ToolResultEvent(branch=branch, name=name, ok=outcome.ok,
                                 summary=(outcome.text if outcome.ok else outcome.error or outcome.text)[:160]))
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": outcome.text})
    if note:  # an answer that rests on no fetched page is a gap for reflect to fill
        status = "done" if note["fetched"] and note["answer"] else "unsupported"
    else:
        status = "truncated" if stop_reason and not error else "failed"
    return {
        "notes": [note] if note else [],
        "subquestions": [{"id": branch, "status": status}],
        "transcripts": [{"branch": branch, "messages": messages}],
        "usage": usage,
        "truncated": bool(stop_reason),
        "stop_reason": stop_reason,
        "error": error,
    }


QUOTES_PER_PAGE = 3  # sentences of one page the answer call may quote: those closest to the question


def _is_page_of(page: Any, subject: str) -> bool:
    """Whether `page` is `subject`'s own: its title (before a site suffix) or first heading is it."""
    title = str(getattr(page, "title", "") or "").replace("_", " ")
    titles = [re.split(r"\s+[—|–-]\s+", title)[0], *(getattr(page, "headings", None) or [])[:1]]
    return normalize(subject) in {normalize(t) for t in titles if t}


def _read_sentences(read: dict[str, str], messages: list[dict[str, Any]], question: str) -> list[tuple[str, str]]:
    """(URL, sentence) the answer call may quote: of each page the branch read, latest first,
    the QUOTES_PER_PAGE sentences its observations showed (a long page's unread windows are
    left out) that are closest to `question` (tools.evidence.relevant_sentences, the ranking
    focused reading shows), or its first shown ones when none shares a word with it."""
    shown = " " + normalize(" ".join(str(m.get("content") or "") for m in messages if m["role"] == "tool")) + " "

    def was_shown(sentence: str) -> bool:
        probe = " ".join(normalize(sentence).split()[:8])
        return len(sentence.split()) >= MIN_QUOTE_WORDS and bool(probe) and f" {probe} " in shown

    out: list[tuple[str, str]] = []
    for url, text in reversed(read.items()):
        ranked = [s for s in relevant_sentences(text, question, limit=len(text)) if was_shown(s)]
        ranked = ranked or [s for s in split_sentences(text) if was_shown(s)]
        out += [(url, s) for s in ranked[:QUOTES_PER_PAGE]]
    return out


def _make_note(ctx: RunContext, *, branch: str, subquestion: str, args: dict[str, Any]) -> dict[str, Any]:
    answer = " ".join(str(args.get("answer", "")).split())
    url = str(args.get("url", "")).strip()
    text = ctx.text_of(url) if url else None
    page = ctx.pages.get(url)
    quote = str(args.get("quote") or "").strip()
    return {
        "branch": branch,
        "subquestion": subquestion,
        "answer": answer,
        "url": url,
        "title": getattr(page, "title", "") or url,
        # the model's own quote when it is a clause (verify checks it); else the page sentence
        "snippet": quote if len(normalize(quote).split()) >= MIN_QUOTE_WORDS
        else (evidence_snippet(text, answer, subquestion) if text else ""),
        "fetched": text is not None,
    }


# --- nodes ------------------------------------------------------------------------------------
def _question_only(question: str) -> list[dict[str, Any]]:
    return [{"id": "q0", "text": question, "template": question, "depends_on": [], "status": "pending",
             "parent": None, "round": 0}]


async def plan(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    ctx.emit(NodeEvent(node="plan"))
    question = state["question"]
    cfg = ctx.config
    k = cfg.max_subquestions
    messages = [{"role": "system", "content": prompts.PLAN_SYSTEM.format(k=k)},
                {"role": "user", "content": prompts.plan_user(question)}]
    usage: dict[str, int] = {}
    subs: list[dict[str, Any]] = []
    error = None
    proposed = 0
    for _attempt in range(2):  # ask, then re-ask once if the plan is malformed
        try:
            result, used = await _model_call(ctx, node="plan", branch="plan", messages=messages,
                                             structured={"json": prompts.plan_schema(k)})
        except OutOfBudget:
            break
        usage = {key: usage.get(key, 0) + used[key] for key in used}
        raw = (_json_content(result) or {}).get("subquestions")
        proposed = len(raw) if isinstance(raw, list) else 0
        try:
            subs = build_plan(raw, question=question, k=k, max_depth=cfg.max_plan_depth)
        except PlanningError as exc:  # a clear planning error: recorded, and the question itself is researched
            error, subs = f"{type(exc).__name__}: {exc}", []
            break
        if subs:
            break
    # nothing usable (malformed, every sub-question off the question, or a planning error): the question itself
    source = "fallback" if not subs else ("model" if len(subs) == proposed else "cleaned")
    subs = subs or _question_only(question)
    ctx.emit(PlanEvent(subquestions=subs, round=0, error=error))
    return {"subquestions": subs, "round": 0, "usage": usage, "plan_source": source, "plan_error": error}


async def direct(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """react mode: the question itself is the one sub-question."""
    subs = _question_only(state["question"])
    runtime.context.emit(PlanEvent(subquestions=subs, round=0))
    return {"subquestions": subs, "round": 0}


async def schedule(state: ResearchState, runtime: Runtime[RunContext]) -> Command[Literal["research", "reflect", "write"]]:
    """Dispatch every sub-question whose dependencies are answered (at most max_plan_width),
    with their answers written into its text; fail those whose dependency went unanswered."""
    ctx = runtime.context
    subs = state.get("subquestions", [])
    updates: list[dict[str, Any]] = []
    for sid, dep in blocked(subs).items():
        reason = f"dependency {dep} was not answered"
        updates.append({"id": sid, "status": "failed", "reason": reason})
        ctx.emit(SubquestionEvent(id=sid, status="failed", text=next(s["text"] for s in subs if s["id"] == sid),
                                  reason=reason))
    answers = {s["id"]: s.get("answer") or "" for s in subs if s["status"] == "done"}
    running = sum(1 for s in subs if s["status"] == "running")
    sends = []
    for sub in ready(subs)[:max(0, ctx.config.max_plan_width - running)]:
        text = substitute(sub.get("template") or sub["text"], answers)
        updates.append({"id": sub["id"], "status": "running", "text": text})
        ctx.emit(SubquestionEvent(id=sub["id"], status="running", text=text))
        sends.append(Send("research", {"question": state["question"], "hint": state.get("hint"),
                                       "subquestion": {**sub, "text": text, "status": "running"}}))
    if sends:
        return Command(update={"subquestions": updates}, goto=sends)
    # nothing to run: a round's research just finished (reflect reviews it) or all is done
    unreviewed = state.get("mode") != "react" and any(s.get("round", 0) >= state.get("round", 0) for s in subs)
    return Command(update={"subquestions": updates}, goto="reflect" if unreviewed else "write")


async def research(state: BranchInput, runtime: Runtime[RunContext]) -> dict[str, Any]:
    sub = state["subquestion"]
    runtime.context.emit(NodeEvent(node=f"research:{sub['id']}"))
    out = await run_tool_loop(runtime.context, branch=sub["id"], question=state["question"],
                              subquestion=sub["text"], hint=state.get("hint"))
    status = out["subquestions"][0]["status"]
    if out["notes"]:  # what a dependent sub-question's `{qN}` becomes
        out["subquestions"] = [{"id": sub["id"], "status": status, "answer": out["notes"][0]["answer"]}]
    runtime.context.emit(SubquestionEvent(id=sub["id"], status=status, text=sub["text"]))
    return out


async def reflect(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    ctx.emit(NodeEvent(node="reflect"))
    rnd = state.get("round", 0)
    subs = state.get("subquestions", [])
    open_subs = [s for s in subs if s["status"] != "done"]
    if not open_subs or rnd >= ctx.config.max_reflect_rounds or ctx.budget.exhausted() or state.get("error"):
        return {"round": rnd + 1}
    messages = [{"role": "system", "content": prompts.REFLECT_SYSTEM},
                {"role": "user", "content": prompts.reflect_user(state["question"], state.get("notes", []),
                                                                 [s["text"] for s in open_subs])}]
    k = max(1, ctx.config.max_subquestions - len(subs) + len(open_subs))
    try:
        result, used = await _model_call(ctx, node="reflect", branch="reflect", messages=messages,
                                         structured={"json": prompts.reflect_schema(k)})
    except OutOfBudget:
        return {"round": rnd + 1}
    error = None
    try:  # new sub-questions may name the answers of earlier ones ({q0})
        new = build_plan((_json_content(result) or {}).get("missing"), question=state["question"], k=k,
                         max_depth=ctx.config.max_plan_depth, first=len(subs), round=rnd + 1,
                         parent=open_subs[0]["id"], known=subs)
    except PlanningError as exc:
        new, error = [], f"{type(exc).__name__}: {exc}"
    if new or error:
        ctx.emit(PlanEvent(subquestions=new, round=rnd + 1, error=error))
    return {"subquestions": new, "round": rnd + 1, "usage": used, **({"plan_error": error} if error else {})}


async def write(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    ctx.emit(NodeEvent(node="write"))
    question = state["question"]
    subs = state.get("subquestions", [])
    order = {s["id"]: i for i, s in enumerate(subs)}
    notes = sorted(state.get("notes", []), key=lambda n: order.get(n["branch"], 99))
    usage: dict[str, int] = {}
    answer = ""
    citations = note_citations(notes)  # [n] only for pages fetched in this run
    written: dict[str, Any] = {}
    # one note on the question itself: its answer stands; else the last step of the chain,
    # unless the writer composes a better one from the notes
    direct = len(notes) == 1 and normalize(notes[0]["subquestion"]) == normalize(question)
    answer = notes[-1]["answer"] if notes else ""
    if notes and ctx.config.report == "composed":  # one call: the answer and the report's prose
        written, usage = await _compose(ctx, question, subs, notes, citations)
    elif notes and not direct:
        written, usage = await _final_answer(ctx, question, notes)
    proposed = " ".join(str(written.get("answer", "")).split())
    if proposed and not direct:
        answer = proposed
    composed = (composed_report(question, answer, notes, citations, subs, written, state)
                if ctx.config.report == "composed" and written else None)
    report, statements = composed or extractive_report(question, answer, notes, citations, state)
    ctx.emit(DraftEvent(answer=answer, report=report))
    return {"answer": answer, "report": report, "citations": citations, "statements": statements, "usage": usage}


async def _final_answer(ctx: RunContext, question: str, notes: list[dict[str, Any]]) -> tuple[dict[str, Any], dict]:
    messages = [{"role": "system", "content": prompts.WRITE_SYSTEM},
                {"role": "user", "content": prompts.final_answer_user(question, notes)}]
    try:
        result, usage = await _model_call(ctx, node="write", branch="write", messages=messages,
                                          structured={"json": prompts.FINAL_ANSWER_SCHEMA})
    except OutOfBudget:
        return {}, {}
    return _json_content(result) or {}, usage


async def _compose(ctx: RunContext, question: str, subs: list[dict[str, Any]], notes: list[dict[str, Any]],
                   citations: list[dict[str, Any]]) -> tuple[dict[str, Any], dict]:
    """A capable model writes the answer, a summary and a section per sub-question from this
    run's sources; anything unusable leaves the report extractive."""
    subs = subs or [{"id": n["branch"], "text": n["subquestion"]} for n in notes]
    sources = [(c["n"], c["title"], c["url"],
                ((f'"{c["snippet"]}" ' if c["snippet"] else "") + (ctx.text_of(c["url"]) or "")[:1200]).strip())
               for c in citations]
    messages = [{"role": "system", "content": prompts.REPORT_SYSTEM},
                {"role": "user", "content": prompts.report_user(question, subs, notes, sources)}]
    try:
        result, usage = await _model_call(ctx, node="write", branch="write", messages=messages,
                                          structured={"json": prompts.report_schema([s["id"] for s in subs])},
                                          max_tokens=ctx.config.max_report_tokens)
    except (OutOfBudget, ContextLengthExceeded):
        return {}, {}
    return _json_content(result) or {}, usage


async def verify(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Check each cited snippet, and each statement of the report, against this run's page
    snapshot; unsupported citations, an answer or finding that no supported snippet states,
    and a composed sentence its cited page does not support are flagged in the report, and
    the support ratio recorded."""
    ctx = runtime.context
    ctx.emit(NodeEvent(node="verify"))
    citations = [dict(c) for c in state.get("citations", [])]
    report = state.get("report", "")
    for c in citations:
        # the one definition of "supported" (tools.evidence): a sentence of the page this run
        # fetched that states the claim and names the question's subject
        found = find_evidence(ctx.text_of(c["url"]), claims=[c.get("claim", "")], subject=state["question"],
                              quote=c.get("snippet"))
        c["supported"] = found.supported
        if not c["supported"]:
            c["problem"] = found.problem
            report = report.replace(f"[{c['n']}] {c['title']} — {c['url']}",
                                    f"[{c['n']}] {c['title']} — {c['url']} (unverified: {c['problem']})")
    stated = [c.get("snippet", "") for c in citations if c["supported"]]
    report = label_unstated(report, state.get("answer", ""), state.get("notes", []), stated)
    url_of = {c["n"]: c["url"] for c in citations}
    report, statements = check_statements(report, state.get("statements", []),
                                          lambda n: ctx.text_of(url_of[n]) if n in url_of else None)
    support = sum(c["supported"] for c in citations) / len(citations) if citations else 0.0
    ctx.emit(VerifyEvent(citation_support=support, citations=citations, statements=statements))
    return {"citations": citations, "citation_support": support, "report": report, "statements": statements}


# --- routing ------------------------------------------------------------------------------------
def route_start(state: ResearchState) -> Literal["plan", "direct"]:
    return "direct" if state.get("mode") == "react" else "plan"


# --- the graph ----------------------------------------------------------------------------------
def build_graph(checkpointer: Any = None):
    builder = StateGraph(ResearchState, context_schema=RunContext)
    builder.add_node("plan", plan)
    builder.add_node("direct", direct)
    builder.add_node("schedule", schedule, destinations=("research", "reflect", "write"))
    builder.add_node("research", research, input_schema=BranchInput)
    builder.add_node("reflect", reflect)
    builder.add_node("write", write)
    builder.add_node("verify", verify)

    builder.add_conditional_edges(START, route_start, ["plan", "direct"])
    for node in ("plan", "direct", "research", "reflect"):
        builder.add_edge(node, "schedule")
    builder.add_edge("write", "verify")
    builder.add_edge("verify", END)
    return builder.compile(checkpointer=checkpointer)
