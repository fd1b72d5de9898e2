"""Fetch + extract against real HTML no one here wrote: Debian's python3.11-doc."""

from __future__ import annotations

import pytest

from tools.fetch import FetchConfig, Fetcher

pytestmark = pytest.mark.integration

SIDEBAR = ["Table of Contents", "Previous topic", "Next topic", "This Page", "Report a Bug",
           "Show Source", "Quick search", "Navigation"]


@pytest.mark.parametrize("path,sentence,heading", [
    ("library/asyncio.html",
     "asyncio is a library to write concurrent code using the async/await syntax.",
     "asyncio — Asynchronous I/O"),
    ("library/json.html",
     "is a lightweight data interchange format inspired by JavaScript object literal syntax",
     "Basic Usage"),
])
async def test_docs_main_text_without_sidebar(docs_site, path: str, sentence: str, heading: str) -> None:
    async with Fetcher(FetchConfig(allow_hosts={docs_site.host_port})) as fetcher:
        page = await fetcher.fetch(f"{docs_site.url}/{path}")
    assert page.status == 200 and page.content_type == "text/html"
    assert sentence in " ".join(page.text.split())
    assert heading in page.headings
    for junk in SIDEBAR:
        assert junk not in page.text, junk
    assert all(link.url.startswith(("http://", "https://")) for link in page.links)
    assert not any(link.url.endswith("/bugs.html") for link in page.links)  # sidebar link dropped
