from __future__ import annotations

import sys

import httpx
import pytest

from tools.errors import MissingExtra, SearchError
from tools.search import SearchProvider, make_search_provider
from tools.search_ddgs import DdgsProvider
from tools.search_searxng import SearxngProvider
from tools.search_wiki import WikiSearchProvider


def mock_client(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_searxng_parses_results() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/search"
        assert request.url.params["q"] == "tower" and request.url.params["format"] == "json"
        return httpx.Response(200, json={"query": "tower", "results": [
            {"title": "A", "url": "http://a/", "content": "sa"},
            {"title": "no url"},
            {"title": "B", "url": "http://b/", "content": "sb"},
            {"title": "C", "url": "http://c/"}]})
    async with mock_client(handler) as client:
        results = await SearxngProvider("http://sx/", client=client).search("tower", 2)
    assert [(r.title, r.url, r.snippet, r.rank, r.provider) for r in results] == [
        ("A", "http://a/", "sa", 1, "searxng"), ("B", "http://b/", "sb", 2, "searxng")]


@pytest.mark.parametrize("response", [httpx.Response(500), httpx.Response(200, text="<html>"),
                                      httpx.Response(200, json={"no": "results"})])
async def test_searxng_failures(response: httpx.Response) -> None:
    async with mock_client(lambda request: response) as client:
        with pytest.raises(SearchError):
            await SearxngProvider("http://sx", client=client).search("q", 5)


async def test_searxng_connection_error_and_empty_query() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)
    async with mock_client(handler) as client:
        provider = SearxngProvider("http://sx", client=client)
        with pytest.raises(SearchError):
            await provider.search("q", 5)
        with pytest.raises(SearchError):
            await provider.search(" ", 5)


async def test_ddgs_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ddgs", None)
    with pytest.raises(MissingExtra) as info:
        await DdgsProvider().search("q", 3)
    assert info.value.extra == "web" and "deepstar[web]" in str(info.value)


async def test_factory() -> None:
    wiki = make_search_provider("wiki", wiki_url="http://127.0.0.1:1")
    assert isinstance(wiki, WikiSearchProvider) and wiki.name == "wiki"
    assert isinstance(wiki, SearchProvider)
    assert isinstance(make_search_provider("ddgs"), DdgsProvider)
    await wiki.aclose()
    for name, kwargs in (("wiki", {}), ("searxng", {}), ("bing", {})):
        with pytest.raises(SearchError):
            make_search_provider(name, **kwargs)
