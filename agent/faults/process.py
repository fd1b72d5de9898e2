"""Process faults: deepstar's own processes, its model server and its files under attack.

Each scenario drives the real `deepstar` CLI in subprocesses (`python -m agent ...`)
against a real vLLM server and real SQLite, injects one fault, lets deepstar run (or
resume) through it, and counts from the store what survived:

  vllm_killed          the model server's process group is SIGKILLed mid-run; the run
                       ends `interrupted` with a clear error, steps kept; the server is
                       started again and `deepstar runs resume` completes the run
  research_sigint      Ctrl-C (SIGINT) mid-run: the process stops, the run is
                       `interrupted`; resume completes it
  research_sigkill     kill -9 mid-run: resume completes it
  star_stage_kills     `deepstar star` SIGKILLed in each stage of an iteration (rollout,
                       filter, training, adapter load, eval) and rerun each time: it resumes
                       at the interrupted stage; then a truncated adapter is found and retrained
  concurrent_research  two `deepstar research` processes write one workspace at once
  research_beside_eval `deepstar research` and `deepstar eval` write one workspace at once
  corrupted_inputs     a task file with a broken line, a damaged or missing LangGraph
                       checkpoint, a store from an older schema, from a newer one, and a
                       store that is not a database: clear errors or migrations

`steps_lost` counts steps committed to the store before a fault that are missing (or
changed) afterwards. Scenarios that need the model take it from `ctx.base_url` (the
STaR one from `ctx.server_home`, whose embedded server `deepstar star` uses);
`vllm_killed` starts and stops a server of its own in a scratch workspace.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.faults.base import FaultContext, ScenarioResult

__all__ = [
    "SCENARIOS",
    "concurrent_research",
    "corrupted_inputs",
    "research_beside_eval",
    "research_sigint",
    "research_sigkill",
    "star_stage_kills",
    "vllm_killed",
]

REPO = Path(__file__).resolve().parents[2]
QUESTION = "In what year was the Eiffel Tower completed?"
QUESTIONS = [QUESTION, "Who designed the Statue of Liberty?", "What is the capital of Australia?"]
STOP_BOUND_S = 10.0  # "stops within a few seconds" after SIGINT


# --- helpers: the CLI, the store ----------------------------------------------------------------
def _env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a deepstar subprocess: this one's, without DEEPSTAR_* settings
    (the scenario's workspace and its config file decide), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPSTAR_")}
    env["DEEPSTAR_HOME"] = str(home)
    return {**env, **(extra or {})}


def _popen(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A deepstar process in the background; its output goes to unnamed temporary files
    (a pipe nobody reads while it runs could fill and stall it). Read them with `_finish`."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    # A shell without job control starts background jobs with SIGINT ignored, and an
    # ignored signal stays ignored across exec (seen when CI itself ran in the
    # background): the child gets SIGINT's default back, as a terminal user's process has.
    proc = subprocess.Popen([sys.executable, "-m", "agent", *args], cwd=REPO, env=_env(home, env),
                            stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    proc.outputs = (out, err)  # type: ignore[attr-defined]
    return proc


def _run(home: Path, *args: str, timeout: float = 900, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=REPO, env=_env(home, env),
                          capture_output=True, text=True, timeout=timeout)


def _clean_error(proc: subprocess.CompletedProcess | None, stderr: str | None = None) -> bool:
    """A user-facing failure: non-zero exit, one `deepstar: error:` line, no traceback."""
    text = stderr if stderr is not None else (proc.stderr if proc else "")
    return "Traceback" not in text and "deepstar: error:" in text


def _model_home(ctx: FaultContext, name: str, **settings: Any) -> Path:
    """A scratch workspace whose config points at the scenario's model server."""
    if not ctx.base_url:
        raise ValueError(f"scenario {name} needs a running model server (FaultContext.base_url)")
    from agent.runtime import BUNDLED_NAME

    home = ctx.home / name
    home.mkdir(parents=True, exist_ok=True)
    model = ctx.model or BUNDLED_NAME
    values: dict[str, Any] = {
        "base_url": ctx.base_url, "model": model,
        # the bundled base model speaks deepstar's protocol; a vLLM-CPU server cannot take
        # per-request seeds (its sampler crashes on seeded chunked prefill)
        "protocol": "deepstar" if model == BUNDLED_NAME else "native", "seed": "none",
        "max_steps": 6, **settings,
    }
    (home / "config.toml").write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()),
                                      encoding="utf-8")
    return home


def _db(home: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(home / "deepstar.db"), timeout=30)
    db.row_factory = sqlite3.Row
    return db


