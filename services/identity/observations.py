"""Observations for identity resolution: what one event or record says about who someone is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class IdentifierKind(StrEnum):
    """Identifier types, by the prefix of their keys ("anon:abc", "email:<sha256>")."""

    ANONYMOUS = "anon"
    USER = "user"
    EMAIL = "email"
    PHONE = "phone"
    CRM = "crm"


@dataclass(frozen=True, slots=True)
class ObservationRecord:
    """One observation: identifiers seen together, and the weak signals seen with them.

    `identifiers` are keys like "user:42" or "email:<sha256 hex>"; emails and phones only
    hashed. The weak signals feed probabilistic matching and are optional. In the service,
    ingest sends `ip` and `ip_network` as keyed pseudonyms and the user agent already parsed
    (`ua_family`, `ua_device`); offline files give a raw `ip` and `user_agent`, from which
    the network and the parsed user agent are derived when these fields are empty.
    The address fields (`street_number`, `address_1`, `address_2`, `state`) and
    `national_id` (a social security or national identity number, compared raw: one digit
    wrong or two swapped is a typo) come only from offline files of CRM records.
    """

    obs_id: str
    identifiers: tuple[str, ...]
    ts: datetime | None = None
    source: str = ""
    event: str = ""
    ip: str = ""
    user_agent: str = ""
    geo_city: str = ""
    ip_network: str = ""
    ua_family: str = ""
    ua_device: str = ""
    first_name: str = ""
    last_name: str = ""
    postcode: str = ""
    phone_sha256: str = ""
    date_of_birth: str = ""
    street_number: str = ""
    address_1: str = ""
    address_2: str = ""
    state: str = ""
    national_id: str = ""
