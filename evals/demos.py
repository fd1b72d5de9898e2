"""Demonstrations: scripted tool choices, real tool observations, for synthesized tasks.

For each task the tools are REALLY run (the injected `Toolbox`) along the task's
supporting articles; only the choices are scripted:

- `single`:     search(entity) → open(article) → [find(keyword) if the open page window does
                not show the answer] → answer(gold, article URL);
- `bridge`:     search(A) → open(A) → find(A, B's name) → search(B's name) → open(B)
                → [find] → answer(gold, B's URL); with `demo_hop='keyword'` the find on A's
                page looks for a word of the question that the sentence naming B holds
                ("ballet" for "the composer of the ballet The Nutcracker"), so that B's name is
                copied from the find result before it is searched, never written from memory;
- `comparison`: search(a) → open(a) → search(b) → open(b) → answer(winner, the winner's URL;
                the cited snippet is the winner's evidence sentence, which states its value).

The search query is the entity's name as the question says it (never the answer; for a
"capital of X" question, whose article is the answer, the question itself). When the search
misses the article, it is opened by its site URL (`/wiki/<slug>`) and `demo.opened_by_url`
records it. The record is a trajectory record (ARCHITECTURE.md) whose `messages` are the
react agent's conversation byte for byte; `evals` cannot import `planner`, so the system
prompt, the answer tool and the user-turn renderer are passed in.

Plan-mode demonstrations (`build_plan_demo`) are whole-graph trajectories: the plan call,
then each sub-question's research branch, scripted the same way, then the write call:

- `single`:     the plan is `[question]` (one branch, the react demo's conversation; no write call);
- `bridge`:     the two hops with the dependency: `["What is <the link phrase>?", the question
                with the link phrase replaced by "{q0}"]` — the second branch is asked with the
                first hop's answer (B's name) written in;
- `comparison`: one sub-question per compared entity ("In what year was X born?"), each
                answered with that entity's value; the write call compares (answer: the winner).

Their `calls` are one conversation per model call (`evals.trajectory`); the prompts are
passed in (`planner.prompts` satisfies `PlanPrompts`).

A demo is kept only when it is evidence-backed: every tool call succeeded, each supporting
article's evidence is on its fetched page, and it is a success by `evals.scoring.is_success`
(the cited sentence states the gold answer and names the question's subject).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from evals.corpus import article_url
from evals.facts import display_name
from evals.scoring import is_success, score_record
from evals.synth import LINK_PHRASES
from evals.trajectory import linearize, link_calls
from tools.evidence import QUOTE_MAX_CHARS, contains, normalize, split_sentences

__all__ = ["ENGINE_NAME", "DemoToolbox", "PlanPrompts", "answer_arguments", "build_demo", "build_demos", "build_plan_demo", "compact_json",
           "demo_plan", "engine_version", "quote_window", "write_jsonl"]

ENGINE_NAME = "deepstar-demo"
_URL_LINE = re.compile(r"^\s+(https?://\S+)\s*$", re.M)
_STOP = {"what", "which", "when", "where", "who", "whom", "whose", "year", "that", "this", "with", "from",
         "born", "name", "give", "into", "have", "been", "were", "does", "person", "country"}


class DemoToolbox(Protocol):
    """What the builder needs of `tools.toolbox.Toolbox` (tests may pass a fake)."""

    schemas: list[dict[str, Any]]

    async def call(self, name: str, arguments: dict[str, Any] | None, *, focus: str | None = None) -> Any: ...


class PlanPrompts(Protocol):
    """The prompts a plan-mode demo renders (`planner.prompts`; evals cannot import planner)."""

    PLAN_SYSTEM: str  # with {k}
    WRITE_SYSTEM: str
    ANSWER_TOOL: dict[str, Any]

    def branch_system(self, exemplars: str | None = None) -> str: ...

    def branch_user(self, question: str, subquestion: str, hint: str | None = None) -> str: ...

    def plan_user(self, question: str) -> str: ...

    def final_answer_user(self, question: str, notes: list[dict[str, Any]]) -> str: ...


class _Drop(Exception):
    """The demo cannot be evidence-backed; the message is the `filter_reason`."""


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("deepstar")
    except PackageNotFoundError:
        return "0+unknown"


def _same_article(url: str, title: str) -> bool:
    return unquote(urlsplit(url).path).rstrip("/") == unquote(article_url(title))


class _Conversation:
    """The messages of one demo, built call by call against the real tools."""

    def __init__(self, box: DemoToolbox, system: str, user: str, focus: str | None = None) -> None:
        self.box = box
        self.focus = focus  # the question the branch researches, as the graph passes it to the tools
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        self.snapshots: dict[str, str] = {}
        self.titles: dict[str, str] = {}
        self.calls = 0

    def _assistant(self, name: str, arguments: dict[str, Any]) -> str:
        call_id = f"call_{self.calls}"
        self.calls += 1
        self.messages.append({"role": "assistant", "content": "", "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": compact_json(arguments)}}]})
        return call_id

    async def call(self, name: str, arguments: dict[str, Any]) -> Any:
        call_id = self._assistant(name, arguments)
        outcome = await self.box.call(name, arguments, focus=self.focus)
        self.messages.append({"role": "tool", "tool_call_id": call_id, "content": outcome.text})
        if not outcome.ok:
            raise _Drop(f"{name} failed: {outcome.error}")
        page = getattr(outcome, "page", None)
        if page is not None:
            self.snapshots[page.final_url] = page.text
            self.titles[page.final_url] = page.title
        return outcome

    def answer(self, arguments: dict[str, Any]) -> None:
        self._assistant("answer", arguments)


class _Script:
    def __init__(self, task: Mapping, conv: _Conversation, site_url: str | None) -> None:
        self.task = task
        self.conv = conv
        self.site_url = site_url.rstrip("/") if site_url else None
        self.opened_by_url: list[str] = []

    async def reach(self, title: str, query: str, retry: str | None = None) -> tuple[str, str]:
        """search(query) (and search(retry) when that missed the article), then open the
        article's URL from the results (or its site URL)."""
        found = await self.conv.call("search", {"query": query})
        url = next((u for u in _URL_LINE.findall(found.text) if _same_article(u, title)), None)
        if url is None and retry and normalize(retry) != normalize(query):
            found = await self.conv.call("search", {"query": retry})
            url = next((u for u in _URL_LINE.findall(found.text) if _same_article(u, title)), None)
        if url is None:
            if self.site_url is None:
                raise _Drop(f"search {query!r} missed {title!r} and no site URL is known")
            url = self.site_url + article_url(title)
            self.opened_by_url.append(title)
        opened = await self.conv.call("open", {"url": url})
        page_url = opened.url or url
        text = self.conv.snapshots.get(page_url)
        if text is None:
            raise _Drop(f"open {url} returned no page")
        return page_url, opened.text

    async def find_if_hidden(self, url: str, observation: str, answers: Sequence[str], evidence: str) -> None:
        """A `find` with a keyword of the question/evidence when the open window hid the answer."""
        if any(contains(observation, a) for a in answers):
            return
        keyword = _keyword(self.task["question"], evidence, answers)
        if keyword:
            await self.conv.call("find", {"url": url, "pattern": keyword})


