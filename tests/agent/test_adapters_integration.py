"""A workspace's adapters on the real vLLM-CPU server: registered before the start they
are served from it, `adapters load` hot-loads into the running server, and after a
restart every registered adapter is served again. Its own workspace and port (it stops
and starts its server), the bundled model prepared once in the shared test home."""

from __future__ import annotations

import json

import httpx
import pytest

from reasoner.server import read_state
from tests.conftest import deepstar, free_port

pytestmark = pytest.mark.integration


def models(base_url: str) -> list[str]:
    return [m["id"] for m in httpx.get(f"{base_url}/models", timeout=30).json()["data"]]


def test_loaded_adapters_come_back_after_a_server_restart(prepared_model, tmp_path):
    from reasoner.adapters import init_adapter

    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / prepared_model.name).symlink_to(prepared_model)  # prepared once, not again
    first = init_adapter(prepared_model, tmp_path / "first", seed=1)
    second = init_adapter(prepared_model, tmp_path / "second", seed=2)
    # a small KV cache: this second server shares the machine with the shared one
    env = {"DEEPSTAR_SHIPPED_REASONER": str(tmp_path / "nothing-shipped"), "VLLM_CPU_KVCACHE_SPACE": "1"}
    port = str(free_port())

    out = deepstar("adapters", "load", str(first), "--name", "mine", home=home, env=env, check=True)
    assert "no server is running" in out.stdout
    try:
        started = deepstar("serve", "--port", port, home=home, env=env, check=True, timeout=900)
        assert "no trained reasoner is shipped" in started.stderr
        state = read_state(home / "server.json")
        assert "mine" in models(state.base_url)  # registered before the start: loaded at start

        out = deepstar("adapters", "load", str(second), "--name", "other", home=home, env=env, check=True)
        assert "loaded into the running server" in out.stdout
        assert {"mine", "other"} <= set(models(state.base_url))
        done = httpx.post(f"{state.base_url}/completions", timeout=120,
                          json={"model": "other", "prompt": "The Eiffel Tower", "max_tokens": 2, "temperature": 0})
        assert done.status_code == 200, done.text

        deepstar("serve", "--stop", home=home, env=env, check=True)
        restarted = deepstar("serve", "--port", port, home=home, env=env, check=True, timeout=900)
        assert "adapters mine, other" in restarted.stdout
        state = read_state(home / "server.json")
        assert {"mine", "other"} <= set(models(state.base_url))  # back after the restart
        listed = deepstar("adapters", "list", "--json", home=home, env=env, check=True)
        rows = {r["name"]: r for r in json.loads(listed.stdout)}
        assert rows["mine"]["served"] and rows["other"]["served"]
    finally:
        deepstar("serve", "--stop", home=home, env=env)
