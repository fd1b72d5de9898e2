"""`deepstar web serve`, `deepstar search`, `deepstar fetch`.

`deepstar search --provider wiki` and `deepstar fetch` serve the wiki in-process at its
stable origin `http://wiki.deepstar/` (the same search, fetch and extract path as a run,
so they print the URLs a run records); pass `--wiki-url` (or set `wiki_url`) to use a
running `deepstar web serve` instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress as RichProgress

from agent.config import AgentConfig, load_config
from agent.web import start_wiki_site, web_parts
from tools.search import make_search_provider
from tools.website import is_loopback_host

__all__ = ["register"]

web_app = typer.Typer(name="web", help="The offline wiki website.", no_args_is_help=True)


def _site(cfg: AgentConfig, *, port: int, host: str = "127.0.0.1", allow_public: bool = False):
    console = Console(stderr=True)
    with RichProgress(console=console, transient=True) as bar:
        task = bar.add_task("building the wiki search index", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
        return start_wiki_site(cfg, port=port, host=host, progress=progress, allow_public=allow_public)


@web_app.command("serve")
def serve(
    port: Annotated[int | None, typer.Option(help="port (default: config wiki_port)")] = None,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    allow_public: Annotated[bool, typer.Option("--allow-public", help="allow a non-loopback bind address")] = False,
) -> None:
    """Serve the offline wiki: articles, topics, and /search?q=..&format=json."""
    cfg = load_config({})
    if not is_loopback_host(host):
        if not allow_public:
            raise typer.BadParameter(f"{host} is not a loopback address; pass --allow-public to expose the site",
                                     param_hint="--host")
        print(f"deepstar: warning: serving the wiki on {host}, reachable from other machines",
              file=sys.stderr)
    site = _site(cfg, port=port or cfg.wiki_port, host=host, allow_public=allow_public)
    print(f"Offline wiki at {site.url}/ (search: {site.url}/search?q=...&format=json); Ctrl-C stops",
          file=sys.stderr)
    try:
        site.serve_forever()
    except KeyboardInterrupt:
        pass


def search(
    query: Annotated[str, typer.Argument(help="what to search for")],
    provider: Annotated[str | None, typer.Option(help="wiki, searxng or ddgs (default: config web)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=50, help="number of results")] = 5,
    wiki_url: Annotated[str | None, typer.Option(help="a running wiki site (default: start one)")] = None,
    searxng_url: Annotated[str | None, typer.Option(help="SearXNG base URL")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Search with one provider and print the results."""
    cfg = load_config({"web": provider, "wiki_url": wiki_url, "searxng_url": searxng_url})
    results = asyncio.run(_search(cfg, query, limit))
    if as_json:
        print(json.dumps([dataclasses.asdict(r) for r in results], ensure_ascii=False, indent=2))
        return
    console = Console()
    for r in results:
        console.print(f"[bold]{r.rank}. {r.title}[/bold]\n   [cyan]{r.url}[/cyan]\n   {r.snippet}",
                      markup=True, highlight=False)
    if not results:
        console.print("no results")


async def _search(cfg: AgentConfig, query: str, limit: int) -> list[Any]:
    async with web_parts(cfg) as parts:
        provider = make_search_provider(cfg.web, searxng_url=cfg.searxng_url, wiki_url=parts.wiki_url,
                                        client=parts.search_client)
        try:
            return await provider.search(query, limit)
        finally:
            aclose = getattr(provider, "aclose", None)
            if aclose is not None:
                await aclose()


def fetch(
    url: Annotated[str, typer.Argument(help="http(s) URL")],
    as_json: Annotated[bool, typer.Option("--json", help="print the page as JSON")] = False,
    max_chars: Annotated[int, typer.Option(help="text characters printed (0 = all)")] = 4000,
) -> None:
    """Fetch one URL through the guarded fetcher and print its extracted text.

    Refused URLs (SSRF guard, robots.txt) exit with code 2 and the reason. When the web
    is `wiki`, its pages open at http://wiki.deepstar/ (and at the old
    http://127.0.0.1:PORT/wiki/... URLs), or the running site of config wiki_url.
    """
    cfg = load_config({})
    page = asyncio.run(_fetch(cfg, url))
    if as_json:
        data = dataclasses.asdict(page)
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    text = page.text if max_chars <= 0 else page.text[:max_chars]
    print(f"# {page.title}\n{page.final_url} ({page.status}, {page.content_type}"
          f"{', truncated' if page.truncated else ''})\n\n{text}")
    for i, link in enumerate(page.links[:50], 1):
        print(f"[{i}] {link.text} -> {link.url}")


async def _fetch(cfg: AgentConfig, url: str) -> Any:
    async with web_parts(cfg) as parts, parts.fetcher(cfg) as fetcher:
        return await fetcher.fetch(url)


def register(app: typer.Typer) -> None:
    app.add_typer(web_app, name="web")
    app.command("search")(search)
    app.command("fetch")(fetch)