def _steps(home: Path, run_ids: list[str] | None = None) -> dict[int, tuple]:
    """step id -> (run, seq, output) of the given runs (all runs when None)."""
    if not (home / "deepstar.db").exists():
        return {}
    db = _db(home)
    try:
        if run_ids is None:
            rows = db.execute("SELECT id, run_id, seq, output FROM steps").fetchall()
        else:
            rows = [r for run_id in run_ids for r in
                    db.execute("SELECT id, run_id, seq, output FROM steps WHERE run_id = ?", (run_id,)).fetchall()]
    except sqlite3.OperationalError:  # no tables yet
        return {}
    finally:
        db.close()
    return {r["id"]: (r["run_id"], r["seq"], r["output"]) for r in rows}


def _lost(before: dict[int, tuple], after: dict[int, tuple]) -> int:
    return sum(1 for step_id, row in before.items() if after.get(step_id) != row)


def _run_row(home: Path, run_id: str) -> dict[str, Any]:
    db = _db(home)
    try:
        row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    finally:
        db.close()
    return dict(row) if row else {}


def _run_ids(home: Path) -> list[str]:
    """The workspace's runs, newest first ([] before the store or its tables exist)."""
    if not (home / "deepstar.db").exists():
        return []
    db = _db(home)
    try:
        return [r["id"] for r in db.execute("SELECT id FROM runs ORDER BY created_at DESC").fetchall()]
    except sqlite3.OperationalError:  # no tables yet
        return []
    finally:
        db.close()


def _newest_run(home: Path, exclude: set[str] = frozenset()) -> str | None:  # type: ignore[assignment]
    return next((run_id for run_id in _run_ids(home) if run_id not in exclude), None)


def _wait_for_steps(home: Path, proc: subprocess.Popen, n: int, *, timeout: float = 600) -> str | None:
    """The run id once the newest run has `n` committed steps (None if the process ended first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        run_id = _newest_run(home)
        if run_id and len(_steps(home, [run_id])) >= n:
            return run_id
        time.sleep(0.2)
    return None


class _Gate:
    """A loopback proxy in front of the model server that lets the first `passes` generation
    requests through and holds every later one until `open()` (other requests pass).

    Scenarios that need runs to overlap in time, or a run to be still going when it is
    signalled, get that by construction instead of by the luck of process start-up times
    (a plan-mode run can end in 6 s; a `deepstar` process under load takes 10 s to start):
    a run cannot finish while its next model call is held."""

    def __init__(self, upstream: str, passes: int = 0) -> None:
        import http.server
        import threading

        import httpx

        from reasoner.endpoint import sync_client

        self._upstream = upstream.rstrip("/")
        self._passes = passes
        self._opened = threading.Event()
        self._lock = threading.Lock()
        self.held = 0  # generation requests that had to wait
        gate = self
        client = sync_client(self._upstream, timeout=600)  # the local server: never through a proxy

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "POST" and self.path.rstrip("/").endswith("completions"):
                    gate._wait_turn()
                path = self.path
                if gate._upstream.endswith("/v1") and path.startswith("/v1/"):
                    path = path[3:]
                try:
                    reply = client.request(self.command, gate._upstream + path, content=body,
                                           headers={k: v for k, v in self.headers.items()
                                                    if k.lower() in ("content-type", "authorization")})
                    self.send_response(reply.status_code)
                    self.send_header("Content-Type", reply.headers.get("content-type", "application/json"))
                    self.send_header("Content-Length", str(len(reply.content)))
                    self.end_headers()
                    self.wfile.write(reply.content)
                except (OSError, httpx.HTTPError):
                    # the caller was killed while held (what the signal scenarios do), or the
                    # model server is gone: the connection closes without a reply, which is
                    # what a client of a dead server sees
                    self.close_connection = True

            do_GET = do_POST = _forward

            def log_message(self, *args: Any) -> None:
                """Quiet: the scenarios report what matters, not every proxied request."""

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._client = client
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _wait_turn(self) -> None:
        with self._lock:
            if self._passes > 0:
                self._passes -= 1
                return
            if not self._opened.is_set():
                self.held += 1
        self._opened.wait(timeout=900)

    def open(self) -> None:
        self._opened.set()

    def __enter__(self) -> _Gate:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.open()
        self._server.shutdown()
        self._server.server_close()
        self._client.close()


def _wait_for_runs(home: Path, n: int, procs: list[subprocess.Popen], *, timeout: float = 300) -> bool:
    """Whether the workspace holds `n` runs before the timeout or before a process ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(p.poll() is None for p in procs):
        if len(_run_ids(home)) >= n:
            return True
        time.sleep(0.2)
    return False


def _outputs(proc: subprocess.Popen) -> tuple[str, str]:
    texts = []
    for f in proc.outputs:  # type: ignore[attr-defined]
        f.seek(0)
        texts.append(f.read().decode("utf-8", errors="replace"))
        f.close()
    return texts[0], texts[1]


