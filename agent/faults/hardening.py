"""Hardening scenarios (`deepstar bench faults`, tests/security): the fetch cache against
today's guard, and the environment's proxy against the model traffic.

- `cache_before_guard`: a loopback site's page is fetched and snapshotted in the page
  store (freshness one day). Then the allow-list stops naming the site, and then the
  site's robots.txt starts disallowing the page: a fresh snapshot must never be served
  where a fetch would be refused today. `forbidden_requests` counts snapshots served
  against the guard or robots.txt.
- `proxy_bypass`: `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` point at a listening
  socket posing as a proxy (`ProxyTrap`), `NO_PROXY` unset. A research run with an API
  key against a loopback endpoint, the server's health check and the engine probe must
  send it nothing; a non-loopback endpoint goes through it only when the user opts in
  (`use_proxy`), which proves the trap listens. `forbidden_requests` counts connections
  the trap got from what must go direct.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from agent.config import AgentConfig
from agent.faults.base import FaultContext, Scenario, ScenarioResult
from agent.faults.scripted import ScriptedModel
from agent.faults.web import LoopbackSite, _research, eiffel_policy
from agent.web import host_port, open_web

__all__ = ["PROXY_VARIABLES", "SCENARIOS", "ProxyTrap", "cache_before_guard", "proxy_bypass", "proxy_environment"]

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_NO_PROXY = ("NO_PROXY", "no_proxy")


class ProxyTrap:
    """A TCP listener on loopback posing as an HTTP proxy: it records the first line of
    every connection it gets (`requests`) and answers 502."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="proxy-trap", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2.0)
                try:
                    head = conn.recv(4096)
                except OSError:
                    head = b""
                self.requests.append(head.split(b"\r\n", 1)[0].decode("latin-1") or "(connected, sent nothing)")
                with contextlib.suppress(OSError):
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def __enter__(self) -> ProxyTrap:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()


@contextlib.contextmanager
def proxy_environment(proxy_url: str) -> Iterator[None]:
    """Every proxy variable of the process set to `proxy_url`, NO_PROXY unset; restored after."""
    saved = {name: os.environ.get(name) for name in (*PROXY_VARIABLES, *_NO_PROXY)}
    try:
        for name in PROXY_VARIABLES:
            os.environ[name] = proxy_url
        for name in _NO_PROXY:
            os.environ.pop(name, None)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --- the fetch cache against today's guard ---------------------------------------------------
async def _open_once(cfg: AgentConfig, url: str) -> Any:
    async with open_web(cfg) as box:  # a fresh toolbox: no in-run page memory, only the page store
        return await box.call("open", {"url": url})


async def cache_before_guard(ctx: FaultContext) -> ScenarioResult:
    robots = {"text": b"User-agent: *\nAllow: /\n"}
    routes = {"/robots.txt": lambda h: h.send(200, robots["text"], "text/plain"),
              "/page": lambda h: h.send(200, b"<html><title>Kept</title><p>A page worth keeping.</p></html>")}
    home = ctx.home / "cache-guard"
    checks: dict[str, str] = {}
    forbidden = 0
    with LoopbackSite(routes) as site:
        url = site.url + "/page"
        allowed = AgentConfig(home=home, web="searxng", searxng_url=site.url, allow_hosts=[host_port(site.url)],
                              fetch_freshness_s=86_400.0, fetch_timeout_s=3.0, tool_timeout_s=10.0)
        first = await _open_once(allowed, url)
        checks["fetched"] = "ok" if first.ok and first.page is not None and not first.page.from_cache else \
            f"not fetched: {first.text[:160]}"
        served = await _open_once(allowed, url)
        checks["served from the store"] = "ok" if served.ok and served.page is not None and served.page.from_cache \
            else f"not from the store: {served.text[:160]}"
        hits_before = list(site.hits)
        # the allow-list no longer names the site: the snapshot is as forbidden as the site
        refused = await _open_once(AgentConfig(home=home, web="searxng", searxng_url=site.url,
                                               fetch_freshness_s=86_400.0, fetch_timeout_s=3.0), url)
        if refused.ok:
            forbidden += 1
        checks["guard refuses the snapshot"] = "ok" if not refused.ok and "refused to fetch" in refused.text \
            else f"served: {refused.text[:160]}"
        no_request = site.hits == hits_before
        checks["no request to the refused site"] = "ok" if no_request else f"requests: {site.hits[len(hits_before):]}"
        forbidden += 0 if no_request else len(site.hits) - len(hits_before)
        # the site now disallows the page in robots.txt
        robots["text"] = b"User-agent: *\nDisallow: /page\n"
        disallowed = await _open_once(allowed, url)
        if disallowed.ok:
            forbidden += 1
        checks["robots.txt refuses the snapshot"] = "ok" if not disallowed.ok and "robots" in disallowed.text \
            else f"served: {disallowed.text[:160]}"
        page_hits = [p for p in site.hits if p.startswith("/page")]
    return ScenarioResult(
        "fetch cache vs guard", "a fresh page-store snapshot of a page that the allow-list, then robots.txt, "
                                "no longer lets through",
        runs=len(checks), completed=sum(v == "ok" for v in checks.values()), forbidden_requests=forbidden,
        detail=f"{sum(v == 'ok' for v in checks.values())}/{len(checks)} checks hold; the page was requested "
               f"{len(page_hits)} time(s) (once, when first fetched)",
        extra={"checks": checks, "site_hits": list(page_hits)})


