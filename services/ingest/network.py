"""Weak network signals of an event: the client's IP address and the sender's coarse location."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

IPAddress = IPv4Address | IPv6Address

IPV4_NETWORK_PREFIX = 24
IPV6_NETWORK_PREFIX = 64
MAX_CITY_LENGTH = 100


class InvalidSignalError(ValueError):
    """A network or location signal that is not well formed; the message says why."""


@dataclass(frozen=True, slots=True)
class NetworkPseudonyms:
    """Keyed pseudonyms of a client's IP address ("ip:<hex>") and of its network ("net:<hex>")."""

    ip: str
    network: str


def parse_ip_address(text: str) -> IPAddress | None:
    """The IP address in `text` (trimmed), None when blank.

    IPv4-mapped IPv6 addresses become their IPv4 address and an IPv6 zone ("%eth0") is
    dropped, so that one client has one address. Raises InvalidSignalError when `text` is
    not an address.
    """
    text = text.strip()
    if not text:
        return None
    try:
        address = ip_address(text)
    except ValueError:
        raise InvalidSignalError("is not an IPv4 or IPv6 address") from None
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        return IPv6Address(int(address))
    return address


def distinguishes_clients(address: IPAddress) -> bool:
    """Whether the address can tell visitors apart: only globally routable unicast ones.

    Private, loopback, link-local, unspecified, carrier-grade NAT (100.64.0.0/10),
    documentation, reserved and multicast addresses are shared by unrelated clients (every
    home router is 192.168.1.1), so they are not forwarded.
    """
    return address.is_global and not address.is_multicast


def network_of(address: IPAddress) -> str:
    """The address's network in CIDR notation: its /24 for IPv4, its /64 for IPv6."""
    prefix = IPV4_NETWORK_PREFIX if isinstance(address, IPv4Address) else IPV6_NETWORK_PREFIX
    return str(ip_network((address, prefix), strict=False))


def normalise_country(text: str) -> str:
    """An ISO 3166-1 alpha-2 code in upper case ("" when blank).

    Raises InvalidSignalError unless it is two ASCII letters.
    """
    code = text.strip()
    if not code:
        return ""
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        raise InvalidSignalError("must be an ISO 3166-1 alpha-2 country code (two letters)")
    return code.upper()


def normalise_city(text: str) -> str:
    """A city name for comparison: NFKC, white space runs collapsed to one space, trimmed,
    case-folded ("" when blank).

    Raises InvalidSignalError when it is over MAX_CITY_LENGTH characters (before case
    folding) or holds control characters.
    """
    city = " ".join(unicodedata.normalize("NFKC", text).split())
    if len(city) > MAX_CITY_LENGTH:
        raise InvalidSignalError(f"is longer than {MAX_CITY_LENGTH} characters")
    if any(unicodedata.category(c) == "Cc" for c in city):
        raise InvalidSignalError("must not contain control characters")
    return city.casefold()
