"""The offline wiki as a search provider: SearXNG's protocol against the local site.

The agent's default web goes through HTTP like any other site, so the same fetch,
extract and citation path is exercised offline.
"""

from __future__ import annotations

from tools.search_searxng import SearxngProvider

__all__ = ["WikiSearchProvider"]


class WikiSearchProvider(SearxngProvider):
    name = "wiki"
