"""`deepstar star`: the STaR loop (and its baselines) on the embedded or a given server."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from itertools import zip_longest
from pathlib import Path
from typing import Any

import typer

from agent.commands._common import ConfigOpt, HomeOpt, build_config, err_console, server_progress

__all__ = ["FAULT_ENV", "register"]

# Fault injection for the reliability tests (tests/reliability, `deepstar bench faults`):
# with DEEPSTAR_FAULT_KILL_AT=POINT the process SIGKILLs itself when the STaR loop reaches
# POINT, exactly as a crash there would. POINT is "DIR/STAGE" as the loop names it
# ("iter_1/rollout", "iter_1/filter", "iter_1/train", "iter_1/load", "iter_1/eval",
# "seed/train", ...) or "iter_1/training": a few seconds into the training child's run.
# A test seam, not a setting, so it is read here rather than in agent.config.
FAULT_ENV = "DEEPSTAR_FAULT_KILL_AT"


def _fault_point(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        err_console.print(f"fault injection: SIGKILL at {point}")
        os.kill(os.getpid(), signal.SIGKILL)


def _die_with_parent() -> None:
    """Initializer of the training child: it dies with the STaR process (Linux), so a
    killed loop leaves no trainer behind writing into the adapter a resumed run trains."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not Linux: the child finishes its job and exits
        return
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before the line above
        os._exit(1)


def _tasks(path: Path, split: str, limit: int | None, seed: int) -> list[dict]:
    from evals.loaders import load_tasks

    rows = [t for t in load_tasks(path) if t.get("split") in (None, split)]
    if not rows:
        raise typer.BadParameter(f"{path} has no tasks of split {split!r}")
    if limit is not None and limit < len(rows):
        rows = _balanced(rows, limit, seed)
    return rows


def _balance_group(row: dict) -> tuple[str, str]:
    """The (kind, sub-group) a task is balanced in: the sentence questions of `evals.echo` are
    a sub-group of the single-hop kind. Kinds get equal shares first, so that one-hop
    demonstrations stay a third (run 5 of issue 15 gave sentence questions a share of their
    own, one-hop demonstrations became half, and the adapter stopped hopping on bridges);
    within a kind its sub-groups share equally."""
    kind = str(row.get("kind"))
    return kind, ("sentence" if str(row.get("relation", "")).startswith("echo_") else "template")


def _balanced(rows: list[dict], n: int, seed: int) -> list[dict]:
    """n tasks spread evenly over kinds, and within a kind over its sub-groups
    (deterministic by seed; `_balance_group`)."""
    rng = random.Random(seed)
    groups: dict[str, dict[str, list[dict]]] = {}
    for r in rows:
        kind, sub = _balance_group(r)
        groups.setdefault(kind, {}).setdefault(sub, []).append(r)
    by_kind: dict[str, list[dict]] = {}
    for kind, subs in groups.items():
        for group in subs.values():
            rng.shuffle(group)
        # the kind's sub-groups in turn, the last of each first (as `pop` takes them)
        turns = zip_longest(*(reversed(subs[s]) for s in sorted(subs)))
        by_kind[kind] = [r for turn in turns for r in turn if r is not None][::-1]
    out: list[dict] = []
    while len(out) < n and any(by_kind.values()):
        for kind in sorted(by_kind):
            if by_kind[kind] and len(out) < n:
                out.append(by_kind[kind].pop())
    return out