def _keyword(question: str, evidence: str, answers: Sequence[str]) -> str | None:
    """A word of the evidence that the question shares (else the evidence's longest), never the answer."""
    banned = {w for a in answers for w in re.findall(r"\w+", a.casefold())}
    words = [w for w in re.findall(r"[A-Za-z][\w'-]{3,}", evidence) if w.casefold() not in banned | _STOP]
    asked = {w.casefold() for w in re.findall(r"\w+", question)}
    shared = [w for w in words if w.casefold() in asked]
    pool = shared or sorted(words, key=len, reverse=True)
    return pool[0] if pool else None


DEMO_QUERIES = ("question", "entity")
DEMO_HOPS = ("name", "keyword")


def hop_keyword(question: str, page_text: str, a_name: str, b_name: str) -> str | None:
    """A word of `question` (as the question writes it) found in a sentence of A's page that
    names B, not a word of A's or B's name: what a bridge's `find` on A's page looks for, so
    that its result shows the sentence holding B's name (None: no such word)."""
    naming = [x for x in split_sentences(page_text) if contains(x, b_name)]
    banned = {w.casefold() for w in re.findall(r"\w+", f"{a_name} {b_name}")} | _STOP
    for word in re.findall(r"[A-Za-z][\w'-]{3,}", question):
        if word.casefold() not in banned and any(contains(x, word) for x in naming):
            return word
    return None


