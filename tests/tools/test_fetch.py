from __future__ import annotations

import json
import time

import httpx
import pytest

from tools.errors import (
    BlockedURL,
    DecodeError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    TooLarge,
    TooManyRedirects,
    UnsupportedContent,
)
from tools.fetch import FetchConfig, Fetcher
from tools.page_store import PageStore

from .conftest import html_page

HTML = {"Content-Type": "text/html; charset=utf-8"}


def fetcher_for(*servers, **overrides) -> Fetcher:
    cfg = {"allow_hosts": frozenset(s.host_port for s in servers), "timeout_s": 2.0, **overrides}
    return Fetcher(FetchConfig(**cfg))


def endless(chunk: bytes):
    def write(handler) -> None:
        for _ in range(10_000):
            handler.wfile.write(chunk)
    return write


async def test_html_page(local_server) -> None:
    srv = local_server({"/a": (200, HTML, html_page("A page", "<h1>Hello</h1><p>World <a href='/b'>b</a></p>"))})
    async with fetcher_for(srv) as f:
        page = await f.fetch(srv.url + "/a")
    assert page.status == 200 and page.title == "A page" and page.content_type == "text/html"
    assert page.text == "# Hello\nWorld b"
    assert page.links[0].url == srv.url + "/b"
    assert len(page.content_hash) == 64 and page.fetched_at and not page.truncated


async def test_json_and_text_and_meta_charset(local_server) -> None:
    latin = "<html><head><meta charset='iso-8859-1'></head><body><p>café</p></body></html>".encode("latin-1")
    srv = local_server({
        "/j": (200, {"Content-Type": "application/json"}, b'{"b": [1, 2], "a": "x"}'),
        "/t": (200, {"Content-Type": "text/plain; charset=utf-8"}, "plain ü".encode()),
        "/l": (200, {"Content-Type": "text/html"}, latin),
        "/sniff": (200, {}, b"<!doctype html><title>S</title><p>sniffed</p>"),
    })
    async with fetcher_for(srv) as f:
        j = await f.fetch(srv.url + "/j")
        assert json.loads(j.text) == {"b": [1, 2], "a": "x"} and "\n" in j.text
        assert (await f.fetch(srv.url + "/t")).text == "plain ü"
        assert (await f.fetch(srv.url + "/l")).text == "café"
        sniffed = await f.fetch(srv.url + "/sniff")
        assert sniffed.title == "S" and sniffed.text == "sniffed"


async def test_size_cap_truncates_text_and_refuses_unknown(local_server) -> None:
    srv = local_server({
        "/big.txt": (200, {"Content-Type": "text/plain"}, endless(b"x" * 65536)),
        "/big": (200, {}, endless(b"y" * 65536)),
    })
    async with fetcher_for(srv, max_bytes=100_000) as f:
        page = await f.fetch(srv.url + "/big.txt")
        assert page.truncated and len(page.text) == 100_000
        with pytest.raises(TooLarge):
            await f.fetch(srv.url + "/big")


async def test_binary_and_pdf_refused(local_server) -> None:
    srv = local_server({
        "/img": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100),
        "/doc.pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4 ..."),
        "/blob": (200, {}, b"\x00\x01\x02binary"),
    })
    async with fetcher_for(srv) as f:
        for path in ("/img", "/doc.pdf", "/blob"):
            with pytest.raises(UnsupportedContent):
                await f.fetch(srv.url + path)


async def test_undecodable_bytes(local_server) -> None:
    import random
    noise = random.Random(1).randbytes(4000)
    srv = local_server({"/n": (200, {"Content-Type": "text/plain; charset=utf-8"}, noise)})
    async with fetcher_for(srv) as f:
        with pytest.raises(DecodeError):
            await f.fetch(srv.url + "/n")


