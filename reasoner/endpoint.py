"""The proxy decision for every HTTP client that talks to a model server, per endpoint.

httpx's default (`trust_env=True`) sends each request through the environment's
`HTTP(S)_PROXY` / `ALL_PROXY` unless `NO_PROXY` names the host: with a proxy set and no
`NO_PROXY`, every model call, its bearer key included, would go to the proxy, loopback
too. deepstar decides instead, for each endpoint:

- a loopback endpoint (127.0.0.0/8, ::1, `localhost`) is always reached directly: the
  embedded server, `deepstar serve`, local test servers;
- any other endpoint is reached directly as well, unless the user asks for the
  environment's proxy explicitly (`use_env_proxy=True`, from AgentConfig `use_proxy`,
  i.e. `DEEPSTAR_USE_PROXY=1`); then httpx's environment handling applies to it,
  `NO_PROXY` included.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import httpx

__all__ = ["async_client", "is_loopback", "sync_client", "trusts_env"]


def is_loopback(url: str | httpx.URL) -> bool:
    """Whether `url`'s host is a loopback address or name."""
    try:
        host = httpx.URL(str(url)).host.strip("[]").rstrip(".").lower()
    except httpx.InvalidURL:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def trusts_env(url: str | httpx.URL, use_env_proxy: bool = False) -> bool:
    """httpx's `trust_env` for a client of `url`: the proxy only by explicit choice, never for loopback."""
    return bool(use_env_proxy) and not is_loopback(url)


def async_client(url: str | httpx.URL, *, use_env_proxy: bool = False, **kwargs: Any) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` for the model server at `url` (see the module docstring)."""
    return httpx.AsyncClient(trust_env=trusts_env(url, use_env_proxy), **kwargs)


def sync_client(url: str | httpx.URL, *, use_env_proxy: bool = False, **kwargs: Any) -> httpx.Client:
    """An `httpx.Client` for the model server at `url` (see the module docstring)."""
    return httpx.Client(trust_env=trusts_env(url, use_env_proxy), **kwargs)