def _first_search(task: Mapping, title: str, demo_query: str) -> tuple[str, str | None]:
    """(query, retry) of a single or bridge task's first search: 'question' searches the
    question as asked (people's questions name a detail, not only an entity: "How many
    nocturnes did Chopin write?" finds "Nocturnes (Chopin)"), then the entity if that missed;
    'entity' searches the entity's name."""
    entity = _entity_query(task, title)
    if demo_query == "question":
        return task["question"], entity
    return entity, None


def _entity_query(task: Mapping, title: str) -> str:
    name = display_name(title)
    if contains(task["question"], name) and not any(contains(name, a) for a in task["answers"]):
        return name
    return task["question"].rstrip("?. ")


def _evidence_texts(task: Mapping, title: str) -> list[str]:
    return [e["text"] for e in task.get("evidence") or [] if e.get("title") == title]


def _snippet(page_text: str, preferred: Sequence[str], answers: Sequence[str]) -> str | None:
    """The page sentence that states the answer: a preferred (evidence) text if it is on the
    page and holds an answer, else the first page sentence holding one."""
    for text in preferred:
        if contains(page_text, text) and any(contains(text, a) for a in answers):
            return text
    for sentence in split_sentences(page_text):
        if any(contains(sentence, a) for a in answers):
            return sentence
    return None


def answer_arguments(url: str, sentence: str, answer: str) -> dict[str, str]:
    """The answer call's arguments, evidence first as planner.prompts.ANSWER_TOOL orders them:
    the page, its sentence that states the answer (cut to fit), then the answer."""
    arguments = {"url": url}
    quote = quote_window(sentence, answer)
    if quote:
        arguments["quote"] = quote
    arguments["answer"] = answer
    return arguments


def quote_window(sentence: str, answer: str, limit: int = QUOTE_MAX_CHARS) -> str | None:
    """`sentence` when it fits the answer tool's quote, else the longest run of its words
    around the answer that does (None when the answer is not in it). Words are never cut."""
    sentence = " ".join(sentence.split())
    if len(sentence) <= limit:
        return sentence
    words = sentence.split(" ")
    lowered = [w.casefold() for w in words]
    first = normalize(answer).split()[:1]
    start = next((i for i, w in enumerate(lowered) if first and first[0] in normalize(w).split()), None)
    if start is None:
        return None
    n_answer = max(1, len(answer.split()))
    lo, hi = start, min(len(words), start + n_answer)
    if len(" ".join(words[lo:hi])) > limit:
        return None
    while True:  # grow to the left first: the subject usually precedes the fact
        grown = False
        if lo > 0 and len(" ".join(words[lo - 1:hi])) <= limit:
            lo, grown = lo - 1, True
        if hi < len(words) and len(" ".join(words[lo:hi + 1])) <= limit:
            hi, grown = hi + 1, True
        if not grown:
            break
    window = " ".join(words[lo:hi])
    return window if contains(window, answer) else None


def _check_evidence(conv: _Conversation, url: str, task: Mapping, title: str) -> None:
    texts = _evidence_texts(task, title)
    if texts and not any(contains(conv.snapshots[url], t) for t in texts):
        raise _Drop(f"evidence of {title!r} is not on its page")