@pytest.mark.parametrize("status", [404, 500])
async def test_http_errors(local_server, status: int) -> None:
    srv = local_server({"/e": (status, {"Content-Type": "text/plain"}, b"oops")})
    async with fetcher_for(srv) as f:
        with pytest.raises(HTTPStatusError) as info:
            await f.fetch(srv.url + "/e")
    assert info.value.status == status and info.value.url


async def test_redirects_loop_and_limit(local_server) -> None:
    routes = {
        "/loop1": (302, {"Location": "/loop2"}, b""),
        "/loop2": (302, {"Location": "/loop1"}, b""),
        "/ok": (301, {"Location": "/final"}, b""),
        "/final": (200, HTML, html_page("Final", "<p>arrived</p>")),
    }
    for i in range(8):
        routes[f"/chain{i}"] = (302, {"Location": f"/chain{i + 1}"}, b"")
    srv = local_server(routes)
    async with fetcher_for(srv) as f:
        page = await f.fetch(srv.url + "/ok")
        assert page.final_url == srv.url + "/final" and page.url == srv.url + "/ok"
        with pytest.raises(TooManyRedirects):
            await f.fetch(srv.url + "/loop1")
        with pytest.raises(TooManyRedirects):
            await f.fetch(srv.url + "/chain0")


async def test_redirect_to_non_allow_listed_loopback_is_refused(local_server) -> None:
    inner = local_server({"/secret": (200, {"Content-Type": "text/plain"}, b"internal secret")})
    outer = local_server({"/go": (302, {"Location": inner.url + "/secret"}, b"")})
    async with fetcher_for(outer) as f:  # only the first server is allow-listed (host:port)
        with pytest.raises(BlockedURL) as info:
            await f.fetch(outer.url + "/go")
    assert "loopback" in info.value.reason


async def test_timeout(local_server) -> None:
    def slow(handler) -> None:
        time.sleep(1.5)
    srv = local_server({"/slow": (200, {"Content-Type": "text/plain"}, slow)})
    async with fetcher_for(srv, timeout_s=0.3) as f:
        with pytest.raises(FetchTimeout):
            await f.fetch(srv.url + "/slow")


async def test_robots_disallow_is_honoured(local_server) -> None:
    srv = local_server({
        "/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private\n"),
        "/private/x": (200, HTML, html_page("P", "<p>private</p>")),
        "/public": (200, HTML, html_page("Q", "<p>public</p>")),
    })
    async with fetcher_for(srv) as f:
        assert (await f.fetch(srv.url + "/public")).text == "public"
        with pytest.raises(BlockedURL) as info:
            await f.fetch(srv.url + "/private/x")
        assert "robots" in info.value.reason
    async with fetcher_for(srv, respect_robots=False) as f:
        assert (await f.fetch(srv.url + "/private/x")).text == "private"


@pytest.mark.parametrize("status", [404, 503])
async def test_robots_missing_or_failing_allows(local_server, status: int) -> None:
    srv = local_server({"/robots.txt": (status, {"Content-Type": "text/plain"}, b"Disallow: /"),
                        "/p": (200, HTML, html_page("P", "<p>fine</p>"))})
    async with fetcher_for(srv) as f:
        assert (await f.fetch(srv.url + "/p")).text == "fine"


async def test_page_store_snapshots_and_freshness(local_server, tmp_path) -> None:
    srv = local_server({"/p": (200, HTML, html_page("P", "<p>stored</p>"))})
    store = PageStore(tmp_path / "pages.db")
    async with fetcher_for(srv, freshness_s=3600) as f:
        f.page_store = store
        first = await f.fetch(srv.url + "/p")
        srv.routes["/p"] = (500, {}, b"")
        again = await f.fetch(srv.url + "/p")
    assert not first.from_cache and again.from_cache
    assert again.text == "stored" and again.content_hash == first.content_hash
    assert store.get_by_hash(first.content_hash).url == srv.url + "/p"
    assert store.get_fresh(srv.url + "/p", 0) is None
    store.close()


