"""Lifecycle of the local vLLM server: start, find, check, stop.

The server is vLLM's OpenAI-compatible API server (`python -m
vllm.entrypoints.openai.api_server`; the CPU build's `vllm` console script does not
work, see README) bound to 127.0.0.1, with LoRA enabled and runtime adapter loading
allowed, and prefix caching on (agent prompts share long prefixes). Its pid, port,
model and log path are recorded in a state file in the workspace, so every other
command finds and reuses a running server. The server runs in its own process group,
so stopping it stops its engine children too.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import httpx

from reasoner.cpu import ServingPlan, detect_cpu, serving_plan
from reasoner.endpoint import sync_client
from reasoner.errors import ModelNotPrepared, PortInUse, ServerError

__all__ = [
    "ServerSpec",
    "ServerState",
    "detect_device",
    "port_in_use",
    "read_state",
    "server_status",
    "served_models",
    "start_server",
    "stop_server",
    "sync_adapters",
]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServerSpec:
    model_path: Path
    served_name: str
    state_path: Path
    log_dir: Path
    host: str = "127.0.0.1"
    port: int = 8011
    enable_lora: bool = True
    max_lora_rank: int = 16
    max_loras: int = 4
    max_model_len: int = 4096
    # 2 GiB holds ~264k tokens in bf16 (~80k in fp32): 16 concurrent runs at a 4k context need
    # 64k; more only takes memory a second server or a training run on the machine needs
    kv_cache_gib: int = 2
    start_timeout_s: float = 900.0
    extra_args: tuple[str, ...] = ()
    allow_public: bool = False  # binding beyond loopback needs this, and warns
    dtype: str = "auto"  # 'auto' (reasoner.cpu decides from the CPU), 'bf16' or 'fp32'
    # LoRA adapters served from the start, (name, directory): the shipped reasoner and the
    # workspace's registered ones, so a restarted server has them again
    lora_modules: tuple[tuple[str, str], ...] = ()


@dataclass
class ServerState:
    pid: int
    host: str
    port: int
    model: str
    model_path: str
    log_path: str
    device: str
    started_at: float
    lora: bool = True
    adapters: list[str] = field(default_factory=list)
    healthy_at: float | None = None  # when it first answered /health
    dtype: str | None = None  # what the engine computes in ('bf16' | 'fp32'; None: the engine's choice)
    cpu_class: str | None = None  # reasoner.cpu's class of the CPU it runs on (None on CUDA)
    cpu_emulated: bool = False  # a weaker class emulated (ATEN_CPU_CAPABILITY / ONEDNN_MAX_CPU_ISA)

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}/v1"


def detect_device() -> str:
    """'cuda' where an NVIDIA GPU and a CUDA build of vLLM are present, else 'cpu'."""
    try:
        importlib.metadata.distribution("vllm")
        cuda_build = True
    except importlib.metadata.PackageNotFoundError:
        cuda_build = False
    has_gpu = shutil.which("nvidia-smi") is not None and Path("/dev/nvidia0").exists()
    return "cuda" if (cuda_build and has_gpu) else "cpu"


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as dead
    with contextlib.suppress(OSError, ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def read_state(state_path: Path) -> ServerState | None:
    try:
        data = json.loads(Path(state_path).read_text(encoding="utf-8"))
        known = {f.name for f in fields(ServerState)}
        return ServerState(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError):
        return None


def _health(state: ServerState, timeout: float = 2.0) -> str:
    """'healthy'; 'down' while nothing answers (still starting); 'unhealthy' when the API
    server answers but its engine does not (vLLM's engine process died under it)."""
    url = state.base_url.removesuffix("/v1") + "/health"
    try:
        with sync_client(url, timeout=timeout) as http:  # our own server: never through a proxy
            code = http.get(url).status_code
    except httpx.HTTPError:
        return "down"
    return "healthy" if code == 200 else "unhealthy"


def _healthy(state: ServerState, timeout: float = 2.0) -> bool:
    return _health(state, timeout) == "healthy"


def server_status(state_path: Path) -> tuple[ServerState | None, str]:
    """(state, one of 'healthy' | 'starting' | 'unhealthy' | 'dead' | 'stopped')."""
    state = read_state(state_path)
    if state is None:
        return None, "stopped"
    if not _alive(state.pid):
        return state, "dead"
    health = _health(state)
    if health == "down":
        # refusing connections after it once answered: the API process outlived its server
        return state, ("unhealthy" if state.healthy_at else "starting")
    return state, health


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _command(spec: ServerSpec, device: str, plan: ServingPlan | None = None) -> list[str]:
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(spec.model_path),
        "--served-model-name", spec.served_name,
        "--host", spec.host, "--port", str(spec.port),
        "--max-model-len", str(spec.max_model_len),
        "--enable-prefix-caching",
        "--generation-config", "vllm",  # our sampling settings, not the checkpoint's
        # The grammar, not the model, decides JSON whitespace: a tiny model otherwise pads
        # constrained JSON with runaway spaces and newlines. vLLM reads this server-wide only.
        "--structured-outputs-config", json.dumps({"backend": "xgrammar", "disable_any_whitespace": True}),
    ]
    if spec.enable_lora:
        cmd += ["--enable-lora", "--max-lora-rank", str(spec.max_lora_rank), "--max-loras", str(spec.max_loras)]
        if spec.lora_modules:
            # the JSON form: a path may hold '=' or ','
            cmd += ["--lora-modules", *(json.dumps({"name": name, "path": path}) for name, path in spec.lora_modules)]
    if plan is not None:
        cmd += ["--dtype", plan.vllm_dtype]
    elif spec.dtype != "auto":
        cmd += ["--dtype", {"bf16": "bfloat16", "fp32": "float32"}[spec.dtype]]
    return cmd + list(spec.extra_args)


