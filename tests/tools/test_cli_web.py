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
async def test_open_web_serves_the_wiki_in_process_at_its_stable_origin(tmp_path) -> None:
    cfg = load_config({"home": tmp_path, "web": "wiki"}, environ={})
    async with open_web(cfg) as box:
        found = await box.call("search", {"query": "Mona Lisa"})
        assert found.ok
        url = next(line.strip() for line in found.text.splitlines() if "/wiki/Mona_Lisa" in line)
        opened = await box.call("open", {"url": url})
        assert opened.ok and "Leonardo" in opened.text
        assert url == "http://wiki.deepstar/wiki/Mona_Lisa" and opened.url == url
        # the stable origin opens no hole: other ports and schemes of the name, and loopback, stay refused
        for other in ("http://wiki.deepstar:8021/wiki/Mona_Lisa", "https://wiki.deepstar/wiki/Mona_Lisa",
                      "http://127.0.0.1:1/", "http://sub.wiki.deepstar/wiki/Mona_Lisa"):
            refused = await box.call("open", {"url": other})
            assert not refused.ok and "refused to fetch" in refused.error, other
        # a URL recorded before the stable origin (any port) opens the same page
        legacy = await box.call("open", {"url": "http://127.0.0.1:36513/wiki/Mona_Lisa"})
        assert legacy.ok and legacy.url == url and legacy.page.text == opened.page.text
    assert cfg.pages_path.exists()


@pytest.mark.integration
def test_search_and_fetch_print_the_stable_urls(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DEEPSTAR_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as info:
        main(["search", "eiffel tower", "--limit", "1", "--json"])
    assert info.value.code == 0
    assert json.loads(capsys.readouterr().out)[0]["url"] == "http://wiki.deepstar/wiki/Eiffel_Tower"
    with pytest.raises(SystemExit) as info:
        main(["fetch", "http://127.0.0.1:8021/wiki/Eiffel_Tower", "--json"])
    assert info.value.code == 0
    page = json.loads(capsys.readouterr().out)
    assert page["final_url"] == "http://wiki.deepstar/wiki/Eiffel_Tower" and "Gustave Eiffel" in page["text"]