def _finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int | None, str]:
    """(exit code, stderr) once the process ends; None when it had to be killed after `timeout`."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None, _outputs(proc)[1]
    return proc.returncode, _outputs(proc)[1]


def _communicate(proc: subprocess.Popen, timeout: float = 1200) -> tuple[str, str]:
    """(stdout, stderr) once the process ends (killed after `timeout`)."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return _outputs(proc)


def _finished(home: Path, run_id: str) -> bool:
    """The run ran to its end (an answer, or a recorded failure), with a trajectory saved."""
    db = _db(home)
    try:
        row = db.execute("SELECT r.status, (SELECT COUNT(*) FROM trajectories t WHERE t.run_id = r.id) AS n "
                         "FROM runs r WHERE r.id = ?", (run_id,)).fetchone()
    finally:
        db.close()
    return bool(row) and row["status"] in ("done", "failed") and row["n"] == 1


def _resume(home: Path, run_id: str, before: dict[int, tuple], result: ScenarioResult, problems: list[str],
            *, done: str) -> ScenarioResult:
    """`deepstar runs resume ID` after the fault: counts the steps lost, checks that it ran
    the run to its end as a second attempt, and completes `result`."""
    resumed = _run(home, "runs", "resume", run_id, "--json", timeout=900)
    after = _steps(home, [run_id])
    result.steps_lost += _lost(before, after)
    row = _run_row(home, run_id)
    result.extra.update({"resume_exit_code": resumed.returncode, "status_after_resume": row.get("status"),
                         "attempts": row.get("attempts"), "steps_after": len(after)})
    if not _finished(home, run_id) or row.get("attempts") != 2 or "Traceback" in resumed.stderr:
        problems.append(f"resume did not finish the run: exit {resumed.returncode}, status "
                        f"{row.get('status')!r}: {resumed.stderr[-500:]}")
    if not problems:
        result.completed += 1
    result.detail = "; ".join(problems) or f"{done}; resumed to {row.get('status')} ({len(before)} -> {len(after)} steps)"
    return result


async def _threaded(fn: Callable[[FaultContext], ScenarioResult], ctx: FaultContext) -> ScenarioResult:
    return await asyncio.to_thread(fn, ctx)


# --- research: killed, interrupted -----------------------------------------------------------------
def _kill_research(ctx: FaultContext, sig: signal.Signals, name: str) -> ScenarioResult:
    result = ScenarioResult(name, f"{sig.name} to `deepstar research` after its first committed steps; "
                                  "then `deepstar runs resume`")
    result.runs = 1
    # the plan call goes through; the next model call waits at the gate, so the run is
    # still going when the signal comes however fast the model answers
    with _Gate(ctx.base_url or "", passes=1) as gate:
        # 3 model calls: the signal comes after the first, and the resume has little left to do
        home = _model_home(ctx, name, base_url=gate.url, max_steps=3)
        proc = _popen(home, "research", QUESTION, "--mode", "plan", "--json")
        run_id = _wait_for_steps(home, proc, 1)
        if run_id is None:
            code, err = _finish(proc)
            result.detail = f"the run ended before its first step was committed (exit {code}): {err[-500:]}"
            return result
        before = _steps(home, [run_id])
        t0 = time.monotonic()
        os.kill(proc.pid, sig)
        code, err = _finish(proc, timeout=60)
        stop_s = time.monotonic() - t0
        row = _run_row(home, run_id)
        expected_status = "running" if sig == signal.SIGKILL else "interrupted"
        result.extra.update({"run_id": run_id, "exit_code": code, "stop_s": round(stop_s, 2),
                             "status_after_signal": row.get("status"), "steps_before": len(before)})
        problems = []
        if row.get("status") != expected_status:
            problems.append(f"status {row.get('status')!r} after {sig.name}, expected {expected_status!r}")
        if sig == signal.SIGINT:
            if code != 130 or "Traceback" in err:
                problems.append(f"exit {code} after SIGINT (expected 130, no traceback): {err[-300:]}")
            if stop_s > STOP_BOUND_S:
                problems.append(f"took {stop_s:.1f} s to stop after SIGINT (bound {STOP_BOUND_S:.0f} s)")
        gate.open()
        return _resume(home, run_id, before, result, problems,
                       done=f"stopped {stop_s:.1f} s after {sig.name}, status {result.extra['status_after_signal']}")


async def research_sigint(ctx: FaultContext) -> ScenarioResult:
    return await _threaded(lambda c: _kill_research(c, signal.SIGINT, "research_sigint"), ctx)


async def research_sigkill(ctx: FaultContext) -> ScenarioResult:
    return await _threaded(lambda c: _kill_research(c, signal.SIGKILL, "research_sigkill"), ctx)


