"""Secrets never stored or exported: the config's API key, passwords in configured URLs,
and Authorization headers (or any key named like a secret) inside stored records."""

from __future__ import annotations

import json

from agent.config import AgentConfig
from agent.store import TrajectoryStore
from evals.export import EXPORT_FORMATS, write_export


def test_config_as_stored_has_no_key_and_no_url_password(tmp_path):
    cfg = AgentConfig(home=tmp_path, api_key="sk-abc", base_url="https://bob:hunter2@llm.example/v1",
                      web="searxng", searxng_url="http://:tok3n@search.example:8888/", wiki_url="http://w.example/")
    stored = json.dumps(cfg.redacted())
    assert "sk-abc" not in stored and "hunter2" not in stored and "tok3n" not in stored
    red = cfg.redacted()
    assert red["api_key"] == "***"
    assert red["base_url"] == "https://bob:***@llm.example/v1"
    assert red["searxng_url"] == "http://:***@search.example:8888/"
    assert red["wiki_url"] == "http://w.example/"  # nothing to hide: unchanged


def test_authorization_headers_in_records_are_redacted_in_the_store_and_every_export(tmp_path):
    secret = "Bearer sk-header-7f3a"
    record = {"id": "t1", "question": "q", "final_answer": "a", "success": True,
              "messages": [{"role": "user", "content": "q"}], "tools": [],
              "engine": {"name": "vllm", "request": {"headers": {"Authorization": secret, "X-API-Key": "k-99",
                                                                 "Accept": "application/json"}}},
              "sampling": {"api_key": "sk-in-sampling", "temperature": 0.0}}
    store = TrajectoryStore(tmp_path / "deepstar.db")
    store.create_run("r1", "q", "react", {"api_key": "sk-run", "nested": {"token": "tok-nested-1"}})
    store.add_step("r1", kind="llm", node="n", branch="b", input={"headers": {"authorization": secret}})
    store.save_trajectory(record)
    records = list(store.iter_trajectories())
    assert records[0]["engine"]["request"]["headers"] == {"Authorization": "***", "X-API-Key": "***",
                                                          "Accept": "application/json"}
    store.close()
    for fmt in EXPORT_FORMATS:
        write_export(records, fmt, tmp_path / "out" / fmt / "data")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for value in (b"sk-header-7f3a", b"k-99", b"sk-in-sampling", b"sk-run", b"tok-nested-1"):
                assert value not in data, (path, value)
