"""Which model research asks the embedded server for: the shipped reasoner, a promoted
workspace adapter, or the base (`--model gemma-3-270m`), and what the trajectory records.

The "embedded server" here is the OpenAI-protocol fake recorded in the workspace's
server state file (the seam every command uses to find a running server): it answers
/health, /v1/models and /v1/load_lora_adapter like vLLM, so the agent's real start-up
path (find the server, hot-load missing adapters, pick the default) runs over HTTP; the
wiki site, fetches and the SQLite store are real."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from agent import AgentConfig, ResearchAgent
from reasoner.prepare import sha256_file
from reasoner.registry import AdapterRegistry
from reasoner.shipped_reasoner import SHIPPED_NAME, write_shipped
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.tiny_model import save_tiny_checkpoint, tiny_adapter

pytestmark = pytest.mark.integration

QUESTION = "In what year was the Eiffel Tower completed?"


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    return tiny_adapter(save_tiny_checkpoint(root / "gemma-3-270m"), root / "adapter")


def record_server(home: Path, fake: FakeOpenAI) -> None:
    port = int(fake.url.rsplit(":", 1)[1].split("/")[0])
    home.mkdir(parents=True, exist_ok=True)
    (home / "server.json").write_text(json.dumps({
        "pid": os.getpid(), "host": "127.0.0.1", "port": port, "model": "gemma-3-270m", "model_path": str(home),
        "log_path": str(home / "log"), "device": "cpu", "started_at": time.time(), "lora": True, "adapters": []}))


def config(tmp_path: Path, shipped: Path, **kw) -> AgentConfig:
    return AgentConfig(home=tmp_path / "home", shipped_reasoner=shipped, web="wiki", mode="react", protocol="native",
                       **kw)


async def run(cfg: AgentConfig, fake: FakeOpenAI):
    record_server(cfg.home, fake)
    result = await ResearchAgent(cfg).research(QUESTION, task={"id": "t", "answers": ["1889"]})
    return result.record, {r["model"] for r in fake.requests}


async def test_the_shipped_reasoner_is_the_default_and_is_loaded_into_the_running_server(tmp_path, adapter):
    card = {"base_model": {"name": "gemma-3-270m", "sha256": None}, "reproduce": "deepstar star ..."}
    shipped = write_shipped(adapter, tmp_path / SHIPPED_NAME, card)
    fake = FakeOpenAI(answers={"Eiffel": "1889"})
    with fake:
        record, asked = await run(config(tmp_path, shipped.path), fake)
        assert SHIPPED_NAME in fake.models  # hot-loaded: the running server did not serve it yet
    assert asked == {SHIPPED_NAME}
    assert record["final_answer"] == "1889"
    assert record["model"] == {"base": "gemma-3-270m", "adapter": SHIPPED_NAME,
                               "revision": sha256_file(adapter / "adapter_model.safetensors")}
    state = json.loads((tmp_path / "home" / "server.json").read_text())
    assert state["adapters"] == [SHIPPED_NAME]


async def test_model_gemma_reaches_the_base(tmp_path, adapter):
    shipped = write_shipped(adapter, tmp_path / SHIPPED_NAME, {"base_model": {"name": "gemma-3-270m"}})
    fake = FakeOpenAI(answers={"Eiffel": "1889"})
    with fake:
        record, asked = await run(config(tmp_path, shipped.path, model="gemma-3-270m"), fake)
    assert asked == {"gemma-3-270m"}
    assert record["model"] == {"base": "gemma-3-270m", "adapter": None, "revision": None}


async def test_nothing_shipped_asks_for_the_base_and_loads_nothing(tmp_path):
    fake = FakeOpenAI(answers={"Eiffel": "1889"})
    with fake:
        record, asked = await run(config(tmp_path, tmp_path / "none"), fake)
        assert fake.models == ["fake-instruct"]
    assert asked == {"gemma-3-270m"}
    assert record["model"]["adapter"] is None


async def test_a_promoted_workspace_adapter_wins_over_the_shipped_one(tmp_path, adapter):
    shipped = write_shipped(adapter, tmp_path / SHIPPED_NAME, {"base_model": {"name": "gemma-3-270m"}})
    cfg = config(tmp_path, shipped.path)
    registry = AdapterRegistry(cfg.adapters_dir)
    entry = registry.add("mine", adapter, source="test", base_model="gemma-3-270m")
    registry.set_default("mine")
    fake = FakeOpenAI(answers={"Eiffel": "1889"})
    with fake:
        record, asked = await run(cfg, fake)
        assert {"mine", SHIPPED_NAME} <= set(fake.models)  # every adapter of the workspace is served
    assert asked == {"mine"}
    assert record["model"] == {"base": "gemma-3-270m", "adapter": "mine", "revision": entry.sha256}


async def test_auto_mode_is_the_shipped_cards_mode_for_the_task_kind(tmp_path, adapter):
    card = {"base_model": {"name": "gemma-3-270m"}, "default_mode": {"default": "plan", "single": "react"}}
    shipped = write_shipped(adapter, tmp_path / SHIPPED_NAME, card)
    cfg = AgentConfig(home=tmp_path / "home", shipped_reasoner=shipped.path, web="wiki", protocol="native")
    assert cfg.mode == "auto"
    fake = FakeOpenAI(answers={"Eiffel": "1889"})
    modes = {}
    with fake:
        record_server(cfg.home, fake)
        async with ResearchAgent(cfg) as agent:
            for kind in ("single", "bridge"):
                result = await agent.research(QUESTION, task={"id": kind, "answers": ["1889"], "kind": kind})
                modes[kind] = agent.store.get_run(result.trajectory_id)["mode"]
            # the base model has no card: auto is plan, as before
            result = await agent.research(QUESTION, model="gemma-3-270m", task={"id": "b", "kind": "single"})
            modes["base"] = agent.store.get_run(result.trajectory_id)["mode"]
    assert modes == {"single": "react", "bridge": "plan", "base": "plan"}


def _focused(record: dict) -> bool:
    """Whether the run's `open` observation listed the sentences closest to the question."""
    opened = [m["content"] for m in record["messages"] if m["role"] == "tool" and "Title:" in str(m["content"])]
    assert opened, "the scripted run opened no page"
    return any("Closest to the question:" in text for text in opened)