# --- the model server killed mid-run ------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _vllm_killed(ctx: FaultContext) -> ScenarioResult:
    from reasoner.prepare import BUNDLED_MODEL_DIRNAME, read_prepared
    from reasoner.server import read_state

    if ctx.server_home is None or not read_prepared(ctx.server_home / "models" / BUNDLED_MODEL_DIRNAME):
        raise ValueError("vllm_killed needs a prepared bundled model under FaultContext.server_home/models")
    home = ctx.home / "vllm_killed"
    (home / "models").mkdir(parents=True, exist_ok=True)
    link = home / "models" / BUNDLED_MODEL_DIRNAME
    if not link.exists():
        link.symlink_to((ctx.server_home / "models" / BUNDLED_MODEL_DIRNAME).resolve(), target_is_directory=True)
    port = _free_port()
    # a small KV cache: this second server shares the machine with the main one
    server_env = {"VLLM_CPU_KVCACHE_SPACE": "1"}
    result = ScenarioResult("vllm_killed", "SIGKILL to the vLLM server's process group mid-run; "
                                           "server started again; `deepstar runs resume`")
    try:
        ctx.log(f"  vllm_killed: starting a vLLM server of its own on port {port}")
        started = _run(home, "serve", "--port", str(port), env=server_env, timeout=1200)
        if started.returncode != 0:
            raise RuntimeError(f"`deepstar serve` failed: {started.stderr[-1500:]}")
        for attempt in range(3):
            proc = _popen(home, "research", QUESTIONS[attempt], "--mode", "plan", "--max-steps", "4", "--json")
            run_id = _wait_for_steps(home, proc, 2)
            if run_id is None:
                _finish(proc)
                continue
            state = read_state(home / "server.json")
            assert state is not None
            os.killpg(os.getpgid(state.pid), signal.SIGKILL)
            t0 = time.monotonic()
            code, err = _finish(proc, timeout=600)
            fail_s = time.monotonic() - t0
            before = _steps(home, [run_id])
            row = _run_row(home, run_id)
            result.runs += 1
            problems = []
            if code in (None, 0):
                problems.append(f"the run did not fail after the server died (exit {code})")
            if row.get("status") != "interrupted":
                problems.append(f"status {row.get('status')!r} after the server died, expected 'interrupted'")
            if not _clean_error(None, err) or "cannot reach the model endpoint" not in err \
                    or f"deepstar runs resume {run_id}" not in err:
                problems.append(f"the error does not say what happened and how to go on: {err[-600:]}")
            error_line = next((line for line in err.splitlines() if line.startswith("deepstar: error:")), "")
            result.extra.update({"run_id": run_id, "exit_code": code, "fail_s": round(fail_s, 2),
                                 "status_after_kill": row.get("status"), "error": error_line[:400],
                                 "steps_before": len(before)})
            ctx.log(f"  vllm_killed: run {run_id} ended {fail_s:.1f} s after the kill; starting the server again")
            restarted = _run(home, "serve", "--port", str(port), env=server_env, timeout=1200)
            if restarted.returncode != 0:
                raise RuntimeError(f"`deepstar serve` (restart) failed: {restarted.stderr[-1500:]}")
            return _resume(home, run_id, before, result, problems,
                           done=f"run failed {fail_s:.1f} s after the kill with a clear error")
        result.runs, result.detail = 1, "every run finished before the server could be killed"
        return result
    finally:
        _run(home, "serve", "--stop", timeout=120)


async def vllm_killed(ctx: FaultContext) -> ScenarioResult:
    return await _threaded(_vllm_killed, ctx)


# --- STaR killed in each stage ---------------------------------------------------------------------------
STAR_ARGS = ["--train-limit", "2", "--dev-limit", "1", "--seed-demos", "2", "--samples", "1", "--iterations", "1",
             "--seed-steps", "1", "--base-steps", "1", "--noise-seeds", "1", "--max-steps", "3",
             "--concurrency", "2", "--balance-kinds"]
# where `deepstar star` is killed, in the order a run reaches them
STAR_POINTS = ["iter_1/rollout", "iter_1/filter", "iter_1/training", "iter_1/load", "iter_1/eval"]


def _children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def _stage_key(point: str) -> str:
    """The stages.json key a kill point's stage is marked done under."""
    stage = point.split("/")[1]
    return {"training": "train:adapter", "train": "train:adapter", "load": "load:adapter"}.get(stage, stage)


def _star_run_ids(out: Path) -> list[str]:
    ids = []
    for path in [*out.glob("iter_*/*.jsonl"), *out.glob("**/eval/results.jsonl")]:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            for key in ("id", "trajectory_id"):
                if isinstance(row.get(key), str) and row.get("_task_id", row.get("task_id")) is not None:
                    ids.append(row[key])
    return sorted(set(ids))


