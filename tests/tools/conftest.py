"""Shared fixtures of the web-layer tests: tiny local HTTP servers, the real wiki site,
and Debian's python3.11-doc HTML served on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tools.website import WikiSite
from tools.wiki_corpus import Corpus, load_corpus
from tools.wiki_index import WikiIndex

DOCS_DIR = Path("/usr/share/doc/python3.11/html")

# A route answers (status, headers, body); body may be bytes or a callable writing to wfile.
Route = tuple[int, dict[str, str], bytes | Callable[[BaseHTTPRequestHandler], None]]


class _RouteHandler(BaseHTTPRequestHandler):
    routes: dict[str, Route] = {}

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        route = self.routes.get(self.path.split("?")[0])
        if route is None:
            route = (404, {"Content-Type": "text/plain"}, b"not found")
        status, headers, body = route
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if isinstance(body, bytes):
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.end_headers()
                body(self)
        except OSError:  # the client hung up (size cap, timeout): expected in these tests
            pass


class LocalServer:
    def __init__(self, routes: dict[str, Route]) -> None:
        handler = type("Handler", (_RouteHandler,), {"routes": routes})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.routes = routes
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.host_port = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def local_server() -> Iterator[Callable[[dict[str, Route]], LocalServer]]:
    """Factory: `local_server({"/path": (status, headers, body)})` → a running LocalServer."""
    servers: list[LocalServer] = []

    def make(routes: dict[str, Route]) -> LocalServer:
        servers.append(LocalServer(routes))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def html_page(title: str, body: str) -> bytes:
    return (f"<html><head><title>{title}</title></head><body><nav class='menu'>Home | About</nav>"
            f"<main>{body}</main><footer>Copyright footer</footer></body></html>").encode()


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return load_corpus()


@pytest.fixture(scope="session")
def wiki_index(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WikiIndex]:
    index = WikiIndex.open_or_build(tmp_path_factory.mktemp("wiki") / "wiki_index.db", corpus)
    yield index
    index.close()


@pytest.fixture(scope="session")
def wiki_site(corpus: Corpus, wiki_index: WikiIndex) -> Iterator[WikiSite]:
    t0 = time.perf_counter()
    site = WikiSite(corpus, wiki_index, host="127.0.0.1", port=0).start()
    # Measured, not asserted (timed asserts are flaky): visible with `pytest -s`.
    print(f"\nwiki site up in {time.perf_counter() - t0:.3f}s at {site.url}")
    yield site
    site.stop()


@pytest.fixture(scope="session")
def tiny_corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = {
        "Eiffel Tower": {"title": "Eiffel Tower", "extract": "The Eiffel Tower is a lattice tower in Paris.",
                         "description": "Tower in Paris", "topic": "Arts"},
        "Paris": {"title": "Paris", "extract": "Paris is the capital of France.",
                  "description": "Capital of France", "topic": "Geography"},
        "HIV/AIDS": {"title": "HIV/AIDS", "extract": "HIV/AIDS is a spectrum of conditions.",
                     "description": "", "topic": "Biology"},
        "Junk": {"title": "Junk", "extract": "", "description": "", "topic": "X"},
        "": {"title": "", "extract": "no title", "description": "", "topic": "X"},
    }
    path = tmp_path_factory.mktemp("tiny") / "summaries.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


class _QuietDocsHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="session")
def docs_site() -> Iterator[LocalServer]:
    """python3.11-doc served on loopback. Fails (never skips) when the docs are missing."""
    if not (DOCS_DIR / "library" / "asyncio.html").is_file():
        pytest.fail(f"{DOCS_DIR} is missing: install Debian's python3.11-doc "
                    "(apt-get install -y python3.11-doc)", pytrace=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietDocsHandler, directory=str(DOCS_DIR)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    site = LocalServer.__new__(LocalServer)
    site.server, site.thread, site.routes = server, thread, {}
    site.port = server.server_address[1]
    site.url = f"http://127.0.0.1:{site.port}"
    site.host_port = f"127.0.0.1:{site.port}"
    yield site
    site.close()
