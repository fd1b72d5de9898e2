"""`Page`: one fetched document as the tools, the page store and citations see it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from tools.extract import Link

__all__ = ["Link", "Page", "content_hash"]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Page:
    url: str
    final_url: str
    status: int
    content_type: str
    title: str
    text: str
    links: list[Link] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    fetched_at: str = ""
    content_hash: str = ""
    truncated: bool = False
    from_cache: bool = False
