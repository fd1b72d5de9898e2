from __future__ import annotations

import asyncio

import httpx
import pytest

from tools.errors import BlockedURL, ToolError
from tools.fetch import FetchConfig, Fetcher
from tools.search_wiki import WikiSearchProvider
from tools.toolbox import Toolbox
from tools.website import WIKI_HOST, WIKI_ORIGIN, TitleMatcher, WikiSite, legacy_wiki_url
from tools.wiki_corpus import load_corpus

pytestmark = pytest.mark.integration


def test_title_matcher(tiny_corpus_file) -> None:
    corpus = load_corpus(tiny_corpus_file)
    matcher = TitleMatcher(corpus.articles)
    hits = [(a.title, s, e) for s, e, a in matcher.matches("The eiffel tower of Paris, not paris.")]
    assert hits == [("Eiffel Tower", 4, 16), ("Paris", 20, 25)]


def test_non_loopback_needs_explicit_flag(corpus, wiki_index) -> None:
    with pytest.raises(ToolError):
        WikiSite(corpus, wiki_index, host="0.0.0.0", port=0)


async def test_pages(wiki_site) -> None:
    async with httpx.AsyncClient(base_url=wiki_site.url) as client:
        index = await client.get("/")
        assert index.status_code == 200 and "/topic/People" in index.text
        topic = await client.get("/topic/Arts")
        assert topic.status_code == 200 and "/wiki/Eiffel_Tower" in topic.text
        article = await client.get("/wiki/Eiffel_Tower")
        assert article.status_code == 200
        assert "<h1>Eiffel Tower</h1>" in article.text and "lattice tower" in article.text
        assert '<a href="/wiki/Gustave_Eiffel">Gustave Eiffel</a>' in article.text
        assert '<a href="/wiki/Eiffel_Tower">' not in article.text  # no self link
        assert (await client.get("/wiki/HIV%2FAIDS")).status_code == 200
        assert (await client.get("/wiki/No_Such_Article_xyz")).status_code == 404
        assert (await client.get("/nope")).status_code == 404
        assert (await client.get("/search")).status_code == 400
        assert (await client.get("/search", params={"q": " "})).status_code == 400
        robots = await client.get("/robots.txt")
        assert robots.status_code == 200 and "Allow: /" in robots.text


async def test_search_json_and_html(wiki_site) -> None:
    async with httpx.AsyncClient(base_url=wiki_site.url) as client:
        data = (await client.get("/search", params={"q": "eiffel tower", "format": "json"})).json()
        assert data["query"] == "eiffel tower"
        top = data["results"][0]
        assert top["title"] == "Eiffel Tower" and top["url"] == f"{wiki_site.url}/wiki/Eiffel_Tower"
        assert "**Eiffel**" in top["content"] and top["engine"] and isinstance(top["score"], float)
        page = await client.get("/search", params={"q": "eiffel tower"})
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert 'href="/wiki/Eiffel_Tower"' in page.text


async def test_32_concurrent_requests(wiki_site, corpus) -> None:
    paths = [a.path for a in corpus.articles[:32]]
    async with httpx.AsyncClient(base_url=wiki_site.url, limits=httpx.Limits(max_connections=32)) as client:
        responses = await asyncio.gather(*(client.get(p) for p in paths))
    assert [r.status_code for r in responses] == [200] * 32


async def test_searxng_provider_against_site(wiki_site) -> None:
    provider = WikiSearchProvider(wiki_site.url)
    results = await provider.search("mona lisa painting", 3)
    await provider.aclose()
    assert results[0].title == "Mona Lisa" and results[0].provider == "wiki" and len(results) == 3


