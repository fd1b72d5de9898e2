"""The offline wiki website (`deepstar web serve`): article pages, topics, and search.

Routes: `/` (topics), `/topic/<name>`, `/wiki/<slug>` (one page per article, with links
to every other article whose title occurs in its text), `/search?q=…` (HTML) and
`/search?q=…&format=json` (SearXNG's JSON shape), `/robots.txt` (allow all).
Unknown paths are 404, a missing or empty `q` is 400.

Served two ways, one set of routes (`WikiSite.respond`):
- in-process, at the one stable origin `http://wiki.deepstar` (`WIKI_ORIGIN`), through an
  httpx transport (`WikiSite.transport()`): what research runs use, so a page's URL is
  the same in every run and session, whatever port is free. No socket is opened and the
  name is never resolved: the fetcher hands exactly this host to this transport, and the
  SSRF guard refuses every `*.deepstar` name otherwise;
- over HTTP for browsers (`deepstar web serve`): the stdlib `ThreadingHTTPServer`
  (HTTP/1.1 keep-alive, daemon threads), bound to loopback unless the caller passes
  `allow_public=True`.
Each article's links are computed on first request and cached. URLs recorded before the
stable origin (`http://127.0.0.1:PORT/wiki/...`, any port) still open: `legacy_wiki_url`
maps them onto it.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import json
import re
import sys
import threading
import time
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

import httpx

from tools.errors import SearchError, ToolError
from tools.wiki_corpus import Article, Corpus
from tools.wiki_index import WikiIndex

__all__ = ["WIKI_HOST", "WIKI_ORIGIN", "TitleMatcher", "WikiSite", "WikiTransport", "is_loopback_host",
           "legacy_wiki_url"]

WIKI_HOST = "wiki.deepstar"
WIKI_ORIGIN = f"http://{WIKI_HOST}"
_LEGACY_PATHS = ("/wiki/", "/topic/")

_TOKEN = re.compile(r"\w+", re.UNICODE)
_ENGINE = "deepstar-wiki"
_CSS = ("body{font-family:sans-serif;max-width:50em;margin:auto;padding:1em;line-height:1.5}"
        "header,footer{color:#555;font-size:.9em}")


def is_loopback_host(host: str) -> bool:
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def legacy_wiki_url(url: str) -> str | None:
    """`http://127.0.0.1:PORT/wiki/X` (or `localhost`, any port: the site's URLs before the
    stable origin) as `http://wiki.deepstar/wiki/X`; None for any other URL."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 -- raises on a malformed port
    except ValueError:
        return None
    if parts.scheme != "http" or host not in ("127.0.0.1", "localhost") or not parts.path.startswith(_LEGACY_PATHS):
        return None
    return WIKI_ORIGIN + parts.path + (f"?{parts.query}" if parts.query else "")


class TitleMatcher:
    """Finds article titles in text by token sequences (longest first, non-overlapping).

    Multi-word titles match case-insensitively; single-word titles only with their exact
    capitalization, so "Art" links "Art" but not every "art".
    """

    def __init__(self, articles: list[Article]) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], Article]]] = {}
        for article in articles:
            tokens = tuple(t.lower() for t in _TOKEN.findall(article.title))
            if tokens:
                self._by_first.setdefault(tokens[0], []).append((tokens, article))
        for entries in self._by_first.values():
            entries.sort(key=lambda e: -len(e[0]))

    def matches(self, text: str) -> list[tuple[int, int, Article]]:
        spans = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
        lowered = [s[2].lower() for s in spans]
        out: list[tuple[int, int, Article]] = []
        i = 0
        while i < len(spans):
            hit = None
            for tokens, article in self._by_first.get(lowered[i], ()):
                n = len(tokens)
                if tuple(lowered[i:i + n]) != tokens:
                    continue
                if n == 1 and spans[i][2] != article.title:
                    continue
                hit = (spans[i][0], spans[i + n - 1][1], article, n)
                break
            if hit:
                out.append(hit[:3])
                i += hit[3]
            else:
                i += 1
        return out


