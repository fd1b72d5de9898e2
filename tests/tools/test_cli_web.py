"""The web CLI commands and `agent.web` wiring (they live in agent/, they test the web layer)."""

from __future__ import annotations

import json

import pytest

from agent.cli import main
from agent.config import load_config
from agent.web import fetch_config_from, open_web


def test_fetch_refused_exits_nonzero_with_reason(capsys, tmp_path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["fetch", "http://169.254.169.254/latest/meta-data/"])
    assert info.value.code == 2
    assert "cloud metadata" in capsys.readouterr().err


def test_fetch_config_from() -> None:
    cfg = load_config({"allow_hosts": ["a.test"], "fetch_timeout_s": 3.0}, environ={})
    fc = fetch_config_from(cfg, extra_allow=("127.0.0.1:1234",))
    assert fc.allow_hosts == {"a.test", "127.0.0.1:1234"} and fc.timeout_s == 3.0
    assert fc.max_bytes == cfg.fetch_max_bytes and fc.respect_robots == cfg.respect_robots


@pytest.mark.integration
def test_search_wiki_json(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DEEPSTAR_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as info:
        main(["search", "eiffel tower", "--limit", "2", "--json"])
    assert info.value.code == 0
    results = json.loads(capsys.readouterr().out)
    assert results[0]["title"] == "Eiffel Tower" and len(results) == 2


@pytest.mark.integration
async def test_open_web_starts_and_allow_lists_the_wiki(tmp_path) -> None:
    cfg = load_config({"home": tmp_path, "web": "wiki"}, environ={})
    async with open_web(cfg) as box:
        found = await box.call("search", {"query": "Mona Lisa"})
        assert found.ok
        url = next(line.strip() for line in found.text.splitlines() if "/wiki/Mona_Lisa" in line)
        opened = await box.call("open", {"url": url})
        assert opened.ok and "Leonardo" in opened.text
        refused = await box.call("open", {"url": url.rsplit(":", 1)[0] + ":1/"})
        assert not refused.ok and "loopback" in refused.error  # only the site's own port
    assert cfg.pages_path.exists()
