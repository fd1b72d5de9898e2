"""SSRF guard: refuse URLs whose host resolves to an address the agent must not reach.

The guard resolves the host once and returns the checked IP; the fetcher connects to
that very address (rewriting the request URL and keeping `Host` and TLS SNI), so a
second DNS answer cannot swap in an internal address (DNS rebinding). Numeric host
forms that `inet_aton` accepts — decimal `2130706433`, octal `0177.0.0.1`, hex
`0x7f.0.0.1`, short `127.1` — are parsed here, before any DNS, as are IPv6 literals and
IPv4-mapped IPv6. Allow-listed hosts (`host` or `host:port`) skip the address check.
Userinfo (`http://user:pw@host/`) is dropped from every checked URL, numeric or named,
so no Basic credentials are ever sent. Names under `.deepstar` (the offline wiki's
`wiki.deepstar`) are deepstar's in-process sites: never resolved, always refused here
(the fetcher serves a mounted one itself, before the guard). The resolver is a seam
(`resolver=`): an async `(host, port) -> [address, ...]`, the event loop's getaddrinfo
by default.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from tools.errors import BlockedURL, FetchError

__all__ = ["CheckedURL", "Resolver", "SSRFGuard", "parse_numeric_host"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

_METADATA_HOSTS = {"metadata.google.internal", "metadata", "metadata.goog", "instance-data"}
_METADATA_IPS = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                 ipaddress.ip_address("100.100.100.200")}


@dataclass(frozen=True)
class CheckedURL:
    """A URL that passed the guard: connect to `ip`, present `host` (Host header, SNI)."""

    url: httpx.URL
    host: str
    port: int
    ip: str
    allow_listed: bool
    in_process: bool = False  # served by an in-process transport (no socket, no DNS)

    @property
    def connect_url(self) -> httpx.URL:
        return self.url if self.in_process else self.url.copy_with(host=self.ip)

    @property
    def host_header(self) -> str:
        default = 443 if self.url.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def _part(text: str) -> int:
    low = text.lower()
    if low.startswith("0x"):
        return int(low[2:] or "0", 16)
    if len(low) > 1 and low.startswith("0"):
        return int(low, 8)
    return int(low, 10)


def parse_numeric_host(host: str) -> IPAddress | None:
    """The address a numeric host denotes (every inet_aton form, IPv6), else None."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    parts = host.rstrip(".").split(".")
    if not 1 <= len(parts) <= 4:
        return None
    try:
        nums = [_part(p) for p in parts]
    except ValueError:
        return None
    *head, last = nums
    if any(not 0 <= n <= 255 for n in head) or last < 0 or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for n in head:
        value = value * 256 + n
    value = value * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(value)


def refusal(ip: IPAddress) -> str | None:
    """Why connecting to `ip` is refused, or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return refusal(ip.ipv4_mapped)
        for embedded in (ip.sixtofour, ip.teredo[1] if ip.teredo else None):
            if embedded is not None and refusal(embedded):
                return f"{ip} embeds a non-public IPv4 address"
    if ip in _METADATA_IPS:
        return f"{ip} is a cloud metadata address"
    for attr, what in (("is_loopback", "loopback"), ("is_unspecified", "unspecified"),
                       ("is_link_local", "link-local"), ("is_site_local", "site-local (fec0::/10)"),
                       ("is_multicast", "multicast"),
                       ("is_private", "private"), ("is_reserved", "reserved")):
        if getattr(ip, attr, False):
            return f"{ip} is a {what} address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


class SSRFGuard:
    def __init__(self, allow_hosts: Iterable[str] = (), *, resolver: Resolver | None = None) -> None:
        self.allow_hosts = frozenset(h.strip().lower() for h in allow_hosts if h.strip())
        self.resolve = resolver or _getaddrinfo

    def is_allow_listed(self, host: str, port: int) -> bool:
        host = host.lower().strip("[]")
        bracketed = f"[{host}]" if ":" in host else host
        return bool({host, bracketed, f"{host}:{port}", f"{bracketed}:{port}"} & self.allow_hosts)

    async def check(self, url: str | httpx.URL) -> CheckedURL:
        """Parse, resolve and vet `url`; raise `BlockedURL` when it must not be fetched."""
        text = str(url)
        try:
            split = urlsplit(text)
            raw_host = (split.hostname or "").rstrip(".")
            split_port = split.port
        except ValueError as exc:
            raise BlockedURL(text, f"not a valid URL ({exc})") from None
        scheme = split.scheme.lower()
        if scheme not in ("http", "https"):
            raise BlockedURL(text, f"scheme {scheme or '(none)'!r} is not http or https")
        if not raw_host:
            raise BlockedURL(text, "the URL has no host")
        port = split_port or (443 if scheme == "https" else 80)
        numeric = parse_numeric_host(raw_host)
        host = str(numeric) if numeric is not None else raw_host
        allowed = self.is_allow_listed(host, port) or self.is_allow_listed(raw_host, port)
        if numeric is not None and not allowed and (why := refusal(numeric)):
            raise BlockedURL(text, why)
        try:
            netloc = f"[{host}]" if ":" in host else host
            if split_port:
                netloc += f":{split_port}"
            parsed = httpx.URL(text).copy_with(host=host, username=None, password=None) if numeric is None \
                else httpx.URL(urlunsplit((scheme, netloc, split.path, split.query, "")))
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise BlockedURL(text, f"not a valid URL ({exc})") from None
        if numeric is not None:
            return CheckedURL(parsed, host, port, host, allowed)
        if not allowed and (host in _METADATA_HOSTS or host.endswith(".internal")):
            raise BlockedURL(text, f"{host} is a cloud metadata / internal host")
        if host == "deepstar" or host.endswith(".deepstar"):
            raise BlockedURL(text, f"{host} names one of deepstar's in-process sites (the offline wiki is "
                                   "http://wiki.deepstar/ when the run's web is the wiki): never fetched over the network")
        if not allowed and (host == "localhost" or host.endswith(".localhost")):
            raise BlockedURL(text, f"{host} is a loopback name")
        try:
            answers = await self.resolve(host, port)
        except (socket.gaierror, UnicodeError, OSError) as exc:
            raise FetchError(f"cannot resolve {host}: {exc}", url=text) from None
        try:
            addresses = [ipaddress.ip_address(str(a).split("%")[0]) for a in answers]
        except ValueError as exc:
            raise FetchError(f"cannot resolve {host}: {exc}", url=text) from None
        if not addresses:
            raise FetchError(f"cannot resolve {host}: no addresses", url=text)
        if not allowed:
            for ip in addresses:  # every answer, so a mixed public/private record set is refused
                if why := refusal(ip):
                    raise BlockedURL(text, f"{host} resolves to {why.split(' is ', 1)[0]}: {why}")
        return CheckedURL(parsed, host, port, str(addresses[0]), allowed)
