"""Main-text extraction from HTML (bs4 + lxml), and plain-text helpers for the tools.

`extract` keeps what a reader would call the page: it prefers `<main>`, `[role=main]` or
a single `<article>`, drops scripts, forms and boilerplate (navigation, sidebars, menus,
footers, breadcrumbs — found by tag, ARIA role and class/id hints), keeps headings as
`## Heading` lines, and collects absolute, de-duplicated links with their anchor text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin

from bs4 import BeautifulSoup, Comment, Declaration, Doctype, NavigableString, Tag
from bs4.element import CData, ProcessingInstruction

from tools.errors import DecodeError, ToolError

__all__ = ["Extracted", "Link", "Passage", "extract", "find", "window"]


@dataclass(frozen=True)
class Link:
    url: str
    text: str


@dataclass
class Extracted:
    title: str
    text: str
    headings: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)


@dataclass(frozen=True)
class Passage:
    """A match of `find`: `start`/`end` are the match's offsets in the text, `text` its context."""

    start: int
    end: int
    text: str


_DROP_TAGS = {
    "script", "style", "noscript", "template", "svg", "iframe", "form", "nav", "aside",
    "button", "input", "select", "textarea", "object", "embed", "canvas", "dialog", "head",
}
# Dropped only when the content root is the whole body (inside an <article> they hold the title).
_PAGE_CHROME = {"header", "footer"}
_DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar"}
_HINT_PARTS = {
    "nav", "navbar", "navigation", "sidebar", "sphinxsidebar", "sphinxsidebarwrapper", "menu",
    "footer", "related", "breadcrumb", "breadcrumbs", "cookie", "cookies", "banner", "advert",
    "ads", "share", "social", "skip", "headerlink", "toc", "popup", "modal", "newsletter",
    "subscribe", "sidebarbutton", "switcher", "switchers",
}
_BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "blockquote", "ul", "ol", "dl", "dd", "dt",
    "table", "tr", "figure", "figcaption", "address", "details", "summary", "hr", "body",
    "header", "footer", "caption", "center",
}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "data:", "about:", "file:", "ftp:")
_WS = re.compile(r"\s+")
_SPLIT = re.compile(r"[-_\s]+")


def _is_boilerplate(tag: Tag) -> bool:
    attrs = tag.attrs or {}
    role = attrs.get("role")
    if isinstance(role, str) and role.lower() in _DROP_ROLES:
        return True
    names: list[str] = []
    classes = attrs.get("class")
    if isinstance(classes, list):
        names.extend(c for c in classes if isinstance(c, str))
    elif isinstance(classes, str):
        names.append(classes)
    ident = attrs.get("id")
    if isinstance(ident, str):
        names.append(ident)
    for name in names:
        if any(part in _HINT_PARTS for part in _SPLIT.split(name.lower())):
            return True
    return False


def _content_root(soup: BeautifulSoup) -> tuple[Tag, bool]:
    """The element holding the main text, and whether it is a narrowed (non-body) root."""
    for candidate in (soup.find("main"), soup.find(attrs={"role": "main"})):
        if isinstance(candidate, Tag):
            return candidate, True
    articles = soup.find_all("article")
    if len(articles) == 1:
        return articles[0], True
    body = soup.find("body")
    return (body if isinstance(body, Tag) else soup), False


def _prune(root: Tag, narrowed: bool) -> None:
    doomed: list[Tag] = []
    stack: list[Tag] = [root]
    while stack:
        node = stack.pop()
        for child in node.children:
            if not isinstance(child, Tag):
                continue
            if (child.name in _DROP_TAGS or (not narrowed and child.name in _PAGE_CHROME)
                    or _is_boilerplate(child)):
                doomed.append(child)
            else:
                stack.append(child)
    for tag in doomed:
        tag.decompose()