async def test_the_shipped_reasoner_is_served_with_the_research_settings_its_card_records(tmp_path, adapter):
    # trained and measured without focused reading: its runs read pages the same way
    card = {"base_model": {"name": "gemma-3-270m"}, "research": {"focus_reading": False, "answer_spans": True}}
    shipped = write_shipped(adapter, tmp_path / SHIPPED_NAME, card)
    fake = FakeOpenAI(answers={"Eiffel": "1889"})
    seen = {}
    with fake:
        for label, cfg, model in [("shipped", config(tmp_path, shipped.path), None),
                                  ("base", config(tmp_path, shipped.path), "gemma-3-270m"),
                                  ("set", config(tmp_path, shipped.path, focus_reading=True), None)]:
            record_server(cfg.home, fake)
            async with ResearchAgent(cfg) as agent:
                result = await agent.research(QUESTION, model=model, task={"id": label, "answers": ["1889"]})
            seen[label] = (result.record["model"].get("adapter"), _focused(result.record))
    # the card's setting for the shipped reasoner; the default (on) for a model without one;
    # a setting the user gave wins over the card
    assert seen == {"shipped": (SHIPPED_NAME, False), "base": (None, True), "set": (SHIPPED_NAME, True)}
    from agent.runtime import research_setting

    cfg = config(tmp_path, shipped.path)
    assert research_setting(cfg, SHIPPED_NAME, "answer_spans") is True  # the card's
    assert research_setting(cfg, "gemma-3-270m", "answer_spans") is False  # the default, for a model without one
    assert research_setting(config(tmp_path, shipped.path, answer_spans=False), SHIPPED_NAME, "answer_spans") is False


def test_focus_reading_auto_is_unset(tmp_path):
    from agent.config import load_config

    env = {"DEEPSTAR_HOME": str(tmp_path)}
    assert load_config(environ=env).focus_reading is None
    assert load_config(environ={**env, "DEEPSTAR_FOCUS_READING": "auto"}).focus_reading is None
    assert load_config(environ={**env, "DEEPSTAR_FOCUS_READING": "false"}).focus_reading is False
