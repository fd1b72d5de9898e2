"""`Fetcher`: guarded, polite, size-capped HTTP GET that turns a URL into a `Page`.

Every hop (the URL and each redirect target, at most `max_redirects`) passes the SSRF
guard and, when `respect_robots`, the site's robots.txt; the request goes to the IP the
guard checked (URL rewritten to the address, `Host` header and TLS SNI kept), so DNS is
asked once per hop. Redirects are followed here, never by httpx.

Bodies are streamed and cut at `max_bytes`:
- text (HTML, text/*, XML, JSON) is truncated and the page flagged `truncated`;
- a body with no Content-Type that runs past the cap raises `TooLarge` (we cannot tell
  whether a prefix is meaningful);
- declared binary types (images, archives, octet-stream, …) raise `UnsupportedContent`
  before the body is read; PDF too: deepstar ships no PDF text extractor.
Charset: the Content-Type header, else `<meta charset>`, else UTF-8, else
charset_normalizer's guess when it is installed; text that still decodes to mostly
replacement/control characters raises `DecodeError`.

In-process sites (`sites={"wiki.deepstar": transport}`, the offline wiki) are served
by their httpx transport: a hop to exactly that `http://host` (port 80) never opens a
socket nor asks DNS; every other hop, redirects out of such a site included, passes the
guard. `aliases` maps a URL onto another before anything else (the wiki's URLs from
before its stable origin), unless the original host is allow-listed.

Caveat: connections are pooled per (scheme, IP, port); two HTTPS hosts on one IP may
share a TLS connection negotiated for the first name.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import httpx

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
from tools.extract import extract
from tools.page import Link, Page, content_hash
from tools.page_store import PageStore
from tools.robots import HostLimiter, RobotsCache
from tools.ssrf import CheckedURL, Resolver, SSRFGuard

__all__ = ["FetchConfig", "Fetcher", "Link", "Page", "decode_body"]

_REDIRECTS = {301, 302, 303, 307, 308}
_ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.8,*/*;q=0.1"
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffd]")
_OFFLOAD_BYTES = 200_000  # parse bigger documents in a worker thread, off the event loop


@dataclass(frozen=True)
class FetchConfig:
    timeout_s: float = field(default=15.0, metadata={"help": "connect/read timeout; a hop's deadline is twice it"})
    max_bytes: int = field(default=5_000_000, metadata={"help": "body bytes kept (streamed, cut beyond)"})
    max_redirects: int = field(default=5, metadata={"help": "redirect hops followed, each re-checked"})
    user_agent: str = field(default="deepstar/0.1 (+research agent)", metadata={"help": "User-Agent header and robots.txt agent"})
    allow_hosts: frozenset[str] = field(default=frozenset(), metadata={"help": "host or host:port let through the SSRF guard"})
    respect_robots: bool = field(default=True, metadata={"help": "honour robots.txt"})
    per_host_concurrency: int = field(default=4, metadata={"help": "requests in flight per host"})
    per_host_delay_s: float = field(default=0.0, metadata={"help": "delay between requests to one host (allow-listed hosts exempt)"})
    freshness_s: float = field(default=0.0, metadata={"help": "answer from the page store when a snapshot is this fresh (0 = never)"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "allow_hosts", frozenset(self.allow_hosts))
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s}")
        if self.max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {self.max_bytes}")
        if self.max_redirects < 0:
            raise ValueError(f"max_redirects must be >= 0, got {self.max_redirects}")
        if self.per_host_concurrency < 1:
            raise ValueError(f"per_host_concurrency must be at least 1, got {self.per_host_concurrency}")


@dataclass
class _Body:
    url: str
    status: int
    content_type: str  # media type, lower case, no parameters
    charset: str | None
    data: bytes
    truncated: bool


def _kind(media_type: str) -> str:
    if media_type in ("text/html", "application/xhtml+xml"):
        return "html"
    if media_type in ("application/json", "text/json") or media_type.endswith("+json"):
        return "json"
    if media_type.startswith("text/") or media_type in ("application/xml",) or media_type.endswith("+xml"):
        return "text"
    if media_type == "application/pdf":
        return "pdf"
    return "unknown" if not media_type else "binary"


def _sniff(data: bytes) -> str:
    head = data[:1024]
    if head.startswith(b"%PDF"):
        return "pdf"
    if b"\x00" in head:
        return "binary"
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "html"
    if stripped.startswith((b"{", b"[")):
        return "json"
    return "text"


def _charset_ok(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def decode_body(data: bytes, charset: str | None, *, final: bool = True, url: str = "") -> str:
    """Bytes to text (declared charset, <meta>, UTF-8, detection); DecodeError if garbage."""
    name = _charset_ok(charset)
    if name is None:
        meta = _META_CHARSET.search(data[:4096])
        name = _charset_ok(meta.group(1).decode("ascii", "ignore")) if meta else None
    if name is not None:
        text = codecs.getincrementaldecoder(name)("replace").decode(data, final=final)
    else:
        try:
            text = codecs.getincrementaldecoder("utf-8")("strict").decode(data, final=final)
        except UnicodeDecodeError:
            text = _detect(data)
    if text.startswith("\ufeff"):
        text = text[1:]
    if text:
        bad = len(_BAD_CHARS.findall(text))
        if bad > max(2, len(text) * 0.05):
            raise DecodeError(f"the body does not decode to text ({bad} of {len(text)} characters "
                              "are control or replacement characters)", url=url or None)
    return text


def _detect(data: bytes) -> str:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # optional: fall back to UTF-8 with replacement, then the ratio check
        return data.decode("utf-8", "replace")
    best = from_bytes(data).best()
    return str(best) if best is not None else data.decode("utf-8", "replace")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Fetcher:
    def __init__(self, config: FetchConfig | None = None, *, client: httpx.AsyncClient | None = None,
                 page_store: PageStore | None = None, resolver: Resolver | None = None,
                 sites: Mapping[str, httpx.AsyncBaseTransport] | None = None,
                 aliases: Callable[[str], str | None] | None = None) -> None:
        self.config = config or FetchConfig()
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(self.config.timeout_s), follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
        self.page_store = page_store
        self._sites = {host.lower(): httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)
                       for host, transport in (sites or {}).items()}
        self._aliases = aliases
        self.guard = SSRFGuard(self.config.allow_hosts, resolver=resolver)
        self.limiter = HostLimiter(self.config.per_host_concurrency, self.config.per_host_delay_s)
        self.robots = RobotsCache(self._robots_text, self.config.user_agent)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for site in self._sites.values():
            await site.aclose()
        if self._own_client:
            await self._client.aclose()

    def canonical(self, url: str) -> str:
        """`url` after the aliases (e.g. an old wiki URL onto the stable origin)."""
        mapped = self._aliases(url) if self._aliases else None
        if mapped is None:
            return url
        try:
            parts = urlsplit(url)
            if self.guard.is_allow_listed(parts.hostname or "", parts.port or 80):
                return url  # the user named that host: the real one, not the alias
        except ValueError:
            return url
        return mapped

    async def check(self, url: str) -> CheckedURL:
        """An in-process site's URL as is, else the SSRF guard's verdict."""
        try:
            parts = urlsplit(url)
            host, port = (parts.hostname or "").lower(), parts.port
        except ValueError:
            host, port = "", None
        if host in self._sites and parts.scheme == "http" and port in (None, 80):
            try:
                clean = httpx.URL(url).copy_with(username=None, password=None, fragment=None)
            except (httpx.InvalidURL, ValueError, TypeError) as exc:
                raise BlockedURL(url, f"not a valid URL ({exc})") from None
            return CheckedURL(clean, host, 80, host, allow_listed=True, in_process=True)
        return await self.guard.check(url)

    async def fetch(self, url: str) -> Page:
        """GET `url` and read it into a `Page`; raises only `ToolError` subclasses."""
        url = self.canonical(url)
        if self.page_store is not None and self.config.freshness_s > 0:
            cached = self.page_store.get_fresh(url, self.config.freshness_s)
            if cached is not None:
                # a snapshot is served only where a fetch would go today: the guard and
                # robots.txt of now (the allow-list or the site may have changed since)
                for hop in dict.fromkeys((url, cached.final_url)):
                    checked = await self.check(hop)
                    if self.config.respect_robots:
                        await self.robots.check(str(checked.url))
                return cached
        body = await self._get(url, robots=self.config.respect_robots, max_bytes=self.config.max_bytes)
        if len(body.data) > _OFFLOAD_BYTES:
            page = await asyncio.to_thread(self._to_page, url, body)
        else:
            page = self._to_page(url, body)
        if self.page_store is not None:
            self.page_store.put(page)
        return page

    # --- internals -----------------------------------------------------------------------

    async def _robots_text(self, url: str) -> tuple[int, str]:
        body = await self._get(url, robots=False, max_bytes=500_000, any_type=True)
        return body.status, decode_body(body.data, body.charset, final=not body.truncated, url=url)

    async def _get(self, url: str, *, robots: bool, max_bytes: int, any_type: bool = False) -> _Body:
        current, seen = url, {url}
        for _ in range(self.config.max_redirects + 1):
            checked = await self.check(current)
            if robots:
                await self.robots.check(str(checked.url))
            async with self.limiter.slot(checked.host_header, exempt_from_delay=checked.allow_listed):
                result = await self._hop(checked, max_bytes=max_bytes, any_type=any_type)
            if isinstance(result, _Body):
                return result
            try:
                current = urljoin(str(checked.url), result)
            except ValueError:
                raise FetchError(f"bad redirect target {result!r}", url=str(checked.url)) from None
            if current in seen:
                raise TooManyRedirects(f"redirect loop at {current}", url=url)
            seen.add(current)
        raise TooManyRedirects(f"more than {self.config.max_redirects} redirects", url=url)

    async def _hop(self, checked: CheckedURL, *, max_bytes: int, any_type: bool) -> _Body | str:
        """One request; a redirect's Location (str) or the (possibly cut) body."""
        url = str(checked.url)
        headers = {"Host": checked.host_header, "User-Agent": self.config.user_agent,
                   "Accept": _ACCEPT}
        extensions = {"sni_hostname": checked.host} if checked.url.scheme == "https" else {}
        client = self._sites[checked.host] if checked.in_process else self._client
        request = client.build_request("GET", checked.connect_url, headers=headers, extensions=extensions,
                                       timeout=httpx.Timeout(self.config.timeout_s))
        try:
            async with asyncio.timeout(self.config.timeout_s * 2):
                response = await client.send(request, stream=True, follow_redirects=False)
                try:
                    return await self._read(response, url, max_bytes=max_bytes, any_type=any_type)
                finally:
                    await response.aclose()
        except (httpx.TimeoutException, TimeoutError):
            raise FetchTimeout(f"timed out after {self.config.timeout_s:g}s fetching {url}", url=url) from None
        except httpx.HTTPError as exc:
            detail = str(exc) or "the connection was closed or reset"
            raise FetchError(f"could not fetch {url}: {type(exc).__name__}: {detail}", url=url) from None

    async def _read(self, response: httpx.Response, url: str, *, max_bytes: int,
                    any_type: bool) -> _Body | str:
        status = response.status_code
        if status in _REDIRECTS and "location" in response.headers:
            return response.headers["location"]
        if status >= 400:
            raise HTTPStatusError(status, url=url)
        raw_type = response.headers.get("content-type", "")
        media = raw_type.split(";")[0].strip().lower()
        charset = None
        for param in raw_type.split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset":
                charset = value.strip()
        kind = "text" if any_type else _kind(media)
        if kind in ("pdf", "binary"):
            raise UnsupportedContent(self._unsupported(media), url=url)
        chunks: list[bytes] = []
        size, truncated = 0, False
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                truncated = True
                break
        data = b"".join(chunks)[:max_bytes]
        if kind == "unknown":
            if truncated:
                raise TooLarge(f"body without a Content-Type is over {max_bytes} bytes", url=url)
            kind = _sniff(data)
            if kind in ("pdf", "binary"):
                raise UnsupportedContent(self._unsupported(kind), url=url)
            media = {"html": "text/html", "json": "application/json"}.get(kind, "text/plain")
        return _Body(url=url, status=status, content_type=media, charset=charset, data=data,
                     truncated=truncated)

    @staticmethod
    def _unsupported(media: str) -> str:
        if media in ("pdf", "application/pdf"):
            return "PDF documents are not supported: deepstar has no PDF text extractor"
        return f"binary content ({media or 'unknown type'}) is not supported; only HTML, text and JSON are read"

    def _to_page(self, url: str, body: _Body) -> Page:
        text = decode_body(body.data, body.charset, final=not body.truncated, url=body.url)
        title, headings, links = "", [], []
        kind = _kind(body.content_type)
        if kind == "html":
            ex = extract(text, body.url)
            title, text, headings, links = ex.title, ex.text, ex.headings, ex.links
        elif kind == "json" and not body.truncated:
            try:
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            except (ValueError, RecursionError):
                pass  # not valid JSON after all (or nested too deep to parse): keep the text as served
        return Page(url=url, final_url=body.url, status=body.status, content_type=body.content_type,
                    title=title, text=text, links=list(links), headings=headings,
                    fetched_at=_now(), content_hash=content_hash(text), truncated=body.truncated)