def _clean(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _render(root: Tag) -> tuple[str, list[str]]:
    """Walk the tree without recursion (garbage HTML can nest deeply)."""
    lines: list[str] = []
    headings: list[str] = []
    buf: list[str] = []
    prefix = [""]

    def flush() -> None:
        line = _clean("".join(buf))
        buf.clear()
        if line:
            lines.append(prefix[0] + line)
            prefix[0] = ""

    stack: list[tuple[object, bool]] = [(root, True)]
    while stack:
        node, entering = stack.pop()
        if isinstance(node, NavigableString):
            if not isinstance(node, (Comment, Doctype, Declaration, CData, ProcessingInstruction)):
                buf.append(str(node))
            continue
        if not isinstance(node, Tag):
            continue
        name = node.name
        if not entering:
            if name in _BLOCK_TAGS or name == "li" or name in ("td", "th"):
                if name in ("td", "th"):
                    buf.append(" ")
                else:
                    flush()
            continue
        if name in _HEADINGS:
            flush()
            text = _clean(node.get_text(" "))
            if text:
                headings.append(text)
                lines.append("")
                lines.append("#" * _HEADINGS[name] + " " + text)
            continue
        if name == "pre":
            flush()
            text = node.get_text().strip("\n")
            if text.strip():
                lines.append(text)
            continue
        if name == "br":
            flush()
            continue
        if name in _BLOCK_TAGS:
            flush()
        elif name == "li":
            flush()
            prefix[0] = "- "
        stack.append((node, False))
        stack.extend((child, True) for child in reversed(list(node.children)))
    flush()
    text = "\n".join(lines).strip()
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text, headings


def _links(root: Tag, base_url: str) -> list[Link]:
    seen: dict[str, int] = {}
    out: list[Link] = []
    for a in root.find_all("a", href=True):
        href = a.get("href")
        if not isinstance(href, str):
            continue
        href = href.strip()
        if not href or href.startswith("#") or href.lower().startswith(_SKIP_SCHEMES):
            continue
        try:
            url = urldefrag(urljoin(base_url, href)).url
        except ValueError:
            continue
        if not url.lower().startswith(("http://", "https://")):
            continue
        text = _clean(a.get_text(" "))
        if url in seen:
            if text and not out[seen[url]].text:
                out[seen[url]] = Link(url, text)
            continue
        seen[url] = len(out)
        out.append(Link(url, text))
    return out


def extract(html: str | bytes, base_url: str) -> Extracted:
    """Title, main text, headings and links of an HTML document.

    Raises only `DecodeError` (a `ToolError`) when the document cannot be parsed at all.
    """
    try:
        soup = BeautifulSoup(html, "lxml")
        base = soup.find("base", href=True)
        if isinstance(base, Tag) and isinstance(base.get("href"), str):
            try:
                base_url = urljoin(base_url, str(base["href"]))
            except ValueError:
                pass
        title = ""
        title_tag = soup.find("title")
        if isinstance(title_tag, Tag):
            title = _clean(title_tag.get_text(" "))
        root, narrowed = _content_root(soup)
        _prune(root, narrowed)
        text, headings = _render(root)
        if not title and headings:
            title = headings[0]
        return Extracted(title=title, text=text, headings=headings, links=_links(root, base_url))
    except ToolError:
        raise
    except Exception as exc:  # bs4/lxml on hostile input: report, never crash the agent
        raise DecodeError(f"could not parse HTML: {type(exc).__name__}: {exc}", url=base_url) from exc


def find(text: str, pattern: str, *, window: int = 150, regex: bool = False,
         max_results: int = 20) -> list[Passage]:
    """Case-insensitive matches of `pattern` (plain text unless `regex`), with context."""
    if not pattern or not pattern.strip():
        raise ToolError("find needs a non-empty pattern")
    try:
        compiled = re.compile(pattern if regex else re.escape(pattern), re.IGNORECASE)
    except re.error as exc:
        raise ToolError(f"invalid regular expression {pattern!r}: {exc}") from None
    out: list[Passage] = []
    for m in compiled.finditer(text):
        if m.end() == m.start():
            continue
        lo, hi = max(0, m.start() - window), min(len(text), m.end() + window)
        out.append(Passage(m.start(), m.end(), text[lo:hi]))
        if len(out) >= max_results:
            break
    return out


def window(text: str, page: int, size_chars: int) -> tuple[str, int, int]:
    """Page `page` (1-based) of `text` cut into `size_chars` chunks: (chunk, page, n_pages)."""
    if size_chars < 1:
        raise ToolError(f"window size must be at least 1 character, got {size_chars}")
    n_pages = max(1, math.ceil(len(text) / size_chars))
    if not 1 <= page <= n_pages:
        raise ToolError(f"page {page} does not exist: the text has {n_pages} page(s)")
    start = (page - 1) * size_chars
    return text[start:start + size_chars], page, n_pages