def _kill_group(pid: int, grace_s: float = 15.0) -> None:
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            break
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    # reap it if it is our child
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, 0)


def start_server(
    spec: ServerSpec,
    *,
    progress: Callable[[str, float], None] | None = None,
    warn: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> ServerState:
    """Start the server (or reuse a healthy one already recorded) and wait for /health."""
    state, status = server_status(spec.state_path)
    if state is not None and status == "unhealthy":
        # the API process lives but its engine died: replace it rather than wait on it
        warn(f"the recorded vLLM server (pid {state.pid}) is unhealthy; restarting it")
        stop_server(spec.state_path)
        state, status = None, "stopped"
    if state is not None and status in ("healthy", "starting"):
        if state.port == spec.port or status == "healthy":
            if spec.dtype != "auto" and state.dtype not in (None, spec.dtype):
                warn(f"the running vLLM server computes in {state.dtype}, not the requested {spec.dtype}; "
                     "stop it first (`deepstar serve --stop`) to change it")
            if status == "starting":
                return _wait(state, spec, None, progress)
            return state
    if not Path(spec.model_path).exists() or not (Path(spec.model_path) / "config.json").exists():
        raise ModelNotPrepared(
            f"no model checkpoint at {spec.model_path} (run `deepstar model prepare`, or pass --model PATH "
            "to a Hugging Face checkpoint directory)"
        )
    if spec.host not in LOOPBACK:
        if not spec.allow_public:
            raise ServerError(
                f"refusing to bind the model server to {spec.host}: it would be reachable from other machines. "
                "Pass --allow-public to do it anyway."
            )
        warn(f"warning: the model server binds to {spec.host} and is reachable beyond this machine")
    if port_in_use(spec.port, spec.host):
        raise PortInUse(spec.port, spec.host)

    device = detect_device()
    spec.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = spec.log_dir / f"vllm-{spec.port}.log"
    env = dict(os.environ)
    env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
    env.setdefault("VLLM_LOGGING_LEVEL", "INFO")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("VLLM_NO_USAGE_STATS", "1")
    env.setdefault("DO_NOT_TRACK", "1")
    plan = None
    if device == "cpu":
        cpu = detect_cpu()
        plan = serving_plan(spec.dtype, cpu, kv_cache_gib=spec.kv_cache_gib, pythonpath=env.get("PYTHONPATH", ""))
        for key, value in plan.env.items():
            # vLLM's own settings a user exported win; the emulation variables must hold together
            if key.startswith("VLLM_"):
                env.setdefault(key, value)
            else:
                env[key] = value
    command = _command(spec, device, plan)
    with log_path.open("ab") as log:
        log.write(f"\n=== deepstar starting vLLM at {time.ctime()} ===\n".encode())
        if plan is not None:
            log.write(f"=== CPU class {plan.cpu_class}{' (emulated)' if plan.emulated else ''}, dtype {plan.dtype}: "
                      f"{plan.reason} ===\n".encode())
        log.flush()
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )
    state = ServerState(
        pid=proc.pid, host=spec.host, port=spec.port, model=spec.served_name,
        model_path=str(spec.model_path), log_path=str(log_path), device=device,
        started_at=time.time(), lora=spec.enable_lora,
        adapters=[name for name, _ in spec.lora_modules] if spec.enable_lora else [],
        dtype=plan.dtype if plan else (None if spec.dtype == "auto" else spec.dtype),
        cpu_class=plan.cpu_class if plan else None, cpu_emulated=bool(plan and plan.emulated),
    )
    spec.state_path.parent.mkdir(parents=True, exist_ok=True)
    spec.state_path.write_text(json.dumps(asdict(state), indent=2), encoding="utf-8")
    return _wait(state, spec, proc, progress)


