"""The web layer wired from an `AgentConfig`: fetch settings and a ready `Toolbox`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from agent.config import AgentConfig
from tools.fetch import FetchConfig, Fetcher
from tools.page_store import PageStore
from tools.search import make_search_provider
from tools.toolbox import Toolbox
from tools.website import WikiSite
from tools.wiki_corpus import load_corpus
from tools.wiki_index import WikiIndex

__all__ = ["fetch_config_from", "host_port", "open_web", "start_wiki_site"]

Progress = Callable[[int, int], None]


def host_port(url: str) -> str:
    """`host:port` of a URL, as the SSRF allow-list spells it."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def fetch_config_from(cfg: AgentConfig, *, extra_allow: tuple[str, ...] = ()) -> FetchConfig:
    return FetchConfig(timeout_s=cfg.fetch_timeout_s, max_bytes=cfg.fetch_max_bytes,
                       allow_hosts=frozenset([*cfg.allow_hosts, *extra_allow]),
                       respect_robots=cfg.respect_robots,
                       per_host_concurrency=cfg.per_host_concurrency,
                       per_host_delay_s=cfg.per_host_delay_s, freshness_s=cfg.fetch_freshness_s)


def start_wiki_site(cfg: AgentConfig, *, port: int = 0, host: str = "127.0.0.1",
                    progress: Progress | None = None, allow_public: bool = False) -> WikiSite:
    """Load the corpus, open (or build) the index at `cfg.index_path`, bind the site."""
    corpus = load_corpus(extra=cfg.wiki_extra_pages)
    index = WikiIndex.open_or_build(cfg.index_path, corpus, progress=progress)
    site = WikiSite(corpus, index, host=host, port=port, allow_public=allow_public)
    site.bind()
    return site


@asynccontextmanager
async def open_web(cfg: AgentConfig) -> AsyncIterator[Toolbox]:
    """A ready `Toolbox` for one run. With `web = "wiki"` and no `wiki_url`, the wiki site
    runs in-process on a free loopback port for the run, and exactly that host:port is
    allow-listed for the SSRF guard."""
    site: WikiSite | None = None
    extra: tuple[str, ...] = ()
    wiki_url = cfg.wiki_url
    if cfg.web == "wiki":
        if not wiki_url:
            # the configured port when free, so URLs in trajectories stay stable across runs
            try:
                site = start_wiki_site(cfg, port=cfg.wiki_port).start()
            except OSError:
                site = start_wiki_site(cfg).start()
            wiki_url = site.url
        extra = (host_port(wiki_url),)
    store = PageStore(cfg.pages_path)
    fetcher = Fetcher(fetch_config_from(cfg, extra_allow=extra), page_store=store)
    provider = make_search_provider(cfg.web, searxng_url=cfg.searxng_url, wiki_url=wiki_url)
    try:
        yield Toolbox(provider, fetcher, observation_chars=cfg.observation_tokens * 4,
                      search_results=cfg.search_results, call_timeout_s=cfg.tool_timeout_s)
    finally:
        aclose = getattr(provider, "aclose", None)
        if aclose is not None:
            await aclose()
        await fetcher.aclose()
        store.close()
        if site is not None:
            site.stop()
            site.index.close()