def _star(ctx: FaultContext) -> ScenarioResult:
    from agent.commands.star import FAULT_ENV

    if ctx.server_home is None:
        raise ValueError("star_stage_kills needs FaultContext.server_home (a workspace with a running server)")
    home = ctx.server_home
    work = ctx.home / "star_stage_kills"
    work.mkdir(parents=True, exist_ok=True)
    tasks, out = work / "tasks.jsonl", work / "star"
    if not tasks.exists():
        synth = _run(home, "tasks", "synth", "--seed", "3", "--out", str(tasks), timeout=600)
        if synth.returncode != 0:
            raise RuntimeError(f"`deepstar tasks synth` failed: {synth.stderr[-1000:]}")
    name = f"faults-{uuid.uuid4().hex[:6]}"
    cmd = ["star", "--train", str(tasks), "--dev", str(tasks), "--out", str(out), *STAR_ARGS, "--run-name", name]
    result = ScenarioResult("star_stage_kills", "SIGKILL to `deepstar star` in each stage of an iteration "
                                                "(rollout, filter, training, adapter load, eval), rerun after each; "
                                                "then a truncated adapter")
    problems: list[str] = []
    kills: list[dict[str, Any]] = []
    committed: dict[int, tuple] = {}

    def stages(d: str) -> dict[str, Any]:
        try:
            return json.loads((out / d / "stages.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def rollouts() -> list[str]:
        path = out / "iter_1" / "rollouts.jsonl"
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    # each run is killed at the next point; the rerun must resume there
    for point in [*STAR_POINTS, None]:
        before_seed = stages("seed")
        before_iter = stages("iter_1")
        before_rollouts = rollouts()
        ctx.log(f"  star_stage_kills: run {len(kills) + 1}" + (f", killed at {point}" if point else ", to the end"))
        proc = _popen(home, *cmd, env={FAULT_ENV: point} if point else None)
        seen_children: set[int] = set()
        while proc.poll() is None:  # watch for the training child, to check it dies with its parent
            seen_children |= _children(proc.pid)
            time.sleep(0.5)
        code, err = _finish(proc, timeout=60)
        result.runs += 1
        info: dict[str, Any] = {"point": point, "exit_code": code}
        deadline = time.monotonic() + 15  # children notice their parent's death within moments
        while any(_alive(p) for p in seen_children) and time.monotonic() < deadline:
            time.sleep(0.2)
        orphans = sorted(p for p in seen_children if _alive(p))
        s_seed, s_iter = stages("seed"), stages("iter_1")
        ok = True
        if point is None:
            ok = code == 0 and "eval" in s_iter and (out / "metrics.json").exists()
            if not ok:
                problems.append(f"the final run did not complete (exit {code}): {err[-800:]}")
        else:
            stage = _stage_key(point)
            if code != -signal.SIGKILL or f"fault injection: SIGKILL at {point}" not in err:
                ok = False
                problems.append(f"run killed at {point} exited {code}: {err[-800:]}")
            if stage in s_iter:
                ok = False
                problems.append(f"stage {stage} is marked done although the run was killed in it")
        # the previous run's interrupted stage is now done, and nothing finished was redone
        if before_seed.get("train:adapter-s0") and s_seed.get("train:adapter-s0") != before_seed["train:adapter-s0"]:
            ok = False
            problems.append("the seed adapter was trained again")
        if before_rollouts and rollouts()[:len(before_rollouts)] != before_rollouts:
            ok = False
            problems.append("committed rollouts were redone or lost")
        if before_iter.get("train:adapter") and s_iter.get("train:adapter") != before_iter["train:adapter"]:
            ok = False
            problems.append("the iteration adapter was trained again")
        if orphans:
            ok = False
            problems.append(f"processes left behind by the killed run: {orphans}")
        if kills and kills[-1]["point"]:
            if _stage_key(kills[-1]["point"]) not in s_iter:
                ok = False
                problems.append(f"the rerun after the kill at {kills[-1]['point']} did not finish that stage")
        info.update({"ok": ok, "children_seen": len(seen_children), "orphans": orphans})
        kills.append(info)
        result.completed += ok
        run_ids = _star_run_ids(out)
        committed.update(_steps(home, run_ids))
        if code not in (0, -signal.SIGKILL):
            break  # a real failure: later stages cannot be reached

    # a truncated adapter (a crash while saving, a full disk) is found on resume and retrained
    weights = out / "iter_1" / "adapter" / "adapter_model.safetensors"
    if weights.exists():
        size = weights.stat().st_size
        with weights.open("r+b") as f:
            f.truncate(size // 2)
        trained_before = stages("iter_1").get("train:adapter")
        ctx.log("  star_stage_kills: the iteration adapter truncated; run again")
        again = _run(home, *cmd, timeout=1800)
        result.runs += 1
        from reasoner.adapters import check_adapter
        from reasoner.errors import ReasonerError

        try:
            check_adapter(weights.parent)
            usable = True
        except ReasonerError:
            usable = False
        retrained = stages("iter_1").get("train:adapter") not in (None, trained_before)
        if again.returncode == 0 and usable and retrained and "unusable" in again.stderr:
            result.completed += 1
        else:
            problems.append(f"a truncated adapter was not retrained (exit {again.returncode}, usable {usable}, "
                            f"retrained {retrained}): {again.stderr[-800:]}")
        kills.append({"point": "truncated adapter", "exit_code": again.returncode, "ok": usable and retrained})
    else:
        problems.append("no iteration adapter to truncate")
        result.runs += 1

    result.steps_lost = _lost(committed, _steps(home, sorted({r[0] for r in committed.values()})))
    served = _unload(home, [f"{name}-seed-s0", f"{name}-iter1"])  # what was served before
    result.extra.update({"runs": kills, "out": str(out), "steps_tracked": len(committed), "run_name": name,
                         "served": served})
    result.detail = "; ".join(problems) or (
        f"killed at {', '.join(STAR_POINTS)}: each rerun resumed at the killed stage, finished stages not redone, "
        "no process left behind; the truncated adapter was retrained")
    return result


def _unload(home: Path, names: list[str]) -> list[str]:
    """Take this scenario's adapters off the shared server again; returns the model names it
    served just before ([] when it is not running or did not answer)."""
    import httpx

    from reasoner.endpoint import sync_client
    from reasoner.server import read_state

    state = read_state(home / "server.json")
    if state is None:
        return []
    with sync_client(state.base_url, timeout=30) as http:  # the local server: never through a proxy
        try:
            served = sorted(m["id"] for m in http.get(f"{state.base_url}/models").json().get("data", []))
        except (httpx.HTTPError, ValueError):
            served = []
        for name in names:
            try:
                http.post(f"{state.base_url}/unload_lora_adapter", json={"lora_name": name})
            except httpx.HTTPError:
                pass
    return served


async def star_stage_kills(ctx: FaultContext) -> ScenarioResult:
    return await _threaded(_star, ctx)


# --- two writers on one workspace ----------------------------------------------------------------------------
def _check_run(home: Path, run_id: str | None, out: dict[str, Any] | None) -> tuple[bool, int]:
    """(finished, steps missing): every model and tool call the run reports is in the store."""
    if not run_id:
        return False, 0
    steps = _steps(home, [run_id])
    usage = (out or {}).get("usage") or {}
    expected = int(usage.get("turns", 0)) + int(usage.get("tool_calls", 0))
    return _finished(home, run_id), max(0, expected - len(steps))


def _integrity(home: Path) -> list[str]:
    bad = []
    for name in ("deepstar.db", "checkpoints.db"):
        if (home / name).exists():
            db = sqlite3.connect(str(home / name), timeout=30)
            try:
                verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                db.close()
            if verdict != "ok":
                bad.append(f"{name}: {verdict}")
    return bad


def _json_out(proc_out: str) -> dict[str, Any] | None:
    try:
        return json.loads(proc_out)
    except ValueError:
        return None


def _collect(home: Path, proc: subprocess.Popen, result: ScenarioResult, problems: list[str], label: str) -> str | None:
    """Wait for a `deepstar research --json` process and count its run; its run id."""
    out, err = _communicate(proc)
    result.runs += 1
    data = _json_out(out)
    run_id = (data or {}).get("trajectory_id")
    done, missing = _check_run(home, run_id, data)
    result.steps_lost += missing
    if done and "Traceback" not in err:
        result.completed += 1
    else:
        problems.append(f"{label} exit {proc.returncode}: {err[-500:]}")
    return run_id


def _overlap(home: Path, first: list[str], second: list[str]) -> bool:
    """Whether some run of `first` was running while some run of `second` was."""
    spans = {}
    for run_id in first + second:
        row = _run_row(home, run_id)
        spans[run_id] = (row.get("created_at") or 0.0, row.get("finished_at") or 0.0)
    return any(spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1] for a in first for b in second)


def _concurrent_research(ctx: FaultContext) -> ScenarioResult:
    result = ScenarioResult("concurrent_research", "two `deepstar research` processes on one workspace at once")
    problems: list[str] = []
    with _Gate(ctx.base_url or "") as gate:  # model calls wait until both runs are open
        home = _model_home(ctx, "concurrent_research", base_url=gate.url)
        procs = [_popen(home, "research", q, "--mode", "plan", "--json") for q in QUESTIONS[:2]]
        if not _wait_for_runs(home, 2, procs):
            problems.append("the two processes did not both open a run")
        gate.open()
        run_ids = [_collect(home, proc, result, problems, f"research {i + 1}") for i, proc in enumerate(procs)]
    if all(run_ids) and not _overlap(home, run_ids[:1], run_ids[1:]):  # type: ignore[arg-type]
        problems.append("the two runs did not overlap in time")
    problems += _integrity(home)
    if problems:
        result.completed = min(result.completed, result.runs - 1)
    result.extra = {"run_ids": run_ids, "steps": {r: len(_steps(home, [r])) for r in run_ids if r}}
    result.detail = "; ".join(problems) or "both runs overlapped and finished, every step recorded, both databases intact"
    return result


async def concurrent_research(ctx: FaultContext) -> ScenarioResult:
    return await _threaded(_concurrent_research, ctx)


EVAL_TASKS = [(QUESTIONS[1], "Frédéric Auguste Bartholdi"), (QUESTIONS[2], "Canberra"),
              ("Who wrote the play Hamlet?", "William Shakespeare"),
              ("What is the largest planet in the Solar System?", "Jupiter")]


def _research_beside_eval(ctx: FaultContext) -> ScenarioResult:
    result = ScenarioResult("research_beside_eval", "`deepstar research` and `deepstar eval` on one workspace at once")
    problems: list[str] = []
    with _Gate(ctx.base_url or "") as gate:  # model calls wait until the research run and two eval runs are open
        home = _model_home(ctx, "research_beside_eval", mode="react", base_url=gate.url)
        tasks = home / "tasks.jsonl"
        tasks.write_text("".join(json.dumps({"id": f"t{i}", "question": q, "answers": [a], "kind": "single"}) + "\n"
                                 for i, (q, a) in enumerate(EVAL_TASKS)), encoding="utf-8")
        evaluation = _popen(home, "eval", "--tasks", str(tasks), "--concurrency", "2", "--out", str(home / "eval.json"))
        research = _popen(home, "research", QUESTION, "--mode", "plan", "--json")
        if not _wait_for_runs(home, 3, [evaluation, research]):
            problems.append("the research run and two eval runs were not all opened")
        gate.open()
        run_id = _collect(home, research, result, problems, "research")
        _, err = _communicate(evaluation)
    results_path = home / "eval.jsonl"
    rows = [json.loads(line) for line in results_path.read_text().splitlines()] if results_path.exists() else []
    eval_ids = [r["trajectory_id"] for r in rows if r.get("trajectory_id")]
    for tid in eval_ids:
        result.runs += 1
        db = _db(home)
        try:
            record = db.execute("SELECT record FROM trajectories WHERE id = ?", (tid,)).fetchone()
        finally:
            db.close()
        finished, missing = _check_run(home, tid, json.loads(record[0]) if record else None)
        result.steps_lost += missing
        result.completed += finished
    n = len(EVAL_TASKS)
    if evaluation.returncode != 0 or len(eval_ids) != n or "Traceback" in err:
        result.runs = max(result.runs, n + 1)
        problems.append(f"eval exit {evaluation.returncode}, {len(eval_ids)} of {n} tasks recorded: {err[-500:]}")
    if run_id and eval_ids and not _overlap(home, [run_id], eval_ids):
        problems.append("the research run and the eval runs did not overlap in time")
    problems += _integrity(home)
    if problems:
        result.completed = min(result.completed, result.runs - 1)
    result.extra = {"research_run": run_id, "eval_runs": eval_ids}
    result.detail = "; ".join(problems) or "the research run and every eval task overlapped and finished, every step recorded"
    return result


async def research_beside_eval(ctx: FaultContext) -> ScenarioResult:
    return await _threaded(_research_beside_eval, ctx)


# --- corrupted inputs ------------------------------------------------------------------------------------------
def _v1_store(path: Path) -> tuple[str, int]:
    """A store as deepstar's first schema wrote it, with one finished run of 3 steps."""
    from agent.store import _MIGRATIONS

    db = sqlite3.connect(str(path))
    db.executescript(_MIGRATIONS[0])
    now = time.time()
    run_id = "20250101-000000-0ld5chem"
    db.execute("INSERT INTO runs (id, question, mode, status, created_at, updated_at, finished_at, config) "
               "VALUES (?, ?, 'react', 'done', ?, ?, ?, '{}')", (run_id, QUESTION, now, now, now))
    for seq in (1, 2, 3):
        db.execute("INSERT INTO steps (run_id, seq, kind, node, branch, created_at, input, output) "
                   "VALUES (?, ?, 'llm', 'research', 'q0', ?, '{}', ?)", (run_id, seq, now, json.dumps({"seq": seq})))
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    return run_id, 3


def _corrupted(ctx: FaultContext) -> ScenarioResult:
    from agent.store import SCHEMA_VERSION

    result = ScenarioResult("corrupted_inputs", "a task file with a broken line; a damaged and a missing "
                                                "run checkpoint; stores of an older and a newer schema; a store "
                                                "that is not a database")
    checks: dict[str, str] = {}

    def check(name: str, ok: bool, why: str) -> None:
        result.runs += 1
        result.completed += ok
        checks[name] = "ok" if ok else why

    # 1. a task file with a broken line: `deepstar eval` and `deepstar star` name the line
    home = ctx.home / "corrupted_inputs"
    home.mkdir(parents=True, exist_ok=True)
    bad = home / "broken.jsonl"
    bad.write_text('{"id": "a", "question": "Q1?", "answers": ["x"]}\n{"id": "b", "question": "Q2?", "answers": ["y"]}\n'
                   '{"id": "c", "question": "Q3?", "ans\n', encoding="utf-8")
    ev = _run(home, "eval", "--tasks", str(bad), timeout=300)
    st = _run(home, "star", "--train", str(bad), "--dev", str(bad), "--out", str(home / "star"), timeout=300)
    check("task file with a broken line",
          all(p.returncode == 2 and _clean_error(p) and "line 3" in p.stderr for p in (ev, st)),
          f"eval exit {ev.returncode}: {ev.stderr[-300:]} | star exit {st.returncode}: {st.stderr[-300:]}")

    # 2. a store of the first schema: migrated on open, nothing lost
    old = ctx.home / "corrupted_inputs" / "old_store"
    old.mkdir(parents=True, exist_ok=True)
    if not (old / "deepstar.db").exists():
        run_id, n = _v1_store(old / "deepstar.db")
    else:
        run_id, n = "20250101-000000-0ld5chem", 3
    before = _steps(old, [run_id])
    shown = _run(old, "runs", "show", run_id, "--json", timeout=300)
    db = sqlite3.connect(str(old / "deepstar.db"))
    version = db.execute("PRAGMA user_version").fetchone()[0]
    db.close()
    after = _steps(old, [run_id])
    result.steps_lost += _lost(before, after)
    data = _json_out(shown.stdout) or {}
    check("store of an older schema", shown.returncode == 0 and version == SCHEMA_VERSION
          and len(data.get("steps", [])) == n and data.get("run", {}).get("status") == "done",
          f"exit {shown.returncode}, schema {version}: {shown.stderr[-300:]}")

    # 3. a store written by a newer deepstar: refused, untouched
    newer = ctx.home / "corrupted_inputs" / "newer_store"
    newer.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(newer / "deepstar.db"))
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 7}")
    db.close()
    listed = _run(newer, "runs", "list", timeout=300)
    check("store of a newer schema", listed.returncode != 0 and _clean_error(listed) and "newer" in listed.stderr,
          f"exit {listed.returncode}: {listed.stderr[-300:]}")

    # 4. a store that is not a database
    garbage = ctx.home / "corrupted_inputs" / "garbage_store"
    garbage.mkdir(parents=True, exist_ok=True)
    (garbage / "deepstar.db").write_bytes(b"this is not a database\x00" * 64)
    listed = _run(garbage, "runs", "list", timeout=300)
    check("store that is not a database", listed.returncode != 0 and _clean_error(listed)
          and "deepstar.db" in listed.stderr, f"exit {listed.returncode}: {listed.stderr[-300:]}")

    # 5-6. an interrupted run whose LangGraph checkpoint is damaged, or gone
    if ctx.base_url:
        for label, damage in (("damaged run checkpoint", "garbage"), ("missing run checkpoint", "missing")):
            # plan mode: the plan call goes through, the first branch call waits at the gate, so
            # the run is still going when it is killed, however fast the model answers (a react
            # run may answer in its first call and resume as done, testing no checkpoint at all)
            with _Gate(ctx.base_url or "", passes=1) as gate:
                chome = _model_home(ctx, f"corrupted_inputs/{damage}_checkpoint", mode="plan", base_url=gate.url)
                proc = _popen(chome, "research", QUESTION, "--json")
                run_id = _wait_for_steps(chome, proc, 1)
                if run_id is None:
                    _finish(proc)
                    check(label, False, "the run ended before its first step was committed")
                    continue
                os.kill(proc.pid, signal.SIGKILL)
                _finish(proc)
                before = _steps(chome, [run_id])
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{chome / 'checkpoints.db'}{suffix}").unlink(missing_ok=True)
                if damage == "garbage":
                    (chome / "checkpoints.db").write_bytes(b"\x00garbage" * 512)
                gate.open()
                resumed = _run(chome, "runs", "resume", run_id, timeout=600)
            after = _steps(chome, [run_id])
            result.steps_lost += _lost(before, after)
            check(label, resumed.returncode != 0 and _clean_error(resumed) and "checkpoint" in resumed.stderr,
                  f"exit {resumed.returncode}: {resumed.stderr[-400:]}")
    result.extra["checks"] = checks
    failed = {k: v for k, v in checks.items() if v != "ok"}
    result.detail = "; ".join(f"{k}: {v}" for k, v in failed.items()) or \
        "clear errors naming the problem, or a migration that kept every step"
    return result


async def corrupted_inputs(ctx: FaultContext) -> ScenarioResult:
    return await _threaded(_corrupted, ctx)


SCENARIOS = [vllm_killed, research_sigint, research_sigkill, star_stage_kills, concurrent_research,
             research_beside_eval, corrupted_inputs]