def _wait(state: ServerState, spec: ServerSpec, proc: subprocess.Popen | None,
          progress: Callable[[str, float], None] | None) -> ServerState:
    t0 = time.monotonic()
    try:
        while True:
            elapsed = time.monotonic() - t0
            if proc is not None and proc.poll() is not None or proc is None and not _alive(state.pid):
                raise ServerError(f"the vLLM server exited during start-up (log: {state.log_path})",
                                  log_tail=_tail(Path(state.log_path)))
            if _healthy(state):
                state.healthy_at = time.time()
                Path(spec.state_path).write_text(json.dumps(asdict(state), indent=2), encoding="utf-8")
                if progress:
                    progress("healthy", elapsed)
                return state
            if elapsed > spec.start_timeout_s:
                raise ServerError(f"the vLLM server was not healthy after {spec.start_timeout_s:.0f} s "
                                  f"(log: {state.log_path})", log_tail=_tail(Path(state.log_path)))
            if progress:
                progress("starting", elapsed)
            time.sleep(1.0)
    except BaseException:
        # leave no orphan behind: a failed or interrupted start stops what it started
        _kill_group(state.pid)
        Path(spec.state_path).unlink(missing_ok=True)
        raise


def stop_server(state_path: Path) -> ServerState | None:
    """Stop the recorded server and its children; None when none was recorded."""
    state = read_state(state_path)
    if state is None:
        return None
    if _alive(state.pid):
        _kill_group(state.pid)
    Path(state_path).unlink(missing_ok=True)
    return state


def served_models(state: ServerState, timeout: float = 10.0) -> list[str]:
    """The model names the server answers to (`/v1/models`): its base and loaded adapters."""
    try:
        resp = httpx.get(f"{state.base_url}/models", timeout=timeout)
        resp.raise_for_status()
        return [m["id"] for m in resp.json().get("data", [])]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise ServerError(f"the vLLM server at {state.base_url} did not list its models: {exc}") from None


def sync_adapters(state: ServerState, modules: tuple[tuple[str, str], ...], state_path: Path | None = None,
                  timeout: float = 120.0) -> list[str]:
    """Hot-load (`/v1/load_lora_adapter`) each of `modules` the running server does not serve
    yet, e.g. one registered after it started; returns the names loaded now."""
    if not state.lora or {name for name, _ in modules} <= set(state.adapters):
        return []  # nothing new: a server keeps what it loaded until it restarts, and a start records it
    have = set(served_models(state))
    loaded = []
    for name, path in modules:
        if name in have:
            continue
        try:
            resp = httpx.post(f"{state.base_url}/load_lora_adapter", json={"lora_name": name, "lora_path": path},
                              timeout=timeout)
        except httpx.HTTPError as exc:
            raise ServerError(f"loading adapter {name!r} into the vLLM server at {state.base_url} failed: {exc}") from None
        if resp.status_code != 200:
            raise ServerError(f"the vLLM server at {state.base_url} refused adapter {name!r} ({path}): "
                              f"{resp.status_code} {resp.text[:300]}")
        loaded.append(name)
    if loaded:
        state.adapters = sorted(set(state.adapters) | set(loaded))
        if state_path is not None:
            Path(state_path).write_text(json.dumps(asdict(state), indent=2), encoding="utf-8")
    return loaded
