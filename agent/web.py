"""The web layer wired from an `AgentConfig`: fetch settings and a ready `Toolbox`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from agent.config import AgentConfig
from tools.fetch import FetchConfig, Fetcher
from tools.page_store import PageStore
from tools.search import make_search_provider
from tools.toolbox import Toolbox
from tools.website import WIKI_HOST, WIKI_ORIGIN, WikiSite, WikiTransport, legacy_wiki_url
from tools.wiki_corpus import load_corpus
from tools.wiki_index import WikiIndex

__all__ = ["WebParts", "fetch_config_from", "host_port", "load_wiki_site", "open_web", "start_wiki_site",
           "web_parts"]

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


def load_wiki_site(cfg: AgentConfig, *, port: int = 0, host: str = "127.0.0.1",
                   progress: Progress | None = None, allow_public: bool = False) -> WikiSite:
    """Load the corpus and open (or build) the index at `cfg.index_path`; nothing is bound."""
    corpus = load_corpus(extra=cfg.wiki_extra_pages)
    index = WikiIndex.open_or_build(cfg.index_path, corpus, progress=progress)
    return WikiSite(corpus, index, host=host, port=port, allow_public=allow_public)


def start_wiki_site(cfg: AgentConfig, *, port: int = 0, host: str = "127.0.0.1",
                    progress: Progress | None = None, allow_public: bool = False) -> WikiSite:
    """`load_wiki_site`, then bind the site for HTTP clients (browsers, benchmarks)."""
    site = load_wiki_site(cfg, port=port, host=host, progress=progress, allow_public=allow_public)
    site.bind()
    return site


@dataclass
class WebParts:
    """What the web of a config needs besides its fetch settings: the wiki's URL, the
    in-process sites and aliases for the fetcher, the search provider's HTTP client."""

    wiki_url: str | None = None
    extra_allow: tuple[str, ...] = ()
    sites: dict[str, WikiTransport] = field(default_factory=dict)
    aliases: Callable[[str], str | None] | None = None
    search_client: httpx.AsyncClient | None = None

    def fetcher(self, cfg: AgentConfig, page_store: PageStore | None = None) -> Fetcher:
        return Fetcher(fetch_config_from(cfg, extra_allow=self.extra_allow), page_store=page_store,
                       sites=self.sites, aliases=self.aliases)


@asynccontextmanager
async def web_parts(cfg: AgentConfig, progress: Progress | None = None) -> AsyncIterator[WebParts]:
    """With `web = "wiki"` and no `wiki_url`, the offline wiki in-process at its one stable
    origin, `http://wiki.deepstar` (no socket, no port: the same URLs in every run); with a
    `wiki_url` (a running `deepstar web serve`), exactly that host:port allow-listed."""
    if cfg.web != "wiki":
        yield WebParts()
        return
    if cfg.wiki_url:
        yield WebParts(wiki_url=cfg.wiki_url, extra_allow=(host_port(cfg.wiki_url),))
        return
    site = load_wiki_site(cfg, progress=progress)
    transport = site.transport()
    client = httpx.AsyncClient(transport=transport, trust_env=False)
    try:
        yield WebParts(wiki_url=WIKI_ORIGIN, sites={WIKI_HOST: transport}, aliases=legacy_wiki_url,
                       search_client=client)
    finally:
        await client.aclose()
        site.index.close()


@asynccontextmanager
async def open_web(cfg: AgentConfig) -> AsyncIterator[Toolbox]:
    """A ready `Toolbox` for one run (the wiki as `web_parts` says), its pages snapshotted
    in the workspace's page store."""
    async with web_parts(cfg) as parts:
        store = PageStore(cfg.pages_path)
        fetcher = parts.fetcher(cfg, store)
        provider = make_search_provider(cfg.web, searxng_url=cfg.searxng_url, wiki_url=parts.wiki_url,
                                        client=parts.search_client)
        try:
            yield Toolbox(provider, fetcher, observation_chars=cfg.observation_tokens * 4,
                          search_results=cfg.search_results, call_timeout_s=cfg.tool_timeout_s)
        finally:
            aclose = getattr(provider, "aclose", None)
            if aclose is not None:
                await aclose()
            await fetcher.aclose()
            store.close()
