"""User-agent and network signals: IP networks, parsed user agents, device builds."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache
from typing import Any

UaSignature = Callable[[str], tuple[str, str]]
"""Maps a user-agent string to (family, device): e.g. ("Chrome/Windows", "Other/131/10")."""


@lru_cache(maxsize=1 << 16)
def ip_network(ip: str) -> str:
    """The /24 network of an IPv4 address, the /64 of an IPv6 one, "" for anything else."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@lru_cache(maxsize=1)
def _ua_parser() -> Any:
    import ua_parser  # loaded on first use, not at import time

    return ua_parser.Parser(ua_parser.BestAvailableResolver(ua_parser.load_lazy_builtins()))


def _version(major: str | None, minor: str | None = None) -> str:
    """ "major.minor", "major" or "", as ingest writes versions."""
    if not major:
        return ""
    return f"{major}.{minor}" if minor else major


@lru_cache(maxsize=1 << 14)
def parse_user_agent(user_agent: str) -> tuple[str, str]:
    """(browser/OS family, "device/browser major/OS version") of a user agent, with ua-parser,
    in the format ingest forwards (unknown versions empty); ("", "") if blank."""
    if not user_agent.strip():
        return "", ""
    parsed = _ua_parser().parse(user_agent.strip()).with_defaults()
    family = f"{parsed.user_agent.family}/{parsed.os.family}"
    browser = _version(parsed.user_agent.major)
    device = f"{parsed.device.family}/{browser}/{_version(parsed.os.major, parsed.os.minor)}"
    return family, device


_UNKNOWN_VERSIONS = frozenset({"", "none", "null", "other"})


@lru_cache(maxsize=1 << 14)
def device_build(device: str) -> str:
    """The device build ("device/browser major/OS version") when it names a browser version,
    else "": without one (ua-parser gives none for many Safari strings; ingest leaves it
    empty) every device of a model shares the build, which then says no more than the
    browser family. A literal "None" from older parses counts as unknown; an unknown OS
    minor is dropped ("10.None" is "10")."""
    parts = [part.strip() for part in device.split("/")]
    if len(parts) != 3 or parts[1].casefold() in _UNKNOWN_VERSIONS:
        return ""
    os_major, _, os_minor = parts[2].partition(".")
    os_version = "" if os_major.casefold() in _UNKNOWN_VERSIONS else os_major
    if os_version and os_minor.casefold() not in _UNKNOWN_VERSIONS:
        os_version = f"{os_version}.{os_minor}"
    return f"{parts[0]}/{parts[1]}/{os_version}"