def _layout(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)} — Offline Wiki</title><style>{_CSS}</style></head><body>"
        "<header><nav class=site-nav><a href=\"/\">Offline Wiki</a> · "
        "<form action=\"/search\" method=get style=display:inline>"
        "<input name=q placeholder=Search><button>Search</button></form></nav></header>"
        f"<main>{body}</main>"
        "<footer>Article summaries from Wikipedia (CC BY-SA), served offline by deepstar.</footer>"
        "</body></html>").encode()


class WikiSite:
    def __init__(self, corpus: Corpus, index: WikiIndex, host: str = "127.0.0.1", port: int = 8021,
                 *, allow_public: bool = False) -> None:
        if not allow_public and not is_loopback_host(host):
            raise ToolError(f"refusing to serve on non-loopback host {host!r} without allow_public=True")
        self.corpus = corpus
        self.index = index
        self.host = host
        self.port = port
        self.matcher = TitleMatcher(corpus.articles)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.started_in_s: float | None = None
        self._article_html = lru_cache(maxsize=4096)(self._render_article)

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def bind(self) -> None:
        t0 = time.perf_counter()
        site = self

        class Handler(_Handler):
            wiki = site

        server = _Server((self.host, self.port), Handler, bind_and_activate=False)
        server.daemon_threads = True
        server.request_queue_size = 256
        server.allow_reuse_address = True
        try:
            server.server_bind()
            server.server_activate()
        except OSError:
            server.server_close()
            raise
        self.port = server.server_address[1]
        self._server = server
        self.started_in_s = time.perf_counter() - t0

    def start(self) -> WikiSite:
        """Bind and serve from a background (daemon) thread; returns self."""
        if self._server is None:
            self.bind()
        assert self._server is not None
        self._thread = threading.Thread(target=self._server.serve_forever, name="wiki-site",
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Bind (if needed) and serve in the calling thread until interrupted."""
        if self._server is None:
            self.bind()
        assert self._server is not None
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._server.server_close()

    def stop(self) -> None:
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
                self._thread.join(timeout=5)
            self._server.server_close()
        self._server = None
        self._thread = None

    def __enter__(self) -> WikiSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- pages -------------------------------------------------------------------------------

    def linked(self, text: str, exclude: Article | None = None) -> str:
        out, last = [], 0
        for start, end, article in self.matcher.matches(text):
            if article is exclude:
                continue
            out.append(html.escape(text[last:start]))
            out.append(f'<a href="{article.path}">{html.escape(text[start:end])}</a>')
            last = end
        out.append(html.escape(text[last:]))
        return "".join(out)

    def _render_article(self, slug: str) -> bytes | None:
        article = self.corpus.lookup(slug)
        if article is None:
            return None
        topic = html.escape(article.topic)
        body = (f"<article><h1>{html.escape(article.title)}</h1>"
                f"<p class=description><em>{self.linked(article.description, article)}</em></p>"
                f"<p>{self.linked(article.extract, article)}</p>"
                f"<p>Topic: <a href=\"/topic/{quote(article.topic)}\">{topic}</a></p></article>")
        return _layout(article.title, body)

    def article_page(self, slug: str) -> bytes | None:
        return self._article_html(slug)

    def index_page(self) -> bytes:
        items = "".join(
            f'<li><a href="/topic/{quote(t)}">{html.escape(t)}</a> ({len(arts)} articles)</li>'
            for t, arts in sorted(self.corpus.topics.items()))
        return _layout("Offline Wiki", f"<h1>Offline Wiki</h1><p>{len(self.corpus)} articles.</p>"
                                       f"<h2>Topics</h2><ul>{items}</ul>")

    def topic_page(self, topic: str) -> bytes | None:
        articles = self.corpus.topics.get(topic)
        if articles is None:
            return None
        items = "".join(f'<li><a href="{a.path}">{html.escape(a.title)}</a></li>' for a in articles)
        return _layout(topic, f"<h1>{html.escape(topic)}</h1><ul>{items}</ul>")

    def search_json(self, query: str, base_url: str, limit: int = 10) -> bytes:
        rows = self.index.scored(query, limit)
        results = [{"title": t, "url": f"{base_url}/wiki/{slug}", "content": snippet,
                    "engine": _ENGINE, "engines": [_ENGINE], "category": topic,
                    "score": round(score, 4), "positions": [i + 1]}
                   for i, (t, slug, snippet, topic, score) in enumerate(rows)]
        return json.dumps({"query": query, "number_of_results": len(results), "results": results,
                           "answers": [], "corrections": [], "infoboxes": [], "suggestions": [],
                           "unresponsive_engines": []}, ensure_ascii=False).encode("utf-8")

    def respond(self, target: str, host: str | None = None) -> tuple[int, bytes, str]:
        """(status, body, content type) for GET `target` (path and query); `host` is the
        Host the request named, for the search results' URLs."""
        parts = urlsplit(target)
        path = parts.path
        if path == "/":
            return 200, self.index_page(), _HTML
        if path == "/robots.txt":
            return 200, b"User-agent: *\nAllow: /\n", "text/plain; charset=utf-8"
        if path.startswith("/wiki/"):
            page = self.article_page(path[len("/wiki/"):])
            return (200, page, _HTML) if page is not None else _error_page(404, "No such article.")
        if path.startswith("/topic/"):
            page = self.topic_page(unquote(path[len("/topic/"):]))
            return (200, page, _HTML) if page is not None else _error_page(404, "No such topic.")
        if path == "/search":
            return self._search(parse_qs(parts.query), host or f"{self.host}:{self.port}")
        return _error_page(404, "Not found.")

    def _search(self, params: dict[str, list[str]], host: str) -> tuple[int, bytes, str]:
        query = (params.get("q") or [""])[0].strip()
        if not query:
            return _error_page(400, "Missing query: use /search?q=words")
        try:
            limit = int((params.get("limit") or ["10"])[0])
        except ValueError:
            limit = 10
        fmt = (params.get("format") or ["html"])[0]
        try:
            if fmt == "json":
                return 200, self.search_json(query, f"http://{host}", limit), _JSON
            return 200, self.search_html(query, limit), _HTML
        except SearchError as exc:
            if fmt == "json":
                return 200, json.dumps({"query": query, "number_of_results": 0, "results": [],
                                        "error": str(exc)}).encode(), _JSON
            return _error_page(400, str(exc))

    def transport(self) -> WikiTransport:
        """An httpx transport serving this site in-process (at `WIKI_ORIGIN`)."""
        return WikiTransport(self)

    def search_html(self, query: str, limit: int = 10) -> bytes:
        rows = self.index.scored(query, limit)
        items = "".join(
            f'<li><a href="/wiki/{slug}">{html.escape(t)}</a><p>{html.escape(snippet)}</p></li>'
            for t, slug, snippet, _topic, _score in rows)
        return _layout(f"Search: {query}", f"<h1>Results for “{html.escape(query)}”</h1>"
                                           f"<ol class=results>{items}</ol>")


_HTML = "text/html; charset=utf-8"
_JSON = "application/json; charset=utf-8"


def _error_page(status: int, message: str) -> tuple[int, bytes, str]:
    return status, _layout(f"{status}", f"<h1>{status}</h1><p>{html.escape(message)}</p>"), _HTML


class WikiTransport(httpx.AsyncBaseTransport):
    """The wiki site behind an httpx client, no socket: GET and HEAD of `WIKI_ORIGIN`
    only (anything else is the caller's mistake and answers 404). Rendering and search
    run in a worker thread, off the event loop, like the threaded HTTP server's."""

    def __init__(self, site: WikiSite) -> None:
        self.site = site

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != WIKI_HOST or request.method not in ("GET", "HEAD"):
            status, body, ctype = _error_page(404, "Not served here.")
        else:
            target = request.url.raw_path.decode("ascii")
            status, body, ctype = await asyncio.to_thread(self.site.respond, target, WIKI_HOST)
        if request.method == "HEAD":
            body = b""
        return httpx.Response(status, headers={"Content-Type": ctype, "Server": "deepstar-wiki/0.1"},
                              content=body, request=request)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client that drops a keep-alive connection is routine, not a server fault worth
        # a traceback on the research run's terminal; anything else is still reported.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    wiki: WikiSite
    protocol_version = "HTTP/1.1"
    server_version = "deepstar-wiki/0.1"
    timeout = 30  # idle keep-alive connections release their thread
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: object) -> None:  # quiet: a research run is not a web log
        return

    def _send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        self._send(*self.wiki.respond(self.path, self.headers.get("Host")))