def star(
    train: Path = typer.Option(..., "--train", help="training tasks (JSONL); rows of another split are ignored"),
    dev: Path = typer.Option(..., "--dev", help="dev tasks (JSONL); rows of another split are ignored"),
    iterations: int = typer.Option(2, "--iterations", min=1, help="STaR iterations K"),
    out: Path = typer.Option(..., "--out", help="output directory (resumable)"),
    baseline: str | None = typer.Option(None, "--baseline", help="run a baseline instead: fewshot | seed | direct"),
    start: str = typer.Option("seed", "--start", help="seed (LoRA on demonstrations) | fewshot (prompted base)"),
    demos: Path | None = typer.Option(None, "--demos", help="demonstrations JSONL (default: built from --train)"),
    seed_demos: int = typer.Option(100, "--seed-demos", min=1, help="demonstrations built when --demos is not given"),
    demo_query: str = typer.Option("question", "--demo-query", help="what a built demonstration of a single or "
                                   "bridge task searches first: question (as asked, then the entity if that "
                                   "missed) | entity (the entity's name)"),
    demo_hop: str = typer.Option("name", "--demo-hop", help="what a built bridge demonstration finds on its first "
                                 "page before the second search: name (the second entity's name) | keyword (a word of "
                                 "the question that the sentence naming it holds, so the name is copied from the "
                                 "find result)"),
    train_sample: int | None = typer.Option(None, "--train-sample", min=1, help="training tasks per iteration"),
    train_limit: int | None = typer.Option(None, "--train-limit", min=1, help="use only this many training tasks"),
    dev_limit: int | None = typer.Option(None, "--dev-limit", min=1, help="use only this many dev tasks"),
    samples: int = typer.Option(2, "--samples", min=1, help="rollouts per task per iteration (k)"),
    temperature: float = typer.Option(0.7, "--temperature", help="rollout temperature"),
    base_steps: int = typer.Option(40, "--base-steps", min=1, help="optimizer steps of iteration 1"),
    seed_steps: int = typer.Option(40, "--seed-steps", min=1, help="optimizer steps of the seed adapter"),
    noise_seeds: int = typer.Option(2, "--noise-seeds", min=1, help="training seeds of the seed adapter"),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="research runs at once"),
    seed: int = typer.Option(0, "--seed", help="seed of sampling, training and task choice"),
    max_steps: int = typer.Option(10, "--max-steps", min=1, help="model calls per research run"),
    mode: str = typer.Option("react", "--mode", help="react (one research loop) | plan (the whole planner graph: "
                             "every model call of a successful run is trained on, the plan call included)"),
    lr: float = typer.Option(2e-4, "--lr", help="learning rate"),
    run_name: str = typer.Option("star", "--run-name", help="prefix of the adapter names served for this run"),
    balance_kinds: bool = typer.Option(False, "--balance-kinds", help="cap the model's own trajectories per task "
                                       "kind at the scarcest kind's count in each iteration's training set"),
    patience: int = typer.Option(1, "--patience", min=1, help="iterations without a dev EM gain before stopping early"),
    base_model: Path | None = typer.Option(None, "--base-model", help="a local Hugging Face checkpoint directory to "
                                           "start from: served and trained from it (default: the bundled model)"),
    human: Path | None = typer.Option(None, "--human", help="extra development questions (JSONL, e.g. hand-written) "
                                      "every eval also scores, beside dev; measured only, never trained on"),
    test: Path | None = typer.Option(None, "--test", help="test tasks (JSONL; rows of another split are ignored) "
                                     "for --final-test"),
    final_test: bool = typer.Option(False, "--final-test", help="after the loop: score the model chosen on dev "
                                    "and the baselines on --test, once"),
    home: Path | None = HomeOpt,
    config: Path | None = ConfigOpt,
) -> None:
    """Self-taught research: roll out, filter, rationalize, retrain from the base, serve again."""
    from evals.star import StarConfig, seed_result

    if mode not in ("react", "plan"):
        raise typer.BadParameter(f"{mode!r}: use react or plan", param_hint="--mode")
    from evals.demos import DEMO_HOPS, DEMO_QUERIES

    if demo_query not in DEMO_QUERIES:
        raise typer.BadParameter(f"{demo_query!r}: use {' or '.join(DEMO_QUERIES)}", param_hint="--demo-query")
    if demo_hop not in DEMO_HOPS:
        raise typer.BadParameter(f"{demo_hop!r}: use {' or '.join(DEMO_HOPS)}", param_hint="--demo-hop")
    if baseline not in (None, "fewshot", "seed", "direct"):
        raise typer.BadParameter(f"{baseline!r}: use fewshot, seed or direct", param_hint="--baseline")
    if baseline == "seed":
        seed_result(out)  # before anything starts: a clear line when the loop has not run yet
    scfg = StarConfig(out_dir=str(out), iterations=iterations, start=start, samples_per_task=samples,
                      temperature=temperature, train_sample=train_sample, base_steps=base_steps,
                      seed_steps=seed_steps, noise_seeds=noise_seeds, concurrency=concurrency, seed=seed,
                      run_name=run_name, patience=patience, mode=mode, balance_kinds=balance_kinds)
    if base_model is not None:
        _check_checkpoint(base_model)
    cfg = build_config(config, home=home, mode=mode, max_steps=max_steps, max_concurrency=max(16, concurrency),
                       server_model_path=base_model)
    refuse_other_endpoint(cfg)
    train_tasks = _tasks(train, "train", train_limit, seed)
    dev_tasks = _tasks(dev, "dev", dev_limit, seed)
    extra = {}
    if human is not None:
        extra["human"] = _tasks(human, "dev", None, seed)
        asked = {t["question"].strip().casefold() for t in train_tasks}
        leaked = [t["id"] for t in extra["human"] if t["question"].strip().casefold() in asked]
        if leaked:
            raise typer.BadParameter(f"{len(leaked)} --human questions are also training tasks ({leaked[:3]}...): "
                                     "development questions are never trained on", param_hint="--human")
    if final_test and test is None:
        raise typer.BadParameter("--final-test needs --test FILE (the test split)", param_hint="--final-test")
    test_tasks = _tasks(test, "test", None, seed) if final_test and test is not None else None
    asyncio.run(_main(cfg, scfg, train_tasks, dev_tasks, demos, seed_demos, baseline, lr, extra, test_tasks,
                      demo_query=demo_query, demo_hop=demo_hop))


