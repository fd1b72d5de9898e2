"""The STaR loop's stages with small fakes (no server, no training)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from evals.star import (
    StarConfig,
    StarDeps,
    StarLoop,
    direct_records,
    hint_smuggled,
    passes_filter,
    rebuild_dataset,
    steps_for,
    strip_hints,
    write_report,
)

URL = "http://wiki/Eiffel_Tower"
PAGE = "The Eiffel Tower was completed in 1889."


def record(answer="1889", gold=("1889",), supported=True, snippet=PAGE, url=URL, **kw):
    return {"id": kw.pop("id", "r"), "question": kw.pop("question", "When was it completed?"),
            "gold_answers": list(gold), "final_answer": answer,
            "citations": [{"n": 1, "url": url, "title": "t", "snippet": snippet, "supported": supported}],
            "snapshots": {url: PAGE}, "messages": kw.pop("messages", [
                {"role": "system", "content": "S"}, {"role": "user", "content": "Question: When?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "call_0", "type": "function", "function": {"name": "open", "arguments": f'{{"url":"{url}"}}'}}]},
                {"role": "tool", "tool_call_id": "call_0", "content": PAGE},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "answer", "arguments": '{"answer":"1889"}'}}]}]),
            "tools": [], **kw}


@pytest.mark.parametrize("rec, reason", [
    (record(), None),
    (record(answer="1890"), "wrong_answer"),
    (record(answer="The Eiffel Tower was completed in the year 1889 after two years of work by many"), "wrong_answer"),
    # the record's own flag is not trusted: the citation is re-checked on the run's pages
    (record(supported=True, snippet="The tower was finished by visitors from Mars in 1889."), "unsupported_citation"),
    (record(snippet="1889", snapshots={}), "unsupported_citation"),  # a page this run never fetched
    (record(answer="1889", citations=[]), "no_citation"),
    (record(answer="", error="boom"), "error"),
    (record(answer="Paris", gold=("Paris",), citations=[{"n": 1, "url": URL, "snippet": PAGE, "claim": "1889"}]),
     "answer_not_in_evidence"),
    # F1 0.86 would pass, but a when-question wants a date
    (record(answer="Eiffel Tower completed", gold=("Eiffel Tower completed in",)), "wrong_answer_type"),
])
def test_filter_rules(rec, reason):
    assert passes_filter(rec) == (reason is None, reason)


def test_f1_threshold_lets_a_near_answer_pass():
    rec = record(answer="Eiffel Tower 1889", gold=("The Eiffel Tower",), snippet=PAGE)
    rec["citations"][0]["claim"] = "Eiffel Tower"
    assert passes_filter(rec, f1_threshold=0.8)[0]  # F1 0.8 with gold "eiffel tower"
    assert not passes_filter(rec, f1_threshold=0.9)[0]


def test_hint_stripping_removes_exactly_the_hint():
    rec = record(messages=[{"role": "user", "content": "Question: When?\n(Hint: the answer is 1889. Find the page.)"}])
    assert strip_hints(rec)["messages"] == [{"role": "user", "content": "Question: When?"}]
    assert rec["messages"][0]["content"].endswith("page.)")  # the input is not mutated


def test_dataset_is_rebuilt_from_scratch_and_deduplicated():
    demo = record(id="d", answer="1889")
    a = record(id="a")
    a_again = record(id="a2")  # same question, answer and calls as `a`
    hinted = record(id="h", question="Other?", messages=[
        {"role": "system", "content": "S + exemplars"},
        {"role": "user", "content": "Question: Other?\n(Hint: the answer is 1889. x)"}])
    data = rebuild_dataset([demo], [a, a_again], [hinted], system="S")
    assert [d["origin"] for d in data] == ["demonstration", "rationalized"]  # a, a2 duplicate the demo
    assert data[1]["messages"] == [{"role": "system", "content": "S"}, {"role": "user", "content": "Question: Other?"}]
    assert data[1]["rationalized"] is True
    # nothing carried over: the next iteration's set depends only on its inputs
    assert rebuild_dataset([], [], []) == []


def test_step_schedule_grows_by_the_factor():
    cfg = StarConfig(out_dir="x", base_steps=40, step_growth=1.2)
    assert [steps_for(i, cfg) for i in (1, 2, 3)] == [40, 48, 58]


def test_config_validation_says_what_to_fix():
    with pytest.raises(ValueError, match="start must be 'seed' or 'fewshot'"):
        StarConfig(out_dir="x", start="magic")
    with pytest.raises(ValueError, match="step_growth must be >= 1"):
        StarConfig(out_dir="x", step_growth=0.5)


def test_direct_baseline_data_has_no_trajectory():
    tasks = [{"id": "t1", "question": "Q?", "answers": ["A"]}]
    tool = {"type": "function", "function": {"name": "answer", "parameters": {}}}
    (rec,) = direct_records(tasks, system="S", answer_tool=tool, tools=[], user_text=lambda q: f"Question: {q}")
    assert [m["role"] for m in rec["messages"]] == ["system", "user", "assistant"]
    assert json.loads(rec["messages"][2]["tool_calls"][0]["function"]["arguments"])["answer"] == "A"


class Fakes:
    """run: the seed adapter solves task t0 only; later adapters solve every task."""

    def __init__(self, fail_train_at: int | None = None):
        self.runs: list[tuple[str, str | None, str | None]] = []
        self.trained: list[tuple[str, int, int]] = []
        self.loaded: list[str] = []
        self.fail_train_at = fail_train_at

    async def run(self, task, *, model, hint, temperature, seed, exemplars):
        self.runs.append((task["id"], model, hint))
        good = hint is not None or task["id"] == "t0" or "iter" in model
        rec = record(id=f"{task['id']}-{len(self.runs)}", question=task["question"], gold=task["answers"],
                     answer=task["answers"][0] if good else "nope")
        rec["messages"][1]["content"] = f"Question: {task['question']}" + (f"\n(Hint: the answer is {hint}. x)" if hint else "")
        return rec

    async def train(self, records, adapter: Path, *, steps, seed, extra):
        if self.fail_train_at is not None and extra.get("iteration") == self.fail_train_at:
            self.fail_train_at = None
            raise KeyboardInterrupt("killed during training")
        adapter.mkdir(parents=True, exist_ok=True)
        (adapter / "adapter_config.json").write_text(json.dumps(extra))
        self.trained.append((adapter.parent.name, steps, len(records)))
        return {"final_loss": 1.0}

    async def load(self, name, path):
        self.loaded.append(name)


TRAIN = [{"id": f"t{i}", "question": f"When was thing {i} completed?", "answers": ["1889"], "kind": "single"}
         for i in range(3)]
DEV = [{"id": "d0", "question": "When was the tower completed?", "answers": ["1889"], "kind": "single"}]


def make_loop(tmp_path, fakes, **kw):
    cfg = StarConfig(out_dir=str(tmp_path / "star"), iterations=2, samples_per_task=1, base_steps=10,
                     seed_steps=5, noise_seeds=2, concurrency=2, **kw)
    deps = StarDeps(run=fakes.run, train=fakes.train, load_adapter=fakes.load, base_model="base",
                    base_model_hash="abc", progress=lambda m: None)
    return StarLoop(cfg, deps, system="S")


async def test_the_whole_loop_with_fakes(tmp_path):
    fakes = Fakes()
    demos = [record(id="demo", question="Demo?")]
    metrics = await make_loop(tmp_path, fakes, patience=5).run(TRAIN, DEV, demos)
    it1, it2 = metrics["iterations"]
    assert it1["train_solve_rate"] == pytest.approx(1 / 3)  # the seed adapter solves t0
    assert it1["rationalized"] == 2 and it1["rationalization_rate"] == 1.0
    assert it1["dataset_size"] == 4  # demo + t0 + 2 rationalized
    assert it2["train_solve_rate"] == 1.0 and it2["rationalized"] == 0
    # training restarts from the base each iteration, steps growing 10 -> 12
    assert [(name, steps) for name, steps, _ in fakes.trained] == [("seed", 5), ("seed", 5), ("iter_1", 10), ("iter_2", 12)]
    assert fakes.loaded == ["star-seed-s0", "star-seed-s1", "star-iter1", "star-iter2"]
    # rollouts of iteration 2 use iteration 1's adapter; dev evals are greedy runs of each model
    assert {m for t, m, h in fakes.runs if t.startswith("t")} == {"star-seed-s0", "star-iter1"}
    out = tmp_path / "star"
    for path in ("config.json", "metrics.json", "seed/dataset.jsonl", "iter_1/rollouts.jsonl", "iter_1/kept.jsonl",
                 "iter_1/rationalized.jsonl", "iter_1/dataset.jsonl", "iter_1/eval/summary.json", "iter_2/metrics.json"):
        assert (out / path).exists(), path
    meta = json.loads((out / "iter_1/dataset.meta.json").read_text())
    assert meta["iteration"] == 1 and meta["base_model_hash"] == "abc" and meta["config"]["seed"] == 0
    assert meta["origins"] == {"demonstration": 1, "rollout": 1, "rationalized": 2}
    saved = [json.loads(line) for line in (out / "iter_1/dataset.jsonl").read_text().splitlines()]
    assert not any("Hint" in m.get("content", "") for r in saved for m in r["messages"])
    report = write_report(out).read_text()
    assert "iteration 0 (seed adapter, training seed 0)" in report and "Iteration-0 noise" in report
    assert (out / "plot.png").stat().st_size > 1000


async def test_resume_after_a_kill_between_stages_redoes_nothing_finished(tmp_path):
    fakes = Fakes(fail_train_at=1)
    loop = make_loop(tmp_path, fakes, patience=5)
    with pytest.raises(KeyboardInterrupt):
        await loop.run(TRAIN, DEV, [record(id="demo", question="Demo?")])
    runs_before = list(fakes.runs)
    assert [name for name, *_ in fakes.trained] == ["seed", "seed"]
    await make_loop(tmp_path, fakes, patience=5).run(TRAIN, DEV, [record(id="demo", question="Demo?")])
    new_runs = fakes.runs[len(runs_before):]
    # the seed stage and iteration 1's rollouts and rationalization were not run again
    assert [n for n, *_ in fakes.trained] == ["seed", "seed", "iter_1", "iter_2"]
    assert not [r for r in new_runs if r[1] == "star-seed-s0" and r[0].startswith("t")]
    assert not [r for r in new_runs if r[2] is not None and r[1] == "star-seed-s0"]


async def test_early_stop_when_dev_em_does_not_improve(tmp_path):
    fakes = Fakes()

    async def never_better(task, **kw):
        return record(answer="wrong", question=task["question"], gold=task["answers"])

    fakes.run = never_better
    loop = make_loop(tmp_path, fakes, patience=1)
    metrics = await loop.run(TRAIN, DEV, [record(id="demo", question="Demo?")])
    assert metrics["early_stopped_at"] == 1 and len(metrics["iterations"]) == 1


def test_direct_baseline_learns_exactly_the_tasks_the_star_run_learns_from(tmp_path):
    train = [{"id": f"t{i}", "question": f"Q{i}?", "answers": ["A"]} for i in range(30)]
    demos = [record(id="demo-a", question="Q0?") | {"question_id": "t0"},
             record(id="demo-b", question="Q1?") | {"question_id": "t1"}]
    loop = make_loop(tmp_path, Fakes(), train_sample=4)
    pool_ids = {t["id"] for t in loop.direct_tasks(train, demos)}
    rollout_pool = [t for t in train if t["id"] not in {"t0", "t1"}]
    sampled = {t["id"] for i in (1, 2) for t in loop.iteration_tasks(i, rollout_pool)}
    assert pool_ids == {"t0", "t1"} | sampled
    assert 2 + 4 < len(pool_ids) <= 2 + 8  # two iterations' samples differ
    # the iteration draws the same sample it reports (fixed by seed and iteration)
    assert loop.iteration_tasks(1, rollout_pool) == loop.iteration_tasks(1, rollout_pool)


async def test_a_resumed_run_keeps_stage_times_and_decides_early_stop_afresh(tmp_path):
    fakes = Fakes()

    async def never_better(task, **kw):
        await asyncio.sleep(0.01)
        return record(answer="wrong", question=task["question"], gold=task["answers"])

    fakes.run = never_better
    demos = [record(id="demo", question="Demo?")]
    first = await make_loop(tmp_path, fakes, patience=1).run(TRAIN, DEV, demos)
    assert first["early_stopped_at"] == 1
    spent = first["iterations"][0]["timings"]["rollout_s"]
    assert spent >= 0.01
    again = await make_loop(tmp_path, fakes, patience=2).run(TRAIN, DEV, demos)
    assert "early_stopped_at" not in again and len(again["iterations"]) == 2
    # iteration 1 was resumed from its artifacts: its stage times are what it cost, not ~0
    assert again["iterations"][0]["timings"]["rollout_s"] >= spent


async def test_an_iteration_from_before_stage_times_were_kept_keeps_its_recorded_times(tmp_path):
    fakes = Fakes()
    demos = [record(id="demo", question="Demo?")]
    await make_loop(tmp_path, fakes, patience=5).run(TRAIN, DEV, demos)
    it1 = tmp_path / "star" / "iter_1"
    # as an older deepstar wrote them: times in the iteration's metrics, none in stages.json
    stages = json.loads((it1 / "stages.json").read_text())
    del stages["wall_s"]
    (it1 / "stages.json").write_text(json.dumps(stages))
    old = json.loads((it1 / "metrics.json").read_text())
    old["timings"] = {"rollout_s": 406.0, "rationalize_s": 323.0, "train_s": 2693.0, "eval_s": 782.0}
    (it1 / "metrics.json").write_text(json.dumps(old))
    again = await make_loop(tmp_path, fakes, patience=5).run(TRAIN, DEV, demos)
    times = again["iterations"][0]["timings"]
    assert times["rollout_s"] >= 406.0 and times["train_s"] >= 2693.0 and times["eval_s"] >= 782.0
    report = write_report(tmp_path / "star").read_text()
    assert "rollout 406" in report and "train 2693" in report


def test_the_report_says_when_an_iteration_has_no_stage_times(tmp_path):
    out = tmp_path / "star"
    out.mkdir()
    dev = {"overall": {"em": 0.1, "f1": 0.1, "citation_support": 0.5}, "by_kind": {}}
    it = {"iteration": 1, "model": "m", "train_tasks": 2, "train_solve_rate": 0.5, "rationalization_rate": 0.0,
          "kept": 1, "rationalized": 0, "dataset_size": 1, "steps": 1, "rejected": {}, "rollout_tokens": 9,
          "timings": {"rollout_s": 0.004, "rationalize_s": 0.003, "train_s": 0.02, "eval_s": 0.001}, "dev": dev}
    (out / "metrics.json").write_text(json.dumps({"config": {}, "iterations": [it]}))
    report = write_report(out).read_text()
    assert "wall s: not recorded" in report and "rollout 0," not in report


def _calls(*turns):
    """messages from (name, arguments) calls and observation strings."""
    out, n = [{"role": "user", "content": "Question: When was the Eiffel Tower completed?"}], 0
    for turn in turns:
        if isinstance(turn, str):
            out.append({"role": "tool", "tool_call_id": f"call_{n - 1}", "content": turn})
        else:
            out.append({"role": "assistant", "content": "", "tool_calls": [
                {"id": f"call_{n}", "type": "function", "function": {"name": turn[0], "arguments": json.dumps(turn[1])}}]})
            n += 1
    return out


def test_a_rationalization_that_smuggles_the_hint_is_dropped():
    # the model searched for the answer it was told before any page showed it
    smuggled = record(messages=_calls(("search", {"query": "Eiffel Tower 1889"}), "[1] Eiffel Tower ...",
                                      ("open", {"url": URL}), PAGE, ("answer", {"answer": "1889", "url": URL})))
    assert passes_filter(smuggled) == (True, None)  # a plain rollout may guess a query
    assert passes_filter(smuggled, rationalized=True) == (False, "hint_smuggled")
    assert passes_filter({**smuggled, "rationalized": True}) == (False, "hint_smuggled")
    # the same answer written after the page showed it is honest
    honest = record(messages=_calls(("search", {"query": "Eiffel Tower"}), "[1] Eiffel Tower ...",
                                    ("open", {"url": URL}), PAGE, ("answer", {"answer": "1889", "url": URL})))
    assert passes_filter(honest, rationalized=True) == (True, None)
    # a `find` pattern or quote written from the hint is smuggling too
    found = record(messages=_calls(("open", {"url": URL}), "The tower is in Paris.",
                                   ("find", {"url": URL, "pattern": "1889"}), PAGE,
                                   ("answer", {"answer": "1889", "url": URL})))
    assert hint_smuggled(found, ["1889"])
    # ... unless the question itself contains the answer
    assert not hint_smuggled({**found, "question": "Was it completed in 1889 or 1890?"}, ["1889"])


def test_a_comparison_needs_both_compared_facts_from_its_own_pages():
    task = {"id": "c", "kind": "comparison", "answers": ["Ada Lovelace"], "options": ["Ada Lovelace", "Alan Turing"],
            "evidence": [{"title": "Ada Lovelace", "text": "born in 1815"}, {"title": "Alan Turing", "text": "born in 1912"}]}
    ada = "Ada Lovelace was born in 1815 in London."
    rec = record(answer="Ada Lovelace", gold=("Ada Lovelace",), question="Who was born first, Ada Lovelace or Alan Turing?",
                 url="http://wiki/Ada", snippet=ada, snapshots={"http://wiki/Ada": ada}, kind="comparison")
    assert passes_filter(rec, task=task) == (False, "answer_not_in_evidence")  # the winner's page alone
    both = {**rec, "snapshots": {"http://wiki/Ada": ada, "http://wiki/Turing": "Alan Turing was born in 1912."}}
    assert passes_filter(both, task=task) == (True, None)


async def test_a_stage_whose_runs_mostly_raise_stops_the_loop(tmp_path):
    from evals.errors import StageFailed

    class Broken(Fakes):
        async def run(self, task, **kw):
            raise RuntimeError("model 'star-seed-s0' not found")

    fakes = Broken()
    with pytest.raises(StageFailed, match="3 of 3 runs raised .*not found"):
        loop = make_loop(tmp_path, fakes, patience=5)
        await loop._rollouts(tmp_path / "iter_1" / "rollouts.jsonl", [(t, {}) for t in TRAIN])
    # a single flaky run among many is a failed sample, not a failed stage
    flaky = Fakes()
    calls = {"n": 0}

    async def sometimes(task, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("connection reset")
        return await flaky.run(task, model="star-iter1", hint=None, temperature=0.7, seed=0, exemplars=None)

    loop = make_loop(tmp_path / "b", flaky)
    loop.deps.run = sometimes
    many = [(t, {}) for t in TRAIN * 3]
    out = await loop._rollouts(tmp_path / "b" / "rollouts.jsonl", many)
    assert sum(1 for r in out if r.get("_raised")) == 1 and len(out) == 9


def test_deepstar_star_refuses_an_endpoint_other_than_the_one_it_loads_adapters_into(tmp_path):
    import os
    import subprocess
    import sys
    import time

    for name in ("train.jsonl", "dev.jsonl"):
        (tmp_path / name).write_text(json.dumps(TRAIN[0]) + "\n")
    env = {**os.environ, "DEEPSTAR_HOME": str(tmp_path / "home"), "DEEPSTAR_BASE_URL": "http://127.0.0.1:9/v1"}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "agent", "star", "--train", str(tmp_path / "train.jsonl"),
                           "--dev", str(tmp_path / "dev.jsonl"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    message = proc.stderr.strip()
    assert "http://127.0.0.1:9/v1" in message and "unset it" in message and "embedded server" in message
    assert len([line for line in message.splitlines() if line.strip()]) <= 2  # one clear message (may wrap)
    assert not (tmp_path / "out").exists() and time.monotonic() - t0 < 60  # refused before starting anything


DEV30 = [{"id": f"d{i}", "question": f"When was tower {i} completed?", "answers": ["1889"],
          "kind": "single" if i % 2 else "bridge"} for i in range(30)]
HUMAN = [{"id": f"h{i}", "question": f"In which year was monument {i} finished?", "answers": ["1889"],
          "kind": "comparison" if i % 3 == 0 else "single"} for i in range(12)]
TEST = [{"id": f"x{i}", "question": f"When was bridge {i} completed?", "answers": ["1889"], "kind": "single"}
        for i in range(10)]


async def test_extra_eval_sets_are_scored_beside_dev_and_never_trained_on(tmp_path):
    fakes = Fakes()
    seen: list[tuple[str, float, str | None]] = []
    inner = fakes.run

    async def run(task, **kw):
        seen.append((task["id"], kw["temperature"], kw["hint"]))
        return await inner(task, **kw)

    fakes.run = run
    loop = make_loop(tmp_path, fakes, patience=5)
    loop.extra_evals = {"human": HUMAN}
    await loop.run(TRAIN, DEV30, [record(id="demo", question="Demo?")])
    out = tmp_path / "star"
    for stage in ("seed/s0", "seed/s1", "iter_1", "iter_2"):
        assert len((out / stage / "eval_human" / "results.jsonl").read_text().splitlines()) == len(HUMAN)
    human_runs = [s for s in seen if s[0].startswith("h")]
    assert human_runs and all(t == 0.0 and h is None for _, t, h in human_runs)  # greedy evals only
    for stage in ("iter_1", "iter_2"):
        data = (out / stage / "dataset.jsonl").read_text()
        assert "monument" not in data and all(h["id"] not in (out / stage / "rollouts.jsonl").read_text()
                                                for h in HUMAN)

    report = write_report(out).read_text()
    # the seed adapter solves no dev task, the iterations all of them: a gain whose interval excludes 0
    dev = report.split("## dev: paired bootstrap 95% intervals")[1].split("##")[0]
    row = next(line for line in dev.splitlines() if line.startswith("| iteration 1 |"))
    assert "| 30 | 1.000 |" in row and "+1.000 [+1.000, +1.000] **" in row
    seed_row = next(line for line in dev.splitlines() if line.startswith("| seed adapter s0 |"))
    assert "+0.000 [+0.000, +0.000] |" in seed_row and "**" not in seed_row
    assert "## human: paired bootstrap 95% intervals" in report and "human by kind (EM / success):" in report
    assert "| comparison | single |" in report


async def test_the_test_split_is_scored_once_for_the_model_chosen_on_dev(tmp_path):
    from evals.errors import StarError

    fakes = Fakes()
    loop = make_loop(tmp_path, fakes, patience=5)
    with pytest.raises(StarError, match="run the loop"):
        await loop.final_test(TEST)
    await loop.run(TRAIN, DEV30, [record(id="demo", question="Demo?")])
    best = loop.best_iteration()
    assert best["iteration"] == 1 and best["model"] == "star-iter1"  # iteration 2 only ties: the earlier wins
    scored = await loop.final_test(TEST)
    assert scored["chosen"]["model"] == "star-iter1" and set(scored["arms"]) == {"chosen", "seed"}
    assert scored["arms"]["chosen"]["summary"]["overall"]["em"] == 1.0
    assert scored["arms"]["seed"]["summary"]["overall"]["em"] == 0.0
    assert fakes.loaded[-2:] == ["star-iter1", "star-seed-s0"]
    runs = len(fakes.runs)
    await loop.final_test(TEST)  # read back, not run again
    assert len(fakes.runs) == runs
    # a run that would now choose another model refuses to score test a second time
    metrics = json.loads((tmp_path / "star" / "metrics.json").read_text())
    metrics["iterations"][1]["dev"]["overall"]["em"] = 2.0
    (tmp_path / "star" / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(StarError, match="scored once"):
        await loop.final_test(TEST)
    report = write_report(tmp_path / "star").read_text()
    assert "## test split (scored once, at the end)" in report and "| chosen (`star-iter1`) | 10 | 1.000 |" in report


def test_balanced_dataset_caps_the_model_s_own_records_per_kind():
    def own(i, kind):
        return record(id=f"{kind}{i}", question=f"{kind} question {i}?", answer="1889") | {"kind": kind}

    demos = [own(i, "single") | {"question": f"demo {i}?"} for i in range(5)]
    kept = [own(i, "single") for i in range(6)] + [own(i, "bridge") for i in range(2)]
    hinted = [own(i, "comparison") for i in range(3)] + [own(8, "bridge"), own(9, "bridge")]
    data = rebuild_dataset(demos, kept, hinted, system="S", balance_kinds=True, seed=1)
    count = Counter((d["origin"], d["kind"]) for d in data)
    # the model's own records: single 6, bridge 4, comparison 3: each kind is capped at 3
    assert count[("demonstration", "single")] == 5  # demonstrations are never capped
    assert count[("rollout", "single")] == 3 and count[("rationalized", "comparison")] == 3
    # bridge: its 2 kept records come before its 2 rationalized ones, of which one is left
    assert count[("rollout", "bridge")] == 2 and count[("rationalized", "bridge")] == 1
    unbalanced = rebuild_dataset(demos, kept, hinted, system="S")
    assert Counter(d["kind"] for d in unbalanced)["single"] == 11
    # the choice is fixed by the seed
    assert data == rebuild_dataset(demos, kept, hinted, system="S", balance_kinds=True, seed=1)