async def _run_script(task: Mapping, script: _Script, demo_query: str = "question",
                      demo_hop: str = "name") -> tuple[str, str, str]:
    """Drive the tools for `task`; (answer, cited URL, snippet)."""
    conv, kind, answers = script.conv, task.get("kind"), list(task["answers"])
    titles = list(task.get("supporting_titles") or [])
    if not titles:
        raise _Drop("the task names no supporting article")
    if kind == "comparison":
        winner = answers[0]
        options = list(task.get("options") or [display_name(t) for t in titles])
        urls = {}
        for title, option in zip(titles, options, strict=False):
            urls[option], _ = await script.reach(title, option)
            _check_evidence(conv, urls[option], task, title)
        if winner not in urls:
            raise _Drop("the answer is not one of the options")
        cited_title = titles[options.index(winner)]
        url = urls[winner]
        preferred = _evidence_texts(task, cited_title)
        snippet = next((t for t in preferred if contains(conv.snapshots[url], t)), None)
        if snippet is None or not contains(conv.snapshots[url], winner):
            raise _Drop(f"the winner {winner!r} is not stated on its page")
        return winner, url, snippet
    a_title = titles[0]
    url, observation = await script.reach(a_title, *_first_search(task, a_title, demo_query))
    _check_evidence(conv, url, task, a_title)
    answer_title = a_title
    if kind == "bridge":
        b_title = task.get("bridge_title") or titles[-1]
        b_name = next((n for n in (display_name(b_title), b_title) if contains(conv.snapshots[url], n)), None)
        if b_name is None:
            raise _Drop(f"the bridge entity {b_title!r} is not named on {a_title!r}'s page")
        pattern = (hop_keyword(task["question"], conv.snapshots[url], display_name(a_title), b_name)
                   if demo_hop == "keyword" else None)
        await conv.call("find", {"url": url, "pattern": pattern or b_name})
        url, observation = await script.reach(b_title, b_name)
        _check_evidence(conv, url, task, b_title)
        answer_title = b_title
    preferred = _evidence_texts(task, answer_title)
    await script.find_if_hidden(url, observation, answers, " ".join(preferred))
    snippet = _snippet(conv.snapshots[url], preferred, answers)
    if snippet is None:
        raise _Drop("the answer is not on the cited page")
    return answers[0], url, snippet


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


async def build_demo(
    task: Mapping,
    toolbox: DemoToolbox,
    *,
    system: str,
    answer_tool: dict,
    user_text: Callable[[str], str],
    site_url: str | None = None,
    focus_reading: bool = True,
    demo_query: str = "question",
    demo_hop: str = "name",
) -> dict:
    """One demonstration record for `task` (kept or not: see `success` and `filter_reason`).

    `site_url`: the wiki site's base URL, to open an article the search missed
    (default: the toolbox's search provider's `base_url`, when it has one). `focus_reading`:
    the tools get the question as the research graph gives it (PlannerConfig.focus_reading).
    `demo_query`: what a single or bridge task searches first (`_first_search`). `demo_hop`:
    what a bridge's find on the first page looks for: B's name, or a word of the question
    that the sentence naming B holds (`hop_keyword`; B's name when there is none)."""
    if demo_query not in DEMO_QUERIES:
        raise ValueError(f"demo_query must be one of {', '.join(DEMO_QUERIES)}, got {demo_query!r}")
    if demo_hop not in DEMO_HOPS:
        raise ValueError(f"demo_hop must be one of {', '.join(DEMO_HOPS)}, got {demo_hop!r}")
    site_url = site_url or getattr(getattr(toolbox, "search_provider", None), "base_url", None)
    started, t0 = _now(), time.perf_counter()
    question = task["question"]
    conv = _Conversation(toolbox, system, user_text(question), focus=question if focus_reading else None)
    script = _Script(task, conv, site_url)
    final_answer, citations, reason = None, [], None
    try:
        final_answer, url, snippet = await _run_script(task, script, demo_query, demo_hop)
        conv.answer(answer_arguments(url, snippet, final_answer))
        citations = [{"n": 1, "url": url, "title": conv.titles.get(url, ""), "snippet": snippet}]
    except _Drop as exc:
        reason = str(exc)
    record: dict[str, Any] = {
        "id": f"demo-{task['id']}", "question_id": task["id"], "dataset": task.get("dataset", "synth"),
        "split": task.get("split"), "question": question, "gold_answers": list(task["answers"]),
        "messages": conv.messages, "tools": [*toolbox.schemas, answer_tool],
        "plan": [{"id": "q0", "text": question, "status": "done", "parent": None}],
        "final_answer": final_answer, "citations": citations,
    }
    return _scored(record, task, conv.snapshots, reason, turns=sum(1 for m in conv.messages if m["role"] == "assistant"),
                   tool_calls=conv.calls, started=started, t0=t0, opened_by_url=script.opened_by_url)