def refuse_other_endpoint(cfg: Any) -> None:
    """STaR trains adapters of the bundled model and loads each into the embedded server, so
    its runs must go there too: with another endpoint configured, the runs would ask for an
    adapter that endpoint never loaded ("model not found") and the loop would learn from
    demonstrations alone. One endpoint for everything, or a clear refusal."""
    from agent.config import ConfigError
    from agent.runtime import server_spec
    from reasoner.server import server_status

    if cfg.base_url is None:
        return
    spec = server_spec(cfg)
    host = "127.0.0.1" if spec.host in ("0.0.0.0", "::", "localhost") else spec.host
    embedded = {f"http://{h}:{spec.port}/v1" for h in (host, "localhost")}
    running, _ = server_status(cfg.server_state_path)
    if running is not None:  # the embedded server as it runs now (`deepstar serve --port P`)
        embedded.add(running.base_url)
    if cfg.base_url.rstrip("/") not in embedded:
        raise ConfigError(f"deepstar star loads the adapters it trains into the embedded server "
                          f"(http://{host}:{spec.port}/v1), but the runs would go to {cfg.base_url} "
                          f"(DEEPSTAR_BASE_URL or base_url in config.toml): unset it for `deepstar star`")


def _check_checkpoint(path: Path) -> None:
    """--base-model names a Hugging Face checkpoint directory with weights and a tokenizer."""
    from reasoner.errors import ModelNotPrepared

    if not (path / "config.json").is_file():
        raise ModelNotPrepared(f"--base-model {path}: not a Hugging Face checkpoint directory (no config.json)")
    if not any(path.glob("*.safetensors")):
        raise ModelNotPrepared(f"--base-model {path}: no *.safetensors weights (save the model with `save_pretrained`)")
    if not any((path / n).is_file() for n in ("tokenizer.json", "tokenizer.model")):
        raise ModelNotPrepared(f"--base-model {path}: no tokenizer (tokenizer.json or tokenizer.model); save the "
                               "tokenizer beside the weights")