async def test_toolbox_round_trip_over_http(wiki_site) -> None:
    host_port = wiki_site.url.split("//")[1]
    provider = WikiSearchProvider(wiki_site.url)
    async with Fetcher(FetchConfig(allow_hosts={host_port})) as fetcher:
        box = Toolbox(provider, fetcher, observation_chars=2400, search_results=3)
        found = await box.call("search", {"query": "Who designed the Eiffel Tower?"})
        assert found.ok and f"{wiki_site.url}/wiki/Eiffel_Tower" in found.text
        opened = await box.call("open", {"url": f"{wiki_site.url}/wiki/Eiffel_Tower"})
        assert opened.ok and opened.page.title.startswith("Eiffel Tower")
        assert "Gustave Eiffel" in opened.text and "Offline Wiki</a>" not in opened.text
        assert "Article summaries from Wikipedia" not in opened.page.text  # footer dropped
        assert any(link.url.endswith("/wiki/Gustave_Eiffel") for link in opened.page.links)
        hit = await box.call("find", {"url": f"{wiki_site.url}/wiki/Eiffel_Tower", "pattern": "1889"})
        assert hit.ok and "1889" in hit.text
    await provider.aclose()


async def test_the_in_process_transport_serves_what_the_http_site_serves(wiki_site) -> None:
    paths = ["/", "/topic/Arts", "/wiki/Eiffel_Tower", "/wiki/HIV%2FAIDS", "/wiki/No_Such_Article_xyz", "/nope",
             "/search", "/search?q=eiffel+tower", "/robots.txt"]
    async with httpx.AsyncClient(base_url=wiki_site.url) as over_http, \
            httpx.AsyncClient(base_url=WIKI_ORIGIN, transport=wiki_site.transport()) as in_process:
        for path in paths:
            a, b = await over_http.get(path), await in_process.get(path)
            assert (a.status_code, a.headers["content-type"], a.content) == \
                (b.status_code, b.headers["content-type"], b.content), path
        data = (await in_process.get("/search", params={"q": "eiffel tower", "format": "json"})).json()
        assert data["results"][0]["url"] == "http://wiki.deepstar/wiki/Eiffel_Tower"
        assert (await in_process.head("/wiki/Eiffel_Tower")).content == b""
        other = await in_process.get("http://elsewhere.test/wiki/Eiffel_Tower")
        assert other.status_code == 404  # only its own origin


def test_legacy_wiki_urls_map_onto_the_stable_origin() -> None:
    assert legacy_wiki_url("http://127.0.0.1:8021/wiki/Eiffel_Tower") == "http://wiki.deepstar/wiki/Eiffel_Tower"
    assert legacy_wiki_url("http://localhost:36513/topic/Arts") == "http://wiki.deepstar/topic/Arts"
    assert legacy_wiki_url("http://127.0.0.1/wiki/A?x=1") == "http://wiki.deepstar/wiki/A?x=1"
    for other in ("http://127.0.0.1:8021/admin", "https://127.0.0.1:8021/wiki/A", "http://10.0.0.1/wiki/A",
                  "http://example.com/wiki/A", "http://127.0.0.1:bad/wiki/A", "not a url"):
        assert legacy_wiki_url(other) is None, other


async def test_the_fetcher_serves_the_stable_origin_without_dns_or_sockets(wiki_site) -> None:
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    async with Fetcher(FetchConfig(), sites={WIKI_HOST: wiki_site.transport()}, resolver=resolve,
                       aliases=legacy_wiki_url) as fetcher:
        page = await fetcher.fetch("http://wiki.deepstar/wiki/Eiffel_Tower")
        legacy = await fetcher.fetch(f"{wiki_site.url}/wiki/Eiffel_Tower")  # the bound site's own URL
    assert page.final_url == legacy.final_url == "http://wiki.deepstar/wiki/Eiffel_Tower"
    assert page.text == legacy.text and "Gustave Eiffel" in page.text
    assert asked == []  # the name was never resolved, the bound port never connected to
    # without the transport, the name is refused before any DNS
    async with Fetcher(FetchConfig(), resolver=resolve) as fetcher:
        with pytest.raises(BlockedURL):
            await fetcher.fetch("http://wiki.deepstar/wiki/Eiffel_Tower")
    async with Fetcher(FetchConfig(allow_hosts={"wiki.deepstar"}), resolver=resolve) as fetcher:
        with pytest.raises(BlockedURL):  # not even an allow-list sends it to the network
            await fetcher.fetch("http://wiki.deepstar/wiki/Eiffel_Tower")
    assert asked == []
