from __future__ import annotations

import ipaddress

import pytest

from tools.errors import BlockedURL, FetchError
from tools.ssrf import SSRFGuard, parse_numeric_host

REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://[::1]/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://127.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[fd00:ec2::254]/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://[fe80::1]/",
    "http://[fec0::1]/",
    "http://[fefe:1::5]/",
    "http://localhost:8080/",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_refused_when_not_allow_listed(url: str) -> None:
    with pytest.raises(BlockedURL) as info:
        await SSRFGuard().check(url)
    assert info.value.reason and info.value.url == url


@pytest.mark.parametrize("url", [u for u in REFUSED if "internal" not in u and "localhost" not in u])
async def test_allowed_when_allow_listed(url: str) -> None:
    host = str(parse_numeric_host(url.split("//")[1].split("/")[0].rsplit(":", 1)[0]
                                  if url.count(":") == 2 and "[" not in url
                                  else url.split("//")[1].split("/")[0]))
    checked = await SSRFGuard({host}).check(url)
    assert checked.allow_listed and checked.ip == host.strip("[]")


async def test_allow_listed_names_skip_the_address_check() -> None:
    checked = await SSRFGuard({"localhost:8080"}).check("http://localhost:8080/x")
    assert checked.allow_listed and ipaddress.ip_address(checked.ip).is_loopback
    try:
        await SSRFGuard({"metadata.google.internal"}).check("http://metadata.google.internal/")
    except BlockedURL:
        pytest.fail("an allow-listed host must not be refused")
    except FetchError:
        pass  # it does not resolve here; that is a fetch failure, not a refusal


async def test_host_port_allow_list_is_exact() -> None:
    guard = SSRFGuard({"127.0.0.1:8000"})
    assert (await guard.check("http://127.0.0.1:8000/")).allow_listed
    with pytest.raises(BlockedURL):
        await guard.check("http://127.0.0.1:8001/")


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "javascript:alert(1)",
                                 "http:///nohost", "http://[::1"])
async def test_bad_schemes_and_urls(url: str) -> None:
    with pytest.raises(BlockedURL):
        await SSRFGuard().check(url)


def test_numeric_forms() -> None:
    for text in ("2130706433", "0x7f000001", "0177.0.0.1", "0x7f.0.0.1", "127.1", "127.0.1"):
        assert parse_numeric_host(text) == ipaddress.ip_address("127.0.0.1"), text
    assert parse_numeric_host("example.com") is None
    assert parse_numeric_host("256.1.1.1") is None


async def test_connect_url_pins_the_checked_address() -> None:
    checked = await SSRFGuard({"93.184.216.34"}).check("https://93.184.216.34:8443/a?b=1")
    assert str(checked.connect_url) == "https://93.184.216.34:8443/a?b=1"
    assert checked.host_header == "93.184.216.34:8443"


def answers(*ips: str):
    """A resolver seam that gives each answer once, then repeats the last one."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return [ips[min(len(calls), len(ips)) - 1]]
    resolve.calls = calls
    return resolve


async def test_site_local_fec0_is_refused_by_name_too() -> None:
    with pytest.raises(BlockedURL) as info:
        await SSRFGuard(resolver=answers("fec0::8")).check("http://intranet.example/")
    assert "site-local" in info.value.reason


@pytest.mark.parametrize("url", ["http://user:pw@public.example:8080/a?b=1", "http://user:pw@93.184.216.34:8080/a?b=1",
                                 "http://user@public.example:8080/a?b=1"])
async def test_userinfo_is_dropped_for_names_and_numbers_alike(url: str) -> None:
    checked = await SSRFGuard(resolver=answers("93.184.216.34")).check(url)
    for text in (str(checked.url), str(checked.connect_url)):
        assert "user" not in text and "@" not in text, text
    assert str(checked.connect_url) == "http://93.184.216.34:8080/a?b=1"