async def test_injected_client_is_used_and_not_closed(local_server) -> None:
    srv = local_server({"/p": (200, HTML, html_page("P", "<p>x</p>"))})
    client = httpx.AsyncClient()
    async with Fetcher(FetchConfig(allow_hosts={srv.host_port}), client=client) as f:
        await f.fetch(srv.url + "/p")
    assert not client.is_closed
    await client.aclose()


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        FetchConfig(timeout_s=0)
    with pytest.raises(ValueError):
        FetchConfig(max_bytes=0)


async def test_a_cached_page_is_not_served_where_the_guard_now_refuses(local_server, tmp_path) -> None:
    srv = local_server({"/p": (200, HTML, html_page("P", "<p>stored</p>"))})
    store = PageStore(tmp_path / "pages.db")
    async with Fetcher(FetchConfig(allow_hosts={srv.host_port}, freshness_s=3600), page_store=store) as f:
        assert not (await f.fetch(srv.url + "/p")).from_cache
        assert (await f.fetch(srv.url + "/p")).from_cache
    # the allow-list no longer names the host: the fresh snapshot must not be served
    async with Fetcher(FetchConfig(freshness_s=3600), page_store=store) as f:
        with pytest.raises(BlockedURL) as info:
            await f.fetch(srv.url + "/p")
    assert "loopback" in info.value.reason
    store.close()


async def test_a_cached_page_is_not_served_where_robots_now_disallows(local_server, tmp_path) -> None:
    srv = local_server({"/p": (200, HTML, html_page("P", "<p>stored</p>"))})
    store = PageStore(tmp_path / "pages.db")
    async with fetcher_for(srv, freshness_s=3600) as f:
        f.page_store = store
        await f.fetch(srv.url + "/p")
    srv.routes["/robots.txt"] = (200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /p\n")
    async with fetcher_for(srv, freshness_s=3600) as f:
        f.page_store = store
        with pytest.raises(BlockedURL) as info:
            await f.fetch(srv.url + "/p")
    assert "robots" in info.value.reason
    store.close()


async def test_no_basic_credentials_are_sent_for_a_named_host(local_server) -> None:
    seen: list[dict[str, str]] = []

    def record(handler) -> None:
        seen.append(dict(handler.headers))
        handler.wfile.write(html_page("P", "<p>hello</p>"))

    srv = local_server({"/p": (200, HTML, record)})

    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async with Fetcher(FetchConfig(allow_hosts={f"named.test:{srv.port}"}, respect_robots=False,
                                   timeout_s=2.0), resolver=resolve) as f:
        page = await f.fetch(f"http://user:secret@named.test:{srv.port}/p")
    assert page.text == "hello"
    assert seen and not any(k.lower() == "authorization" for k in seen[0]), seen
    assert seen[0]["Host"] == f"named.test:{srv.port}"


@pytest.mark.parametrize("robots", [False, True])
async def test_a_name_that_rebinds_to_loopback_is_never_connected_to_there(monkeypatch, robots: bool) -> None:
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted.append(conn)
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    answers: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:  # public when checked, loopback afterwards
        answers.append("93.184.216.34" if not answers else "127.0.0.1")
        return [answers[-1]]

    real = socket.getaddrinfo

    def rebound(host, *args, **kwargs):  # any resolution behind the guard's back gets loopback too
        return real("127.0.0.1" if host in ("rebind.test", b"rebind.test") else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebound)
    try:
        async with Fetcher(FetchConfig(timeout_s=0.5, respect_robots=robots), resolver=resolve) as f:
            with pytest.raises((BlockedURL, FetchError)):
                await f.fetch(f"http://rebind.test:{port}/secret")
            with pytest.raises((BlockedURL, FetchError)):
                await f.fetch(f"http://rebind.test:{port}/secret")
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert answers[0] == "93.184.216.34" and "127.0.0.1" in answers  # the rebinding really happened
    assert accepted == []