def _scored(record: dict[str, Any], task: Mapping, snapshots: dict[str, str], reason: str | None, *, turns: int,
            tool_calls: int, started: str, t0: float, opened_by_url: list[str]) -> dict[str, Any]:
    """`record` scored on its own pages, kept (`success`) or not (`filter_reason`), with the
    fields every demonstration record carries."""
    reward = score_record({**record, "kind": task.get("kind"), "options": task.get("options"),
                           "evidence": task.get("evidence")}, snapshots)
    for citation in record["citations"]:
        citation["supported"] = reward["citation_support"] == 1.0
    success = reason is None and is_success(reward)
    if reason is None and not success:
        reason = (f"scored em={reward['em']} citation_support={reward['citation_support']} "
                  f"answer_supported={reward['answer_supported']} format_ok={reward['format_ok']}")
    record.update({
        "reward": reward, "success": success, "filter_reason": reason, "rationalized": False, "iteration": 0,
        "source": "demonstration", "model": None, "sampling": None,
        "engine": {"name": ENGINE_NAME, "version": engine_version()},
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "turns": turns, "tool_calls": tool_calls},
        "started_at": started, "finished_at": _now(), "latency_s": round(time.perf_counter() - t0, 4),
        "error": None, "snapshots": dict(snapshots), "demo": {"kind": task.get("kind"), "opened_by_url": opened_by_url},
    })
    return record


async def build_demos(
    tasks: Iterable[Mapping],
    toolbox: DemoToolbox,
    *,
    system: str = "",
    answer_tool: dict | None = None,
    user_text: Callable[[str], str] | None = None,
    site_url: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    build: Callable[[Mapping, DemoToolbox], Any] | None = None,
    focus_reading: bool = True,
    demo_query: str = "question",
    demo_hop: str = "name",
) -> tuple[list[dict], Counter[str]]:
    """(kept demos, drop reasons counted). Tasks run one after another (the tools are local
    and fast; one at a time keeps each demo's page snapshots its own). `build(task, toolbox)`:
    another builder (e.g. `build_plan_demo` with its prompts) instead of `build_demo`."""
    tasks = list(tasks)
    kept, dropped = [], Counter()
    for i, task in enumerate(tasks, 1):
        if build is not None:
            record = await build(task, toolbox)
        else:
            if answer_tool is None or user_text is None:
                raise TypeError("build_demos needs answer_tool and user_text (or build=)")
            record = await build_demo(task, toolbox, system=system, answer_tool=answer_tool,
                                      user_text=user_text, site_url=site_url, focus_reading=focus_reading,
                                      demo_query=demo_query, demo_hop=demo_hop)
        if record["success"]:
            kept.append(record)
        else:
            dropped[_reason_class(record["filter_reason"])] += 1
        if progress is not None:
            progress(i, len(tasks))
    return kept, dropped


def _reason_class(reason: str | None) -> str:
    """Group drop reasons for the summary: drop quoted names ('X' is not on its page)."""
    return re.sub(r"'[^']*'|\"[^\"]*\"", "…", reason or "unknown").split(":")[0]