# --- the environment's proxy against the model traffic -----------------------------------------
async def proxy_bypass(ctx: FaultContext) -> ScenarioResult:
    from agent.api import ResearchAgent
    from reasoner.client import ReasonerClient, RetryPolicy
    from reasoner.errors import ReasonerError
    from reasoner.server import ServerState, _health

    secret = f"sk-deepstar-{uuid.uuid4().hex}"
    checks: dict[str, str] = {}
    home = ctx.home / "proxy"
    with ProxyTrap() as trap, ScriptedModel(eiffel_policy) as model, proxy_environment(trap.url):
        # 1. a whole research run against a loopback endpoint, with an API key, opted in or not
        for use_proxy in (False, True):
            cfg = AgentConfig(home=home / f"use-proxy-{use_proxy}", base_url=model.url, model="scripted-model",
                              api_key=secret, web="wiki", mode="react", max_steps=6,
                              use_proxy=use_proxy)
            before = len(model.requests)
            result, _, steps = await _research(cfg, "In what year was the Eiffel Tower completed?")
            reached = len(model.requests) - before
            checks[f"research run (use_proxy={use_proxy})"] = "ok" if reached and steps and result.answer else \
                f"the model got {reached} request(s), answer {result.answer!r}"
        # 2. the server's health check and the engine probe
        state = ServerState(pid=os.getpid(), host="127.0.0.1", port=int(model.url.rsplit(":", 1)[1].split("/")[0]),
                            model="x", model_path="", log_path="", device="cpu", started_at=0.0)
        health = await asyncio.to_thread(_health, state)
        checks["health check"] = "ok" if health == "healthy" else f"health: {health}"
        engine = await ResearchAgent(AgentConfig(home=home / "probe", use_proxy=True))._engine_info(model.url)
        checks["engine probe"] = "ok" if engine.get("version") == "scripted" else f"engine: {engine}"
        direct = len(trap.requests)
        # 3. the control: a non-loopback endpoint goes through the proxy only when asked to
        far = f"http://model-{uuid.uuid4().hex[:6]}.invalid:8000/v1"
        for use_proxy in (False, True):
            async with ReasonerClient(far, api_key=secret, retry=RetryPolicy(max_retries=0),
                                      use_env_proxy=use_proxy) as client:
                with contextlib.suppress(ReasonerError):
                    await client.chat([{"role": "user", "content": "hi"}], model="x")
        through = trap.requests[direct:]
        checks["opt-in proxy for a remote endpoint"] = "ok" if len(through) == 1 and ".invalid:8000" in through[0] \
            else f"the proxy saw {through}"
    forbidden = direct
    return ScenarioResult(
        "proxy vs model traffic", "HTTP(S)_PROXY and ALL_PROXY set to a listening socket, NO_PROXY unset, "
                                  "an API key configured",
        runs=len(checks), completed=sum(v == "ok" for v in checks.values()), forbidden_requests=forbidden,
        detail=f"the proxy got {direct} connection(s) from loopback model traffic and "
               f"{len(trap.requests) - direct} from the opted-in remote endpoint",
        extra={"checks": checks, "proxy_requests": list(trap.requests), "model_requests": len(model.requests)})


SCENARIOS: list[Scenario] = [cache_before_guard, proxy_bypass]
