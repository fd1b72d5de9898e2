"""The environment's proxy never sees model traffic to loopback, and a user's proxy is
used for a remote endpoint only by explicit choice (a listening socket poses as the
proxy); a page-store snapshot is never served where the guard or robots.txt now refuse.
The scenario functions are those of `deepstar bench faults` (agent/faults/hardening.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest

from agent.api import ResearchAgent
from agent.config import AgentConfig
from agent.faults import scenario_names
from agent.faults.base import FaultContext
from agent.faults.hardening import ProxyTrap, cache_before_guard, proxy_bypass, proxy_environment
from agent.faults.scripted import ScriptedModel, answer
from reasoner.client import ReasonerClient, RetryPolicy
from reasoner.endpoint import is_loopback, trusts_env
from reasoner.errors import ReasonerError
from reasoner.server import ServerState, _health


def _say_hi(messages, body):
    return answer({"answer": "hi"})


@pytest.fixture
def trap():
    with ProxyTrap() as proxy, proxy_environment(proxy.url):
        yield proxy


def test_the_decision_per_endpoint():
    for url in ("http://127.0.0.1:8011/v1", "http://127.5.6.7/v1", "http://[::1]:8000/v1", "http://localhost:1/v1",
                "http://[::ffff:127.0.0.1]:9/v1"):
        assert is_loopback(url) and not trusts_env(url, True) and not trusts_env(url, False), url
    assert trusts_env("https://api.example.com/v1", True) and not trusts_env("https://api.example.com/v1", False)
    assert not is_loopback("http://10.0.0.1/v1")


def test_the_proxy_environment_is_restored():
    before = {k: os.environ.get(k) for k in ("HTTP_PROXY", "NO_PROXY")}
    with proxy_environment("http://127.0.0.1:9"):
        assert os.environ["HTTP_PROXY"] == "http://127.0.0.1:9" and "NO_PROXY" not in os.environ
    assert {k: os.environ.get(k) for k in ("HTTP_PROXY", "NO_PROXY")} == before


async def test_model_calls_health_and_engine_probe_to_loopback_never_reach_the_proxy(trap):
    with ScriptedModel(_say_hi) as model:
        for use_proxy in (False, True):  # loopback goes direct even when the user opts in
            async with ReasonerClient(model.url, api_key="sk-test", use_env_proxy=use_proxy,
                                      retry=RetryPolicy(max_retries=0)) as client:
                result = await client.chat([{"role": "user", "content": "hi"}], model="scripted-model")
            assert result.message["content"] == '{"answer": "hi"}'
        port = int(model.url.rsplit(":", 1)[1].split("/")[0])
        state = ServerState(pid=os.getpid(), host="127.0.0.1", port=port, model="m", model_path="", log_path="",
                            device="cpu", started_at=0.0)
        assert await asyncio.to_thread(_health, state) == "healthy"
        agent = ResearchAgent(AgentConfig(use_proxy=True))
        assert await agent._engine_info(model.url) == {"name": "vllm", "version": "scripted"}
        assert len(model.requests) == 2 and "/health" in model.gets and "/version" in model.gets
    assert trap.requests == []


async def test_a_remote_endpoint_goes_through_the_proxy_only_when_asked(trap):
    far = "http://model.deepstar-test.invalid:8000/v1"
    async with ReasonerClient(far, retry=RetryPolicy(max_retries=0)) as client:
        with pytest.raises(ReasonerError):
            await client.chat([{"role": "user", "content": "hi"}], model="x")
    assert trap.requests == []
    async with ReasonerClient(far, retry=RetryPolicy(max_retries=0), use_env_proxy=True) as client:
        with contextlib.suppress(ReasonerError):
            await client.chat([{"role": "user", "content": "hi"}], model="x")
    assert len(trap.requests) == 1 and trap.requests[0].startswith("POST http://model.deepstar-test.invalid:8000/")


def test_the_scenarios_are_registered_with_bench_faults():
    assert {"cache_before_guard", "proxy_bypass"} <= set(scenario_names())


@pytest.mark.integration
async def test_cache_before_guard_scenario(tmp_path):
    result = await cache_before_guard(FaultContext(home=tmp_path))
    assert result.ok, result.as_dict()
    assert set(result.extra["checks"].values()) == {"ok"} and len(result.extra["checks"]) == 5
    assert result.extra["site_hits"] == ["/page"]  # fetched once; the refusals sent nothing


@pytest.mark.integration
async def test_proxy_bypass_scenario(tmp_path):
    result = await proxy_bypass(FaultContext(home=tmp_path))
    assert result.ok, result.as_dict()
    assert set(result.extra["checks"].values()) == {"ok"} and len(result.extra["checks"]) == 5
    assert len(result.extra["proxy_requests"]) == 1  # only the opted-in remote endpoint's request