def write_jsonl(records: Iterable[Mapping], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


# --- plan-mode demonstrations ------------------------------------------------------------------
# a comparison's per-entity sub-question, by the task's relation (else "What is the <relation> of X?")
_COMPARE_ASKS = {
    "born_earlier": "In what year was {x} born?", "born_later": "In what year was {x} born?",
    "died_earlier": "In what year did {x} die?", "lived_longer": "How long did {x} live?",
    "work_older": "In what year was {x} made?", "office_earlier": "When did {x} take office?",
    "higher_atomic_number": "What is the atomic number of {x}?", "larger_population": "What is the population of {x}?",
    "longer": "How long is {x}?", "taller": "How tall is {x}?", "larger_area": "What is the area of {x}?",
    "higher_elevation": "What is the elevation of {x}?",
}


def _link_phrase(task: Mapping) -> str | None:
    """The words of a bridge question that name B through A ("the country where Antwerp is
    located"), found by the synthesizer's link phrase of the task's relation."""
    template = LINK_PHRASES.get(str(task.get("relation", "")).split(">")[0])
    if template is None:
        return None
    titles = list(task.get("supporting_titles") or [])
    if not titles:
        return None
    # A as the question names it: "Jaws", "the Volga", "Jaws (1975 film)"
    a = rf"(?:the )?{re.escape(display_name(titles[0]))}(?: \([^()]*\))?"
    parts = re.split(r"\{(\w+)\}", template)  # literal, field, literal, field, ...
    pattern = "".join(re.escape(p) if i % 2 == 0 else (a if p == "a" else r"[\w' -]+?")
                      for i, p in enumerate(parts))
    found = re.search(pattern, task["question"], re.IGNORECASE)
    return found.group(0) if found else None


def demo_plan(task: Mapping) -> list[str]:
    """The plan a demonstration teaches for `task` (see the module docstring)."""
    question, kind = task["question"], task.get("kind")
    if kind == "bridge":
        phrase = _link_phrase(task)
        if phrase is None:
            raise _Drop("the bridge question has no link phrase to split at")
        hop2 = question.replace(phrase, "{q0}")
        return [f"What is {phrase[:1].lower() + phrase[1:]}?", hop2[:1].upper() + hop2[1:]]
    if kind == "comparison":
        ask = _COMPARE_ASKS.get(str(task.get("relation")), "What is the " + str(task.get("relation")).replace("_", " ")
                                + " of {x}?")
        return [ask.format(x=option) for option in task.get("options") or []]
    return [question]


def _assistant_calls(conv: _Conversation, node: str, branch: str) -> list[dict[str, Any]]:
    """One call per assistant turn of a branch: the conversation up to and with that turn."""
    return [{"node": node, "branch": branch, "messages": [dict(m) for m in conv.messages[:i + 1]],
             "tools": None, "trainable": True, "error": None, "started_at": None, "finished_at": None, "attempt": 1}
            for i, m in enumerate(conv.messages) if m["role"] == "assistant"]


async def _hop(task: Mapping, script: _Script, title: str, query: str,
               answers: Callable[[str], Sequence[str]]) -> tuple[str, str, str]:
    """reach(title) → [find] → (answer, URL, page sentence stating it); `answers(page)`: what
    the branch answers, from the page it opened."""
    url, observation = await script.reach(title, query)
    _check_evidence(script.conv, url, task, title)
    page = script.conv.snapshots[url]
    wanted = list(answers(page))
    preferred = _evidence_texts(task, title)
    await script.find_if_hidden(url, observation, wanted, " ".join(preferred))
    snippet = _snippet(page, preferred, wanted)
    if snippet is None:
        raise _Drop(f"no sentence of {title!r} states {wanted[0]!r}")
    return wanted[0], url, snippet


async def _branch(task: Mapping, script: _Script, index: int, prior: Mapping[str, str]) -> tuple[str, str, str]:
    """(answer, URL, snippet) of sub-question `index` of the task's demo plan; `prior`: the
    answers of the sub-questions before it."""
    kind, titles = task.get("kind"), list(task.get("supporting_titles") or [])
    if kind == "bridge":
        a_title, b_title = titles[0], task.get("bridge_title") or titles[-1]
        if index == 0:  # A's page names B: B's name is the first hop's answer
            def b_name(page: str) -> list[str]:
                name = next((n for n in (display_name(b_title), b_title) if contains(page, n)), None)
                if name is None:
                    raise _Drop(f"the bridge entity {b_title!r} is not named on {a_title!r}'s page")
                return [name]
            return await _hop(task, script, a_title, _entity_query(task, a_title), b_name)
        return await _hop(task, script, b_title, prior["q0"], lambda page: list(task["answers"]))
    if kind == "comparison":
        option, value = task["options"][index], str(task["values"][index])
        return await _hop(task, script, titles[index], option, lambda page: [value])
    return await _run_script(task, script)


async def build_plan_demo(task: Mapping, toolbox: DemoToolbox, *, prompts: PlanPrompts, max_subquestions: int = 3,
                          site_url: str | None = None, focus_reading: bool = True) -> dict:
    """One plan-mode demonstration record for `task` (kept or not: `success`, `filter_reason`):
    a whole-graph trajectory whose `calls` are the plan call, every research turn and the
    write call, as the planner graph makes them."""
    site_url = site_url or getattr(getattr(toolbox, "search_provider", None), "base_url", None)
    started, t0 = _now(), time.perf_counter()
    question = task["question"]
    answer_tool = prompts.ANSWER_TOOL
    tools = [*toolbox.schemas, answer_tool]
    calls: list[dict[str, Any]] = []
    plan: list[dict[str, Any]] = []
    transcripts: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    snapshots: dict[str, str] = {}
    titles: dict[str, str] = {}
    opened_by_url: list[str] = []
    final_answer, reason = None, None
    try:
        texts = demo_plan(task)
        if not texts or len(texts) > max_subquestions:
            raise _Drop(f"the demo plan has {len(texts)} sub-questions (at most {max_subquestions})")
        plan_messages = [{"role": "system", "content": prompts.PLAN_SYSTEM.format(k=max_subquestions)},
                         {"role": "user", "content": prompts.plan_user(question)},
                         {"role": "assistant", "content": compact_json({"subquestions": texts})}]
        calls.append({"node": "plan", "branch": "plan", "messages": plan_messages, "tools": None, "trainable": True,
                      "error": None, "started_at": None, "finished_at": None, "attempt": 1})
        answers: dict[str, str] = {}
        for i, template in enumerate(texts):
            sid = f"q{i}"
            text = re.sub(r"\{(q\d+)\}", lambda m: answers.get(m.group(1), m.group(0)), template)
            conv = _Conversation(toolbox, prompts.branch_system(), prompts.branch_user(question, text),
                                 focus=text if focus_reading else None)
            script = _Script(task, conv, site_url)
            answer, url, snippet = await _branch(task, script, i, answers)
            conv.answer(answer_arguments(url, snippet, answer))
            conv.messages.append({"role": "tool", "tool_call_id": f"call_{conv.calls - 1}", "content": "Answer recorded."})
            branch_calls = _assistant_calls(conv, "research", sid)
            for c in branch_calls:
                c["tools"] = tools
            calls += branch_calls
            transcripts.append({"branch": sid, "messages": conv.messages})
            answers[sid] = answer
            snapshots.update(conv.snapshots)
            titles.update(conv.titles)
            opened_by_url += script.opened_by_url
            notes.append({"branch": sid, "subquestion": text, "answer": answer, "url": url, "snippet": snippet,
                          "title": conv.titles.get(url, "")})
            plan.append({"id": sid, "text": text, "template": template, "status": "done", "parent": None, "round": 0,
                         "depends_on": re.findall(r"\{(q\d+)\}", template), "answer": answer})
        final_answer = task["answers"][0]
        if len(texts) > 1:  # the writer composes (a comparison: compares) from the notes
            calls.append({"node": "write", "branch": "write", "tools": None, "trainable": True, "error": None,
                          "started_at": None, "finished_at": None, "attempt": 1, "messages": [
                              {"role": "system", "content": prompts.WRITE_SYSTEM},
                              {"role": "user", "content": prompts.final_answer_user(question, notes)},
                              {"role": "assistant", "content": compact_json({"answer": final_answer})}]})
    except _Drop as exc:
        reason = str(exc)
    citations: list[dict[str, Any]] = []
    for note in notes:  # one per (page, sentence), as the writer cites
        if not any(c["url"] == note["url"] and c["snippet"] == note["snippet"] for c in citations):
            citations.append({"n": len(citations) + 1, "url": note["url"], "title": note["title"],
                              "snippet": note["snippet"], "claim": note["answer"]})
    record: dict[str, Any] = {
        "id": f"plandemo-{task['id']}", "question_id": task["id"], "dataset": task.get("dataset", "synth"),
        "split": task.get("split"), "kind": task.get("kind"), "question": question,
        "gold_answers": list(task["answers"]), "mode": "plan",
        "messages": linearize(question, transcripts), "tools": tools, "plan": plan, "plan_source": "model",
        "plan_error": None, "calls": link_calls(calls, plan), "final_answer": final_answer, "citations": citations,
    }
    return _scored(record, task, snapshots, reason, turns=len(calls),
                   tool_calls=sum(1 for c in calls if c["node"] == "research") - len(plan), started=started, t0=t0,
                   opened_by_url=opened_by_url)