async def _main(cfg: Any, scfg: Any, train_tasks: list[dict], dev_tasks: list[dict], demos_path: Path | None,
                n_demos: int, baseline: str | None, lr: float, extra_evals: dict[str, list[dict]],
                test_tasks: list[dict] | None, *, demo_query: str = "question",
                demo_hop: str = "name") -> None:
    from agent.api import ResearchAgent
    from agent.runtime import ensure_embedded_server, make_client, research_setting
    from agent.web import open_web
    from evals.demos import build_demos, build_plan_demo
    from evals.errors import StarError
    from evals.star import StarDeps, StarLoop, direct_records, write_report
    from planner import prompts
    from planner.prompts import ANSWER_TOOL, REACT_SYSTEM, react_user
    from reasoner.adapters import check_adapter
    from reasoner.errors import EndpointError
    from reasoner.prepare import bundled_model_dir, weights_sha256
    from reasoner.train import SFTConfig

    out = Path(scfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if baseline is None:  # the command the model card of a shipped adapter gives to reproduce it
        (out / "command.json").write_text(json.dumps({"argv": ["star", *sys.argv[sys.argv.index("star") + 1:]]
                                                      if "star" in sys.argv else sys.argv[1:]}), encoding="utf-8")
    state = await asyncio.to_thread(ensure_embedded_server, cfg, progress=server_progress(),
                                    log=lambda m: err_console.print(m))
    base_path = Path(cfg.server_model_path or bundled_model_dir(cfg.models_dir))
    if Path(state.model_path).resolve() != base_path.resolve():
        # the loop trains on base_path: its rollouts must come from that model, not another
        raise StarError(f"the running vLLM server (pid {state.pid}) serves {state.model_path}, not {base_path}: "
                        "stop it first (`deepstar serve --stop`) or use another --home")
    log = lambda m: err_console.print(m)  # noqa: E731
    focus = research_setting(cfg, None, "focus_reading")  # the runs ask for the run's adapters, never the shipped one

    # the seed demonstrations: given, or built by really running the tools (kept in DIR)
    demo_file = demos_path or out / "demos.jsonl"
    if demo_file.exists():
        demos = [json.loads(line) for line in demo_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        dev_titles = {t for d in dev_tasks for t in d.get("supporting_titles", [])}
        pool = [t for t in train_tasks if not dev_titles & set(t.get("supporting_titles", []))]
        chosen = _balanced(pool, n_demos, scfg.seed + 1)
        log(f"building {len(chosen)} seed demonstrations with the real tools")
        async with open_web(cfg) as toolbox:
            if scfg.mode == "plan":  # whole-graph demonstrations: plan call, branches, write call
                demos, dropped = await build_demos(chosen, toolbox, build=lambda task, box: build_plan_demo(
                    task, box, prompts=prompts, max_subquestions=cfg.max_subquestions, focus_reading=focus))
            else:
                demos, dropped = await build_demos(chosen, toolbox, system=REACT_SYSTEM, answer_tool=ANSWER_TOOL,
                                                   user_text=react_user, focus_reading=focus,
                                                   demo_query=demo_query, demo_hop=demo_hop)
        demo_file.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in demos), encoding="utf-8")
        log(f"kept {len(demos)} demonstrations ({dict(dropped)} dropped)")
    all_train = train_tasks
    demo_ids = {d.get("question_id") for d in demos}
    train_tasks = [t for t in train_tasks if t.get("id") not in demo_ids] or train_tasks

    async with ResearchAgent(cfg, log=log) as agent, make_client(cfg, state.base_url, embedded=True) as client:
        async def run(task: dict, *, model: str, hint: str | None, temperature: float, seed: int,
                      exemplars: str | None) -> dict:
            result = await agent.research(task["question"], task=task, hint=hint, model=model, mode=cfg.mode,
                                          sampling={"temperature": temperature, "seed": seed, "exemplars": exemplars})
            return result.record

        async def train(records: list[dict], adapter: Path, *, steps: int, seed: int, extra: dict) -> dict:
            sft = SFTConfig(base_model=str(base_path), output_dir=str(adapter), max_steps=steps, seed=seed,
                            learning_rate=lr, iteration=extra.get("iteration"), extra=extra)
            data = adapter.with_name(adapter.name + ".train.jsonl")
            data.parent.mkdir(parents=True, exist_ok=True)
            data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
            # Training runs in a child process: its several GB are returned to the machine
            # when it ends, instead of staying in this long-lived process.
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_die_with_parent) as pool:
                job = asyncio.get_running_loop().run_in_executor(pool, _train_job, asdict(sft), str(data))
                if os.environ.get(FAULT_ENV) == f"{adapter.parent.name}/training":
                    await asyncio.sleep(5)  # the child is importing torch or training by now
                    _fault_point(f"{adapter.parent.name}/training")
                return await job

        async def load(name: str, path: Path) -> None:
            check_adapter(path)  # a clear error here, never a damaged adapter sent to the server
            try:
                await client.unload_lora_adapter(name)
            except EndpointError:
                pass  # not loaded yet
            await client.load_lora_adapter(name, str(path))

        deps = StarDeps(run=run, train=train, load_adapter=load, base_model=state.model,
                        base_model_hash=weights_sha256(base_path), progress=log,
                        on_stage=_fault_point, check_adapter=check_adapter,
                        research={"focus_reading": focus, "typed_answers": cfg.typed_answers,
                                  "answer_spans": research_setting(cfg, None, "answer_spans"),
                                  "subject_page_answers": research_setting(cfg, None, "subject_page_answers"),
                                  "max_steps": cfg.max_steps, "demo_query": demo_query, "demo_hop": demo_hop})
        loop = StarLoop(scfg, deps, system=REACT_SYSTEM, extra_evals=extra_evals)
        if baseline:
            direct = None
            if baseline == "direct":
                pool = loop.direct_tasks(all_train, demos)
                log(f"direct baseline: gold answers of the {len(pool)} tasks the STaR run learns from")
                direct = direct_records(pool, system=REACT_SYSTEM, answer_tool=ANSWER_TOOL,
                                        tools=agent.web_tools, user_text=react_user)
            result = await loop.baseline(baseline, dev_tasks, demos, direct)
            log(f"baseline {baseline}: dev EM {result['dev']['overall']['em']:.3f}")
        else:
            await loop.run(train_tasks, dev_tasks, demos)
        if test_tasks is not None:
            scored = await loop.final_test(test_tasks, demos)
            log(f"test split: chosen on dev {scored['chosen']['model']}, test EM "
                f"{scored['arms']['chosen']['summary']['overall']['em']:.3f}")
    report = write_report(out)
    typer.echo(report.read_text(encoding="utf-8"))


def _train_job(config: dict, records_path: str) -> dict:
    """Train one adapter (in a child process); progress goes to stderr."""

    from agent.commands._common import training_progress
    from reasoner.train import SFTConfig, load_records, train_sft

    result = train_sft(SFTConfig(**config), load_records(records_path),
                       progress=training_progress(f"    train {Path(config['output_dir']).name}"))
    return {"tokens_per_s": result.tokens_per_s, "final_loss": result.final_loss, "train_wall_s": result.wall_s}


def register(app: typer.Typer) -> None:
    app.command("star")(star)
