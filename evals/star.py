"""STaR (Zelikman et al., 2022) for tool-using research trajectories.

Schedule of one `deepstar star` run (every stage writes its artifacts, then a marker in
`stages.json`; a rerun skips finished stages, so the loop resumes after a kill):

  seed       0. a LoRA trained on the seed demonstrations (N real-tool demonstrations of
                tasks disjoint from dev) — a documented departure from the paper, which
                starts from the prompted base model (`start="fewshot"` keeps that path);
                evaluated on dev with two seeds to measure the noise of iteration 0.
  iteration i = 1..K, with the model M(i-1) (the seed adapter, or the prompted base):
             1. rollout      k samples per training task at `temperature`
             2. filter       keep a trajectory only if it is a success (`is_success`): its
                             answer matches gold (EM, or F1 >= threshold with the expected
                             answer type), its format is valid, every citation is supported
                             by a sentence of a page it fetched itself, one of them stating
                             the answer and naming the question's subject (a comparison:
                             both compared facts on pages it opened)
             3. rationalize  tasks with no kept sample are run again with the gold answer
                             as a hint; passing trajectories are kept, the hint removed,
                             flagged `rationalized`, unless a tool call wrote the answer
                             before any observation showed it (the hint smuggled in)
             4. dataset      rebuilt from scratch: seed demonstrations + this iteration's
                             kept + rationalized, de-duplicated (never accumulated); a
                             plan-mode run gives every model call of its graph (the plan
                             call, one conversation per research branch, reflect, write:
                             `evals.trajectory.training_rows`), a react run its one conversation
             5. train        a fresh LoRA on the frozen base (never continued from M(i-1)),
                             steps = base_steps * growth^(i-1)
             6. load         hot-load the adapter into the running vLLM server under its
                             own name: nothing restarts
             7. eval         dev set, greedy; metrics logged; early stop when dev EM has
                             not improved for `patience` iterations
Baselines (same dev tasks, same budget): `fewshot` (prompted base), `seed` (the seed
adapter alone) and `direct` (SFT on gold answers without trajectories or rationales).

What runs the agent, what trains and what loads adapters are injected (`StarDeps`),
so this module never imports `agent` and its stages are tested with fakes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evals.errors import StarError, check_failures
from evals.harness import load_results, run_eval
from evals.scoring import is_success, normalize_answer, score_record
from evals.trajectory import calls_of, strip_message, training_rows
from reasoner.errors import ReasonerError
from reasoner.stats import paired_difference
from tools.evidence import contains

__all__ = [
    "StarConfig",
    "StarDeps",
    "StarLoop",
    "direct_records",
    "exemplar_text",
    "hint_smuggled",
    "is_plan_run",
    "passes_filter",
    "rebuild_dataset",
    "steps_for",
    "strip_hints",
    "write_report",
]


def _help(text: str, default: Any = None, **kw: Any) -> Any:
    if "default_factory" in kw:
        return field(metadata={"help": text}, **kw)
    return field(default=default, metadata={"help": text})


@dataclass
class StarConfig:
    out_dir: str = _help("where every artifact goes")
    iterations: int = _help("STaR iterations K", 2)
    start: str = _help("'seed' (LoRA on demonstrations, the default) or 'fewshot' (the paper's prompted start)", "seed")
    samples_per_task: int = _help("k rollouts per training task per iteration", 2)
    temperature: float = _help("sampling temperature of rollouts", 0.7)
    train_sample: int | None = _help("training tasks drawn per iteration (None = all)", None)
    f1_threshold: float = _help("a non-exact answer passes with token F1 at or above this", 0.8)
    rationalize: bool = _help("run failed tasks again with the gold answer as a hint", True)
    base_steps: int = _help("optimizer steps of the first iteration's training", 40)
    step_growth: float = _help("steps grow by this factor per iteration (the paper: 1.2)", 1.2)
    seed_steps: int = _help("optimizer steps of the seed adapter", 40)
    patience: int = _help("stop after this many iterations without a dev EM gain", 1)
    noise_seeds: int = _help("seeds the seed adapter is trained with, to measure iteration-0 noise", 2)
    concurrency: int = _help("research runs at once", 8)
    seed: int = _help("seed of sampling, training and task sampling", 0)
    fewshot_examples: int = _help("exemplar trajectories in the prompt for start/baseline 'fewshot'", 2)
    mode: str = _help("research mode of rollouts and evals: 'react', or 'plan' (every model call of the graph is trained on)", "react")
    run_name: str = _help("prefix of the served adapter names", "star")
    balance_kinds: bool = _help("cap the model's own trajectories per task kind at the scarcest kind's count "
                                "(rebuild_dataset)", False)

    def __post_init__(self) -> None:
        if not self.out_dir:
            raise ValueError("StarConfig.out_dir is required: where to write adapters, datasets and reports")
        if self.start not in ("seed", "fewshot"):
            raise ValueError(f"start must be 'seed' or 'fewshot', got {self.start!r}")
        if self.iterations < 1 or self.samples_per_task < 1:
            raise ValueError("iterations and samples_per_task must be at least 1")
        if not 0.0 < self.f1_threshold <= 1.0:
            raise ValueError(f"f1_threshold must be in (0, 1], got {self.f1_threshold}")
        if self.step_growth < 1.0:
            raise ValueError(f"step_growth must be >= 1 (the paper uses 1.2), got {self.step_growth}")
        if self.noise_seeds < 1:
            raise ValueError("noise_seeds must be at least 1")
        if self.mode not in ("react", "plan"):
            raise ValueError(f"mode must be 'react' or 'plan', got {self.mode!r}")


# What the loop runs, injected by the caller (the CLI passes the research agent).
Runner = Callable[..., Awaitable[dict]]  # (task, *, model, hint, temperature, seed, exemplars) -> record
Trainer = Callable[..., Awaitable[dict]]  # (records, out_dir, *, steps, seed, extra) -> train summary
Loader = Callable[[str, Path], Awaitable[None]]  # (adapter name, path) -> served


@dataclass
class StarDeps:
    run: Runner
    train: Trainer
    load_adapter: Loader
    base_model: str  # served name of the base model
    base_model_hash: str = ""
    progress: Callable[[str], None] = print
    # called as each stage starts, with "DIR/STAGE" (e.g. "iter_1/train"): a seam for
    # fault injection (the CLI can kill the process exactly there)
    on_stage: Callable[[str], None] = lambda point: None
    # raises ReasonerError when a trained adapter is unusable (truncated, damaged): a
    # resumed run trains it again instead of serving it
    check_adapter: Callable[[Path], Any] | None = None
    # the research settings the runs use and how the demonstrations were built (focus_reading,
    # typed_answers, max_steps, demo_query, demo_hop): recorded in config.json, and what a
    # shipped adapter's card says it must be served with
    research: Mapping[str, Any] = field(default_factory=dict)


# --- the pure stages: filter, hint stripping, dataset, schedule ----------------------------
def passes_filter(record: Mapping[str, Any], *, f1_threshold: float = 0.8,
                  task: Mapping[str, Any] | None = None, rationalized: bool | None = None) -> tuple[bool, str | None]:
    """(keep, why not): `evals.scoring.is_success` on this run's own pages, re-scored here
    (never trusting flags the record carries), and a rationalization that did not smuggle
    the hint. `task`: the task the record ran (a comparison's options and evidence);
    `rationalized`: whether it ran with the hint (default: the record's flag)."""
    if rationalized is None:
        rationalized = bool(record.get("rationalized"))
    if record.get("error") and not record.get("final_answer"):
        return False, "error"
    task = task or {}
    gold = record.get("gold_answers") or list(task.get("answers") or [])
    scored = {**record, "gold_answers": gold, "kind": record.get("kind") or task.get("kind"),
              "options": task.get("options"), "evidence": task.get("evidence")}
    reward = score_record(scored, record.get("snapshots") or {})
    if not (reward["em"] or reward["f1"] >= f1_threshold):
        return False, "wrong_answer"
    if not reward["em"] and not reward["answer_type_ok"]:
        return False, "wrong_answer_type"
    if not reward["format_ok"]:
        return False, "bad_format"
    if not record.get("citations"):
        return False, "no_citation"
    if reward["citation_support"] < 1.0:
        return False, "unsupported_citation"
    if not reward["answer_supported"]:
        return False, "answer_not_in_evidence"
    if rationalized and hint_smuggled(record, gold):
        return False, "hint_smuggled"
    if not is_success(reward, f1_threshold=f1_threshold):  # the checks above are its parts, spelled out
        return False, "not_successful"
    return True, None


def _arguments_text(call: Mapping[str, Any]) -> str:
    args = call.get("function", call).get("arguments")
    try:
        args = json.loads(args) if isinstance(args, str) else args
    except ValueError:
        return str(args)
    return " ".join(str(v) for v in args.values()) if isinstance(args, dict) else str(args)


def hint_smuggled(record: Mapping[str, Any], answers: Sequence[str]) -> bool:
    """Whether a tool call's arguments hold a gold answer that no earlier observation of this run
    showed (and the question does not contain): the model copied it from the hint, so training on
    it would teach answering from nowhere. A whole-graph record is checked call by call: each
    model call's conversation on its own observations."""
    question = record.get("question") or ""
    answers = [a for a in answers if normalize_answer(a) and not contains(question, a)]
    conversations = [record.get("messages") or [], *(c.get("messages") or [] for c in calls_of(record))]
    return any(_smuggled(messages, answers) for messages in conversations)


def _smuggled(messages: Sequence[Mapping[str, Any]], answers: Sequence[str]) -> bool:
    seen = ""
    for m in messages:
        if m.get("role") == "tool":
            seen += " " + (m.get("content") or "")
        for call in m.get("tool_calls") or []:
            text = _arguments_text(call)
            if any(contains(text, a) and not contains(seen, a) for a in answers):
                return True
    return False


def strip_hints(record: dict[str, Any]) -> dict[str, Any]:
    """The record with any rationalization hint removed from its user turns (every call's too)."""
    out = dict(record)
    out["messages"] = [strip_message(m) for m in record.get("messages") or []]
    if calls_of(record):
        out["calls"] = [{**c, "messages": [strip_message(m) for m in c.get("messages") or []]}
                        for c in calls_of(record)]
    return out


def _plain_system(record: dict[str, Any], system: str | None) -> dict[str, Any]:
    """Training sees the stable system prompt, never few-shot exemplars."""
    if not system:
        return record
    messages = list(record.get("messages") or [])
    if messages and messages[0].get("role") == "system":
        messages[0] = {**messages[0], "content": system}
    return {**record, "messages": messages}


def _dedup_key(record: Mapping[str, Any]) -> tuple[str, ...]:
    calls = [(c["function"]["name"], c["function"]["arguments"])
             for m in record.get("messages") or [] for c in m.get("tool_calls") or []]
    return (normalize_answer(record.get("question", "")), normalize_answer(record.get("final_answer", "")),
            hashlib.sha1(json.dumps(calls).encode()).hexdigest())


def is_plan_run(record: Mapping[str, Any]) -> bool:
    """A whole-graph (plan-mode) record: its calls include the plan call."""
    return any(c.get("node") == "plan" for c in calls_of(record))


def _rows(record: dict[str, Any], system: str | None) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """(dedup key, training row) of one record: a react run's one conversation, or every model
    call of a plan-mode run (only research branches get the plain system prompt: the plan and
    write calls have their own)."""
    base = {"id": record.get("id"), "question": record.get("question"), "final_answer": record.get("final_answer")}
    if not is_plan_run(record):
        rec = _plain_system(record, system)
        return [(_dedup_key(rec), {**base, "messages": rec["messages"], "tools": rec.get("tools") or []})]
    out = []
    for row in training_rows(record):
        if row["node"] == "research":
            row = _plain_system(row, system)
        digest = hashlib.sha1(json.dumps(row["messages"], sort_keys=True).encode()).hexdigest()
        key = (normalize_answer(record.get("question", "")), row["node"], row["branch"], digest)
        out.append((key, {**base, "id": f"{record.get('id')}:{row['call_id']}", "node": row["node"],
                          "branch": row["branch"], "messages": row["messages"], "tools": row["tools"]}))
    return out


def rebuild_dataset(seed_demos: Sequence[dict], kept: Sequence[dict], rationalized: Sequence[dict], *,
                    system: str | None = None, balance_kinds: bool = False, seed: int = 0) -> list[dict[str, Any]]:
    """This iteration's training set, built from scratch: demonstrations + kept + rationalized,
    hints stripped, exemplars removed, duplicates (same question, answer and tool calls; for a
    plan-mode call: same node and conversation) dropped.

    `balance_kinds`: the model's own records (kept and rationalized, after duplicates are dropped)
    are capped per task kind at the count of the kind with fewest, so that what the model already
    solves most (single-hop questions) does not crowd out the rest; kept records are chosen before
    rationalized ones, at random (by `seed`) within each. Demonstrations are never capped."""
    out, seen = [], set()
    for source, records in (("demonstration", seed_demos), ("rollout", kept), ("rationalized", rationalized)):
        for n, record in enumerate(records):
            for key, row in _rows(strip_hints(dict(record)), system):
                if key in seen:
                    continue
                seen.add(key)
                out.append({**row, "origin": source, "rationalized": source == "rationalized",
                            "kind": record.get("kind"), "_record": (source, n)})
    if balance_kinds:
        out = _balanced_by_kind(out, seed)
    for row in out:
        del row["_record"]
        if row["kind"] is None:
            del row["kind"]
    return out


def _balanced_by_kind(rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """`rows` with the model's own records capped per kind at the scarcest kind's count (rebuild_dataset)."""
    own: dict[str, dict[tuple[str, int], None]] = {}  # kind -> its records, in order, once each
    for row in rows:
        if row["origin"] != "demonstration":
            own.setdefault(row["kind"] or "?", {})[row["_record"]] = None
    if not own:
        return rows
    cap = min(len(records) for records in own.values())
    chosen: set[tuple[str, int]] = set()
    rng = random.Random(seed)
    for kind in sorted(own):
        records = list(own[kind])
        rng.shuffle(records)
        records.sort(key=lambda r: r[0] != "rollout")  # stable: kept before rationalized, shuffled within
        chosen.update(records[:cap])
    return [row for row in rows if row["origin"] == "demonstration" or row["_record"] in chosen]


def seed_result(out_dir: str | Path) -> dict[str, Any]:
    """The seed adapter (iteration 0) as the loop recorded it in `out_dir`'s metrics.json."""
    metrics = StarLoop._read_json(Path(out_dir) / "metrics.json") or {}
    if not metrics.get("seed"):
        raise StarError(f"no seed adapter in {out_dir}: the seed baseline is the loop's iteration 0, so run "
                        f"`deepstar star --out {out_dir} ...` without --baseline first")
    return metrics["seed"]


def steps_for(iteration: int, cfg: StarConfig) -> int:
    """Optimizer steps of iteration i (1-based): base_steps * growth^(i-1), as in the paper."""
    return max(1, round(cfg.base_steps * cfg.step_growth ** (iteration - 1)))


def direct_records(tasks: Sequence[dict], *, system: str, answer_tool: dict, tools: list[dict],
                   user_text: Callable[[str], str]) -> list[dict[str, Any]]:
    """The `direct` baseline's data: the question answered at once, no trajectory, no rationale."""
    out = []
    for task in tasks:
        answer = task["answers"][0]
        call = {"id": "call_0", "type": "function", "function": {
            "name": answer_tool["function"]["name"],
            "arguments": json.dumps({"url": "", "answer": answer}, separators=(",", ":"), ensure_ascii=False)}}
        out.append({"id": f"direct-{task['id']}", "question": task["question"], "final_answer": answer,
                    "tools": tools + [answer_tool],
                    "messages": [{"role": "system", "content": system},
                                 {"role": "user", "content": user_text(task["question"])},
                                 {"role": "assistant", "content": "", "tool_calls": [call]}]})
    return out


def exemplar_text(demos: Sequence[dict], n: int) -> str:
    """A few demonstrations written out as text for the prompted (few-shot) start."""
    blocks = []
    for demo in list(demos)[:n]:
        lines = []
        for m in demo["messages"][1:]:
            if m["role"] == "user":
                lines.append(m["content"])
            elif m["role"] == "assistant":
                for c in m.get("tool_calls") or []:
                    lines.append(f"<tool_call>{{\"name\":\"{c['function']['name']}\",\"arguments\":{c['function']['arguments']}}}</tool_call>")
            elif m["role"] == "tool":
                lines.append("Result: " + m["content"][:300].replace("\n", " "))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


# --- the loop ---------------------------------------------------------------------------------------
class StarLoop:
    """`extra_evals`: named task sets every eval of the run also scores (e.g. `human`: the
    hand-written development questions), beside dev, into `<stage>/eval_<name>/`. They are
    measured only: nothing is ever rolled out, rationalized or trained on them."""

    def __init__(self, cfg: StarConfig, deps: StarDeps, *, system: str | None = None,
                 extra_evals: Mapping[str, list[dict]] | None = None) -> None:
        self.cfg, self.deps, self.system = cfg, deps, system
        self.extra_evals = dict(extra_evals or {})
        self.out = Path(cfg.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self._provenance = {"config": asdict(cfg), "base_model": deps.base_model,
                            "base_model_hash": deps.base_model_hash, "seed": cfg.seed,
                            "research": dict(deps.research)}
        self._write_json(self.out / "config.json", self._provenance)

    # --- bookkeeping --------------------------------------------------------------------
    @staticmethod
    def _write_json(path: Path, value: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(value, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        tmp.replace(path)  # atomic: a kill never leaves half a marker

    @staticmethod
    def _read_json(path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _stages(self, d: Path) -> dict[str, Any]:
        return self._read_json(d / "stages.json") or {}

    def _done(self, d: Path, stage: str, info: dict[str, Any]) -> None:
        stages = self._stages(d)
        stages[stage] = {**info, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self._write_json(d / "stages.json", stages)

    def _add_wall(self, d: Path, key: str, seconds: float) -> float:
        """Add a stage's wall time to what earlier invocations spent on it (a resumed stage
        costs ~0 s now, but its time was spent), and return the total."""
        stages = self._stages(d)
        wall = stages.setdefault("wall_s", {})
        if key not in wall:  # artifacts from before stage times were kept: the iteration's metrics have them
            wall[key] = float(((self._read_json(d / "metrics.json") or {}).get("timings") or {}).get(key) or 0.0)
        wall[key] += seconds
        self._write_json(d / "stages.json", stages)
        return wall[key]

    @staticmethod
    def _write_jsonl(path: Path, rows: Sequence[Mapping]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        tmp.replace(path)

    @staticmethod
    def _read_jsonl(path: Path) -> list[dict]:
        if not path.exists():
            return []
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue  # a torn last line after a kill
        return rows

    def _write_dataset(self, d: Path, data: list[dict], *, iteration: int | None) -> None:
        """The training set and, beside it, what produced it (config, iteration, base hash, seeds)."""
        self._write_jsonl(d / "dataset.jsonl", data)
        origins: dict[str, int] = {}
        kinds: dict[str, int] = {}
        for row in data:
            origins[row.get("origin", "given")] = origins.get(row.get("origin", "given"), 0) + 1
            key = f"{row.get('origin', 'given')}/{row.get('kind', '?')}"
            kinds[key] = kinds.get(key, 0) + 1
        self._write_json(d / "dataset.meta.json", {**self._provenance, "iteration": iteration, "size": len(data),
                                                    "origins": origins, "origin_kinds": dict(sorted(kinds.items()))})

    async def _rollouts(self, path: Path, jobs: list[tuple[dict, dict]]) -> list[dict]:
        """Run (task, kwargs) jobs; each finished record is appended at once, so a killed
        stage resumes with the jobs not yet in the file."""
        # a job whose run raised (server down, killed connection) is run again on resume;
        # a run that ended with a recorded error is a real sample and is kept
        done = {r["_job"] for r in self._read_jsonl(path) if "_job" in r and not r.get("_raised")}
        todo = [(i, t, kw) for i, (t, kw) in enumerate(jobs) if i not in done]
        sem = asyncio.Semaphore(self.cfg.concurrency)
        path.parent.mkdir(parents=True, exist_ok=True)
        finished = len(done)
        raised: list[str] = []

        async def one(i: int, task: dict, kwargs: dict) -> None:
            nonlocal finished
            async with sem:
                try:
                    record = await self.deps.run(task, **kwargs)
                except Exception as exc:  # a failed run is a failed sample, not a failed loop ...
                    raised.append(f"{type(exc).__name__}: {exc}")
                    record = {"id": None, "question": task["question"], "gold_answers": task.get("answers", []),
                              "final_answer": "", "error": raised[-1], "citations": [], "_raised": True}
            record = {**record, "_job": i, "_task_id": task.get("id")}
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            finished += 1
            if finished % 10 == 0 or finished == len(jobs):
                self.deps.progress(f"  {path.parent.name}/{path.stem}: {finished}/{len(jobs)} runs")

        await asyncio.gather(*(one(i, t, kw) for i, t, kw in todo))
        # ... unless many fail: a loop that trains on demonstrations alone is no STaR run
        check_failures(f"{path.parent.name}/{path.stem}", raised, len(todo))
        latest = {r["_job"]: r for r in self._read_jsonl(path) if "_job" in r}  # a re-run job's last line wins
        return [latest[job] for job in sorted(latest)]

    async def _eval(self, d: Path, tasks: list[dict], *, model: str, exemplars: str | None = None) -> dict:
        self.deps.on_stage(f"{d.relative_to(self.out).as_posix()}/eval")
        async def run(task: dict) -> dict:
            return await self.deps.run(task, model=model, hint=None, temperature=0.0, seed=self.cfg.seed,
                                       exemplars=exemplars)

        summary = await run_eval(tasks, run, concurrency=self.cfg.concurrency, out_dir_or_path=d / "eval",
                                 resume=True, config={**self._provenance, "model": model, "stage": "eval"})
        for name, extra in self.extra_evals.items():
            self.deps.progress(f"{d.relative_to(self.out).as_posix()}: {name} eval of {model} ({len(extra)} tasks)")
            await run_eval(extra, run, concurrency=self.cfg.concurrency, out_dir_or_path=d / f"eval_{name}",
                           resume=True, config={**self._provenance, "model": model, "stage": f"eval_{name}"})
        return summary

    async def _train(self, d: Path, records: list[dict], *, steps: int, seed: int, name: str,
                     iteration: int | None, adapter: Path) -> Path:
        """Train (unless this stage finished before) and hot-load the adapter as `name`.
        Loading is repeated on resume: a restarted server has forgotten its adapters."""
        key = f"train:{adapter.name}"
        stages = self._stages(d)
        if key in stages and self.deps.check_adapter is not None:
            try:
                self.deps.check_adapter(adapter)
            except ReasonerError as exc:
                self.deps.progress(f"{d.name}: the trained adapter is unusable ({exc}); training it again")
                del stages[key]
                self._write_json(d / "stages.json", stages)
        if key not in stages:
            self.deps.on_stage(f"{d.name}/train")
            t0 = time.monotonic()
            info = await self.deps.train(records, adapter, steps=steps, seed=seed,
                                         extra={**self._provenance, "iteration": iteration,
                                                "dataset": str(d / "dataset.jsonl")})
            self._done(d, key, {"steps": steps, "seed": seed, "wall_s": time.monotonic() - t0, **info})
        self.deps.on_stage(f"{d.name}/load")
        await self.deps.load_adapter(name, adapter)
        self._done(d, f"load:{adapter.name}", {"name": name, "path": str(adapter)})
        return adapter

    # --- stage 0: the seed --------------------------------------------------------------------
    async def seed_stage(self, demos: list[dict], dev: list[dict]) -> dict[str, Any]:
        d = self.out / "seed"
        data = rebuild_dataset(demos, [], [], system=self.system)
        self._write_dataset(d, data, iteration=0)
        evals = []
        for s in range(self.cfg.noise_seeds):
            seed = self.cfg.seed + s
            name = f"{self.cfg.run_name}-seed-s{seed}"
            self.deps.progress(f"seed adapter (training seed {seed}): {len(data)} demonstrations, {self.cfg.seed_steps} steps")
            await self._train(d, data, steps=self.cfg.seed_steps, seed=seed, name=name, iteration=0,
                              adapter=d / f"adapter-s{seed}")
            summary = await self._eval(d / f"s{seed}", dev, model=name)
            evals.append({"seed": seed, "model": name, "summary": summary})
        self._done(d, "eval", {"models": [e["model"] for e in evals]})
        return {"iteration": 0, "model": evals[0]["model"], "evals": evals, "dataset_size": len(data)}

    # --- one STaR iteration -----------------------------------------------------------------------------
    def iteration_tasks(self, i: int, train: Sequence[dict]) -> list[dict]:
        """The training tasks iteration i rolls out: all of them, or a sample fixed by (seed, i)."""
        if self.cfg.train_sample is None:
            return list(train)
        return random.Random(self.cfg.seed * 1000 + i).sample(list(train), min(self.cfg.train_sample, len(train)))

    def direct_tasks(self, train: Sequence[dict], demos: Sequence[dict]) -> list[dict]:
        """The tasks the `direct` baseline learns the gold answers of: exactly those the STaR run
        learns from (the seed demonstrations' tasks and every iteration's sample), so the
        comparison holds the task budget equal. `train` holds the demonstration tasks too."""
        demo_ids = {d.get("question_id") for d in demos}
        rollout_pool = [t for t in train if t.get("id") not in demo_ids] or list(train)
        ids = set(demo_ids)
        for i in range(1, self.cfg.iterations + 1):
            ids |= {t.get("id") for t in self.iteration_tasks(i, rollout_pool)}
        return [t for t in train if t.get("id") in ids]

    async def iteration(self, i: int, model: str, train: list[dict], dev: list[dict], demos: list[dict],
                        exemplars: str | None) -> dict[str, Any]:
        cfg, d = self.cfg, self.out / f"iter_{i}"
        timings: dict[str, float] = {}
        tasks = self.iteration_tasks(i, train)

        # 1. rollout
        t0 = time.monotonic()
        jobs = [(t, {"model": model, "hint": None, "temperature": cfg.temperature, "seed": cfg.seed * 7919 + i * 101 + j,
                     "exemplars": exemplars}) for t in tasks for j in range(cfg.samples_per_task)]
        self.deps.progress(f"iteration {i}: rollouts of {model} on {len(tasks)} tasks × {cfg.samples_per_task}")
        self.deps.on_stage(f"{d.name}/rollout")
        rollouts = await self._rollouts(d / "rollouts.jsonl", jobs)
        timings["rollout_s"] = self._add_wall(d, "rollout_s", time.monotonic() - t0)
        self._done(d, "rollout", {"runs": len(rollouts)})

        # 2. filter
        self.deps.on_stage(f"{d.name}/filter")
        kept, reasons = [], {}
        by_id = {t.get("id"): t for t in tasks}
        for r in rollouts:
            ok, why = passes_filter(r, f1_threshold=cfg.f1_threshold, task=by_id.get(r.get("_task_id")))
            if ok:
                kept.append(r)
            else:
                reasons[why] = reasons.get(why, 0) + 1
        solved = {r["_task_id"] for r in kept}
        self._write_jsonl(d / "kept.jsonl", kept)
        self._done(d, "filter", {"kept": len(kept), "rejected": reasons})

        # 3. rationalize
        t0 = time.monotonic()
        failed = [t for t in tasks if t.get("id") not in solved]
        rationalized: list[dict] = []
        if cfg.rationalize and failed:
            self.deps.on_stage(f"{d.name}/rationalize")
            self.deps.progress(f"iteration {i}: rationalizing {len(failed)} failed tasks with the gold answer as a hint")
            hinted = await self._rollouts(d / "hinted.jsonl", [
                (t, {"model": model, "hint": t["answers"][0], "temperature": cfg.temperature,
                     "seed": cfg.seed * 7919 + i * 101 + 97, "exemplars": exemplars}) for t in failed])
            for r in hinted:
                ok, _ = passes_filter(r, f1_threshold=cfg.f1_threshold, task=by_id.get(r.get("_task_id")),
                                      rationalized=True)
                if ok:
                    rationalized.append({**strip_hints(r), "rationalized": True})
        timings["rationalize_s"] = self._add_wall(d, "rationalize_s", time.monotonic() - t0)
        self._write_jsonl(d / "rationalized.jsonl", rationalized)
        self._done(d, "rationalize", {"rationalized": len(rationalized), "failed_tasks": len(failed)})

        # 4. dataset, rebuilt from scratch
        data = rebuild_dataset(demos if cfg.start == "seed" else [], kept, rationalized, system=self.system,
                               balance_kinds=cfg.balance_kinds, seed=cfg.seed + i)
        self._write_dataset(d, data, iteration=i)
        self._done(d, "dataset", {"size": len(data)})

        # 5-6. train a fresh adapter from the base, load it
        t0 = time.monotonic()
        name = f"{cfg.run_name}-iter{i}"
        steps = steps_for(i, cfg)
        self.deps.progress(f"iteration {i}: training a fresh LoRA on {len(data)} trajectories, {steps} steps")
        if data:
            await self._train(d, data, steps=steps, seed=cfg.seed, name=name, iteration=i, adapter=d / "adapter")
        else:
            name = model  # nothing to learn from: the model stays as it was
        timings["train_s"] = self._add_wall(d, "train_s", time.monotonic() - t0)

        # 7. eval on dev, greedy
        t0 = time.monotonic()
        self.deps.progress(f"iteration {i}: dev eval of {name}")
        summary = await self._eval(d, dev, model=name, exemplars=exemplars if name == model else None)
        timings["eval_s"] = self._add_wall(d, "eval_s", time.monotonic() - t0)
        self._done(d, "eval", {"model": name})
        tokens = sum((r.get("usage") or {}).get("prompt_tokens", 0) + (r.get("usage") or {}).get("completion_tokens", 0)
                     for r in rollouts)
        metrics = {
            "iteration": i, "model": name, "train_tasks": len(tasks),
            "train_solve_rate": len(solved) / len(tasks) if tasks else 0.0,
            "rationalization_rate": len(rationalized) / len(failed) if failed else 0.0,
            "kept": len(kept), "rationalized": len(rationalized), "dataset_size": len(data), "steps": steps,
            "rejected": reasons, "rollout_tokens": tokens, "timings": timings, "dev": summary,
        }
        self._write_json(d / "metrics.json", metrics)
        return metrics

    # --- baselines ----------------------------------------------------------------------------------------
    async def baseline(self, kind: str, dev: list[dict], demos: list[dict], direct_data: list[dict] | None = None
                       ) -> dict[str, Any]:
        d = self.out / f"baseline_{kind}"
        if kind == "fewshot":
            summary = await self._eval(d, dev, model=self.deps.base_model,
                                       exemplars=exemplar_text(demos, self.cfg.fewshot_examples))
            model = self.deps.base_model
        elif kind == "seed":
            seed = seed_result(self.out)
            summary, model = seed["evals"][0]["summary"], seed["model"]
        elif kind == "direct":
            if not direct_data:
                raise StarError("the direct baseline needs training tasks: give --train a file with train rows")
            self._write_dataset(d, direct_data, iteration=None)
            model = f"{self.cfg.run_name}-direct"
            # the step budget of the STaR run's last iteration
            await self._train(d, direct_data, steps=steps_for(self.cfg.iterations, self.cfg), seed=self.cfg.seed,
                              name=model,
                              iteration=None, adapter=d / "adapter")
            summary = await self._eval(d, dev, model=model)
        else:
            raise StarError(f"unknown baseline {kind!r}: use fewshot, seed or direct")
        out = {"baseline": kind, "model": model, "dev": summary}
        if kind == "direct":
            out.update(dataset_size=len(direct_data or []), steps=steps_for(self.cfg.iterations, self.cfg))
        self._write_json(d / "metrics.json", out)
        return out

    # --- the test split, once, at the end ----------------------------------------------------------------------
    def best_iteration(self) -> dict[str, Any]:
        """The model chosen on dev: the iteration (0 = the seed adapter, training seed `cfg.seed`)
        with the highest dev EM, the earlier one on a tie. Never decided on test."""
        metrics = self._read_json(self.out / "metrics.json") or {}
        if not metrics.get("seed"):
            raise StarError(f"no finished STaR run in {self.out}: run the loop before scoring the test split")
        seed = metrics["seed"]
        best = {"iteration": 0, "model": seed["model"], "dir": self.out / "seed" / f"s{seed['evals'][0]['seed']}",
                "adapter": self.out / "seed" / f"adapter-s{seed['evals'][0]['seed']}",
                "em": seed["evals"][0]["summary"]["overall"]["em"]}
        for m in metrics.get("iterations", []):
            d = self.out / f"iter_{m['iteration']}"
            if m["dev"]["overall"]["em"] > best["em"] and (d / "adapter").is_dir():
                best = {"iteration": m["iteration"], "model": m["model"], "dir": d, "adapter": d / "adapter",
                        "em": m["dev"]["overall"]["em"]}
        return best

    async def final_test(self, test: list[dict], demos: Sequence[dict] = ()) -> dict[str, Any]:
        """Score the split held out for the report, once: the model chosen on dev and the baselines
        that exist (seed, direct, fewshot), each into `test/<label>/eval`. A label already scored is
        read back, never run again (resume), and the chosen model is recorded with it."""
        best = self.best_iteration()
        d = self.out / "test"
        recorded = self._read_json(d / "metrics.json") or {}
        if recorded.get("chosen") and recorded["chosen"]["model"] != best["model"]:
            raise StarError(f"{d} already holds the test scores of {recorded['chosen']['model']}; the run now "
                            f"chooses {best['model']} on dev. Test is scored once: move {d} away to score again")
        seed = (self._read_json(self.out / "metrics.json") or {})["seed"]
        arms: list[tuple[str, str, Path | None, str | None]] = [
            ("chosen", best["model"], best["adapter"], None),
            ("seed", seed["model"], self.out / "seed" / f"adapter-s{seed['evals'][0]['seed']}", None)]
        if (self.out / "baseline_direct" / "adapter").is_dir():
            arms.append(("direct", f"{self.cfg.run_name}-direct", self.out / "baseline_direct" / "adapter", None))
        if (self.out / "baseline_fewshot").is_dir() and demos:
            arms.append(("fewshot", self.deps.base_model, None, exemplar_text(demos, self.cfg.fewshot_examples)))
        out: dict[str, Any] = {"chosen": {"iteration": best["iteration"], "model": best["model"],
                                          "dev_em": best["em"]}, "arms": {}}
        for label, model, adapter, exemplars in arms:
            if adapter is not None:
                await self.deps.load_adapter(model, adapter)
            saved = dict(self.extra_evals)
            self.extra_evals = {}  # test is test: no extra sets here
            try:
                summary = await self._eval(d / label, test, model=model, exemplars=exemplars)
            finally:
                self.extra_evals = saved
            out["arms"][label] = {"model": model, "summary": summary}
        self._write_json(d / "metrics.json", out)
        return out

    # --- the whole run ----------------------------------------------------------------------------------------
    async def run(self, train: list[dict], dev: list[dict], demos: list[dict]) -> dict[str, Any]:
        cfg = self.cfg
        t_start = time.monotonic()
        metrics: dict[str, Any] = self._read_json(self.out / "metrics.json") or {}
        metrics.update({"config": asdict(cfg), "base_model_hash": self.deps.base_model_hash})
        metrics.pop("early_stopped_at", None)  # decided afresh by this invocation (its patience may differ)
        exemplars = None
        if cfg.start == "seed":
            metrics["seed"] = await self.seed_stage(demos, dev)
            model = metrics["seed"]["model"]
            best = metrics["seed"]["evals"][0]["summary"]["overall"]["em"]
        else:
            exemplars = exemplar_text(demos, cfg.fewshot_examples)
            model = self.deps.base_model
            fs = await self.baseline("fewshot", dev, demos)
            best = fs["dev"]["overall"]["em"]
        self._write_json(self.out / "metrics.json", metrics)
        iterations = []
        stale = 0
        for i in range(1, cfg.iterations + 1):
            m = await self.iteration(i, model, train, dev, demos, exemplars)
            iterations.append(m)
            metrics["iterations"] = iterations
            self._write_json(self.out / "metrics.json", metrics)
            em = m["dev"]["overall"]["em"]
            self.deps.progress(f"iteration {i}: train solve rate {m['train_solve_rate']:.3f}, dev EM {em:.3f}")
            if m["model"] != model:
                model, exemplars = m["model"], None
            if em > best:
                best, stale = em, 0
            else:
                stale += 1
                if stale >= cfg.patience and i < cfg.iterations:
                    self.deps.progress(f"early stop: dev EM has not improved for {stale} iteration(s)")
                    metrics["early_stopped_at"] = i
                    break
        metrics["wall_s"] = metrics.get("wall_s", 0.0) + time.monotonic() - t_start
        self._write_json(self.out / "metrics.json", metrics)
        return metrics


# --- the report ---------------------------------------------------------------------------------------------
def _em(summary: Mapping[str, Any] | None) -> float | None:
    return None if not summary else summary.get("overall", {}).get("em")


def _stage_times(t: Mapping[str, float]) -> str:
    if max(t.values(), default=0.0) < 1.0:  # no dev eval takes under a second: resumed from artifacts without times
        return "wall s: not recorded (the iteration ran before stage times were kept)"
    return (f"wall s: rollout {t['rollout_s']:.0f}, rationalize {t['rationalize_s']:.0f}, "
            f"train {t['train_s']:.0f}, eval {t['eval_s']:.0f}")


def write_report(out_dir: str | Path) -> Path:
    """`report.md` and `plot.png` from whatever the run and its baselines have written."""
    out = Path(out_dir)
    metrics = StarLoop._read_json(out / "metrics.json") or {}
    baselines = {p.name.removeprefix("baseline_"): StarLoop._read_json(p / "metrics.json")
                 for p in sorted(out.glob("baseline_*")) if (p / "metrics.json").exists()}
    cfg = metrics.get("config", {})
    lines = ["# STaR run", "",
             f"Base model hash `{metrics.get('base_model_hash', '')[:16]}`; start `{cfg.get('start')}`; "
             f"{cfg.get('samples_per_task')} samples per task at temperature {cfg.get('temperature')}; "
             f"training steps {cfg.get('base_steps')} × {cfg.get('step_growth')}^(i-1); mode `{cfg.get('mode')}`.", ""]
    if cfg.get("start") == "seed":
        lines += ["Iteration 0 is a LoRA on real-tool demonstrations (a departure from the paper's prompted "
                  "start, which the bundled 270M base model cannot bootstrap from); `fewshot` is the paper's start.", ""]
    rows = []  # (name, dev EM, F1, citation support, precision, recall, train solve rate, dataset)

    def cites(s: Mapping[str, Any]) -> tuple[Any, Any, Any]:  # (summaries written before FACT's two lack them)
        return s["citation_support"], s.get("citation_precision"), s.get("citation_recall")

    for kind in ("fewshot", "direct"):
        b = baselines.get(kind)
        if b:
            s = b["dev"]["overall"]
            rows.append((f"baseline: {kind}", s["em"], s["f1"], *cites(s), None, b.get("dataset_size")))
    seed = metrics.get("seed")
    if seed:
        for e in seed["evals"]:
            s = e["summary"]["overall"]
            rows.append((f"iteration 0 (seed adapter, training seed {e['seed']})", s["em"], s["f1"],
                         *cites(s), None, seed.get("dataset_size")))
    for m in metrics.get("iterations", []):
        s = m["dev"]["overall"]
        rows.append((f"iteration {m['iteration']}", s["em"], s["f1"], *cites(s), m["train_solve_rate"],
                     m["dataset_size"]))

    def fmt(v: Any) -> str:
        return "—" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

    lines += ["| model | dev EM | dev F1 | citation support | citation precision | citation recall | train solve rate "
              "| training set |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r[0]} | " + " | ".join(fmt(v) for v in r[1:]) + " |" for r in rows]
    if seed and len(seed["evals"]) > 1:
        ems = [e["summary"]["overall"]["em"] for e in seed["evals"]]
        lines += ["", f"Iteration-0 noise (same data, {len(ems)} training seeds): dev EM {', '.join(f'{e:.3f}' for e in ems)}"
                      f" — spread {max(ems) - min(ems):.3f}. A STaR gain smaller than this is not distinguishable from noise."]
    if metrics.get("iterations"):
        lines += ["", "## Per iteration", ""]
        for m in metrics["iterations"]:
            t = m["timings"]
            by_kind = ", ".join(f"{k} {v['em']:.3f}" for k, v in sorted(m["dev"].get("by_kind", {}).items()))
            lines += [f"- iteration {m['iteration']}: {m['train_tasks']} tasks, kept {m['kept']}, rationalized "
                      f"{m['rationalized']} (rate {m['rationalization_rate']:.3f}), dataset {m['dataset_size']}, "
                      f"{m['steps']} steps; dev EM by kind: {by_kind}; rejected: {m['rejected']}; "
                      f"rollout tokens {m['rollout_tokens']}; " + _stage_times(t)]
    lines += _interval_sections(out, metrics)
    if metrics.get("early_stopped_at"):
        lines += ["", f"Early stop after iteration {metrics['early_stopped_at']} (no dev EM gain)."]
    if metrics.get("wall_s"):
        lines += ["", f"Wall time of the loop (summed over invocations when resumed): {metrics['wall_s'] / 60:.1f} min."]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _plot(out, metrics)
    return report


def _arms(out: Path, metrics: Mapping[str, Any]) -> list[tuple[str, Path]]:
    """(label, stage directory) of every model the run evaluated, in table order."""
    arms = [(f"baseline: {k}", out / f"baseline_{k}") for k in ("fewshot", "direct") if (out / f"baseline_{k}").is_dir()]
    seed = metrics.get("seed")
    if seed:
        arms += [(f"seed adapter s{e['seed']}", out / "seed" / f"s{e['seed']}") for e in seed["evals"]]
    arms += [(f"iteration {m['iteration']}", out / f"iter_{m['iteration']}") for m in metrics.get("iterations", [])]
    return arms


def _per_task(stage: Path, name: str) -> dict[str, dict]:
    return load_results(stage / name / "results.jsonl")


def _delta(a: dict[str, dict], b: dict[str, dict], key: str) -> str:
    if not a or not b or not set(a) & set(b):
        return "—"
    d = paired_difference({k: float(v[key]) for k, v in a.items()}, {k: float(v[key]) for k, v in b.items()})
    mark = " **" if d["excludes_zero"] else ""
    return f"{d['delta']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]{mark}"


def _interval_sections(out: Path, metrics: Mapping[str, Any]) -> list[str]:
    """Paired bootstrap 95% intervals (same tasks, resampled together) of each model's EM and
    success rate (right and cited) against the seed adapter and against `direct`, on dev and on
    every extra eval set; per-kind tables of the extra sets; and the test split when scored."""
    arms = _arms(out, metrics)
    seed_dir = next((d for label, d in arms if label.startswith("seed adapter")), None)
    direct_dir = out / "baseline_direct"
    sets = ["eval"] + sorted({p.name for _, d in arms for p in d.glob("eval_*") if (p / "results.jsonl").exists()})
    lines: list[str] = []
    for name in sets:
        title = "dev" if name == "eval" else name.removeprefix("eval_")
        seed_rows = _per_task(seed_dir, name) if seed_dir else {}
        direct_rows = _per_task(direct_dir, name)
        table = []
        for label, d in arms:
            rows = _per_task(d, name)
            if not rows:
                continue
            n = len(rows)
            em = sum(float(r["em"]) for r in rows.values()) / n
            ok = sum(float(r["success"]) for r in rows.values()) / n
            table.append(f"| {label} | {n} | {em:.3f} | {ok:.3f} | {_delta(rows, seed_rows, 'em')} | "
                         f"{_delta(rows, seed_rows, 'success')} | {_delta(rows, direct_rows, 'em')} | "
                         f"{_delta(rows, direct_rows, 'success')} |")
        if not table:
            continue
        lines += ["", f"## {title}: paired bootstrap 95% intervals", "",
                  "Differences on the same tasks, 10,000 resamples; ** marks an interval that excludes 0. "
                  "Success = right and cited (every citation supported by a sentence of a page the run fetched).", "",
                  "| model | tasks | EM | success | ΔEM vs seed | Δsuccess vs seed | ΔEM vs direct | Δsuccess vs direct |",
                  "|---|---|---|---|---|---|---|---|", *table]
        if name != "eval":
            kinds = sorted({r["kind"] for _, d in arms for r in _per_task(d, name).values()})
            lines += ["", f"{title} by kind (EM / success):", "", "| model | " + " | ".join(kinds) + " |",
                      "|---|" + "---|" * len(kinds)]
            for label, d in arms:
                rows = list(_per_task(d, name).values())
                if rows:
                    cells = []
                    for k in kinds:
                        sub = [r for r in rows if r["kind"] == k]
                        cells.append("—" if not sub else f"{sum(float(r['em']) for r in sub) / len(sub):.3f} / "
                                     f"{sum(float(r['success']) for r in sub) / len(sub):.3f} (n={len(sub)})")
                    lines.append(f"| {label} | " + " | ".join(cells) + " |")
    test = StarLoop._read_json(out / "test" / "metrics.json")
    if test:
        chosen = test["chosen"]
        lines += ["", "## test split (scored once, at the end)", "",
                  f"Chosen on dev: iteration {chosen['iteration']} (`{chosen['model']}`, dev EM {chosen['dev_em']:.3f}).", "",
                  "| model | tasks | EM | success | ΔEM vs seed | Δsuccess vs seed | ΔEM vs direct | Δsuccess vs direct |",
                  "|---|---|---|---|---|---|---|---|"]
        rows_of = {label: _per_task(out / "test" / label, "eval") for label in test["arms"]}
        for label, rows in rows_of.items():
            if rows:
                n = len(rows)
                lines.append(f"| {label} (`{test['arms'][label]['model']}`) | {n} | "
                             f"{sum(float(r['em']) for r in rows.values()) / n:.3f} | "
                             f"{sum(float(r['success']) for r in rows.values()) / n:.3f} | "
                             f"{_delta(rows, rows_of.get('seed', {}), 'em')} | {_delta(rows, rows_of.get('seed', {}), 'success')} | "
                             f"{_delta(rows, rows_of.get('direct', {}), 'em')} | {_delta(rows, rows_of.get('direct', {}), 'success')} |")
    return lines


def _plot(out: Path, metrics: Mapping[str, Any]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the `train` extra brings matplotlib; the report stands without the plot
        return
    xs, dev, solve = [], [], []
    if metrics.get("seed"):
        xs.append(0)
        dev.append(metrics["seed"]["evals"][0]["summary"]["overall"]["em"])
        solve.append(None)
    for m in metrics.get("iterations", []):
        xs.append(m["iteration"])
        dev.append(m["dev"]["overall"]["em"])
        solve.append(m["train_solve_rate"])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, dev, marker="o", label="dev EM")
    pts = [(x, s) for x, s in zip(xs, solve, strict=True) if s is not None]
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="s", label="train solve rate")
    ax.set_xlabel("iteration")
    ax.set_xticks(xs)
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("STaR on deepstar research trajectories")
    fig.tight_layout()
    fig.savefig(out / "plot.png", dpi=100)
    plt.close(fig)
