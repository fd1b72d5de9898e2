"""Errors raised by the web layer.

    ToolError                    base; carries `.url` or `.query` when it is about one
    ├── SearchError              a search provider failed or the query is unusable
    ├── FetchError               a page could not be fetched or read
    │   ├── HTTPStatusError      the server answered 4xx/5xx (`.status`)
    │   ├── FetchTimeout         connect/read timed out, or the fetch ran past its deadline
    │   ├── TooLarge             a body without a readable text type exceeded `max_bytes`
    │   ├── UnsupportedContent   binary or otherwise unreadable content type (PDF, images, …)
    │   ├── TooManyRedirects     more than `max_redirects` hops, or a redirect loop
    │   └── DecodeError          the bytes are not text in any charset we can determine
    ├── BlockedURL               refused before any request: SSRF guard or robots.txt (`.reason`)
    └── MissingExtra             an optional dependency is not installed (`.extra`, `.module`)

Tools turn every `ToolError` into an error observation for the model; anything else
escaping the web layer is a programming error.
"""

from __future__ import annotations

__all__ = [
    "BlockedURL",
    "DecodeError",
    "FetchError",
    "FetchTimeout",
    "HTTPStatusError",
    "MissingExtra",
    "SearchError",
    "ToolError",
    "TooLarge",
    "TooManyRedirects",
    "UnsupportedContent",
]


class ToolError(Exception):
    def __init__(self, message: str, *, url: str | None = None, query: str | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.query = query


class SearchError(ToolError):
    pass


class FetchError(ToolError):
    pass


class HTTPStatusError(FetchError):
    def __init__(self, status: int, *, url: str) -> None:
        super().__init__(f"HTTP {status} from {url}", url=url)
        self.status = status


class FetchTimeout(FetchError):
    pass


class TooLarge(FetchError):
    pass


class UnsupportedContent(FetchError):
    pass


class TooManyRedirects(FetchError):
    pass


class DecodeError(FetchError):
    pass


class BlockedURL(ToolError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"refused to fetch {url}: {reason}", url=url)
        self.reason = reason


class MissingExtra(ToolError):
    def __init__(self, extra: str, module: str) -> None:
        super().__init__(
            f"this feature needs the optional module {module!r}: "
            f"pip install 'deepstar[{extra}]'"
        )
        self.extra = extra
        self.module = module
