"""An event's consent, read from its explicit states, Google consent mode and an IAB TCF string.

Every signal an event carries is read; they are combined per purpose, and denied wins: a
purpose is DENIED when any signal denies it, GRANTED when one grants it and none denies it,
and UNKNOWN when none says anything.

The IAB TCF v2 TC string is decoded here, reading only the bits needed (the version and the
purposes' consent bits of the core segment, per the TCF v2 "TC String" specification). The
`iab-tcf` package was considered and not used: its last release is from 2022 (a 2024 fork
changes only the bit library), it installs a top-level `tests` package, it reads a truncated
string's missing bits as zeros instead of failing, and it expands the vendor ranges of the
optional segments by copying a dict per range: a crafted 1,151-character string (200 ranges
of 65,535 vendors) took 12 s of CPU in its `decode` here, so it is not safe on untrusted input
at the edge. The purposes need 24 bits at a fixed offset; this reading was compared once, by
hand, with that package's on the tests' TC strings (written from the specification's field
table) and on a real CMP string; the package is not a dependency.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from common.consent import Consent, ConsentState

MAX_TCF_STRING_LENGTH = 8192
GCS_PATTERN = re.compile(r"G1([01-])([01-])")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_GCM_STATES = {"granted": ConsentState.GRANTED, "denied": ConsentState.DENIED}
_GCS_DIGITS = {"1": ConsentState.GRANTED, "0": ConsentState.DENIED, "-": ConsentState.UNKNOWN}

TCF_VERSION = 2
TCF_PURPOSES_OFFSET = 152
"""Bits before PurposesConsent in a v2 core segment: Version 6, Created 36, LastUpdated 36,
CmpId 12, CmpVersion 12, ConsentScreen 6, ConsentLanguage 12, VendorListVersion 12,
TcfPolicyVersion 6, IsServiceSpecific 1, UseNonStandardTexts 1, SpecialFeatureOptIns 12."""
TCF_PURPOSE_BITS = 24
TCF_CORE_MIN_BITS = 213
"""A core segment holds at least every field up to PublisherCC (bit 212)."""
TCF_STORAGE_PURPOSE = 1
TCF_ANALYTICS_PURPOSES = frozenset({7, 8, 9})
TCF_ADVERTISING_PURPOSES = frozenset({2, 3, 4})


@dataclass(frozen=True, slots=True)
class IncomingConsent:
    """An event's consent signals as sent; empty strings are signals not sent.

    `analytics` and `advertising` are None when the sender's enum number is not a known
    state (reported as a violation)."""

    analytics: ConsentState | None = ConsentState.UNKNOWN
    advertising: ConsentState | None = ConsentState.UNKNOWN
    gcs: str = ""
    analytics_storage: str = ""
    ad_storage: str = ""
    tcf_string: str = ""


@dataclass(frozen=True, slots=True)
class ConsentProblem:
    """One invalid consent field and what is wrong with it."""

    field: str
    description: str


class TcfError(ValueError):
    """A TC string that cannot be read."""


def read_consent(incoming: IncomingConsent) -> Consent | list[ConsentProblem]:
    """The event's consent for analytics and advertising, or every invalid field."""
    problems: list[ConsentProblem] = []
    analytics: list[ConsentState] = []
    advertising: list[ConsentState] = []
    for name, state, found in (
        ("analytics", incoming.analytics, analytics),
        ("advertising", incoming.advertising, advertising),
    ):
        if state is None:
            problems.append(
                ConsentProblem(
                    f"consent.{name}", "is not a known consent state: use granted or denied"
                )
            )
        else:
            found.append(state)
    for name, value, found in (
        ("analytics_storage", incoming.analytics_storage, analytics),
        ("ad_storage", incoming.ad_storage, advertising),
    ):
        if value:
            state = _GCM_STATES.get(value.strip().lower())
            if state is None:
                problems.append(ConsentProblem(f"consent.{name}", 'must be "granted" or "denied"'))
            else:
                found.append(state)
    if incoming.gcs:
        matched = GCS_PATTERN.fullmatch(incoming.gcs.strip())
        if matched is None:
            problems.append(
                ConsentProblem(
                    "consent.gcs",
                    'must be Google consent mode\'s "G1" and two digits, 1 granted, 0 denied '
                    'or - not set, for ad_storage then analytics_storage (for example "G100" '
                    'or "G111")',
                )
            )
        else:
            advertising.append(_GCS_DIGITS[matched.group(1)])
            analytics.append(_GCS_DIGITS[matched.group(2)])
    if incoming.tcf_string:
        try:
            purposes = tcf_consented_purposes(incoming.tcf_string)
        except TcfError as error:
            problems.append(ConsentProblem("consent.tcf_string", str(error)))
        else:
            analytics.append(_tcf_state(purposes, TCF_ANALYTICS_PURPOSES))
            advertising.append(_tcf_state(purposes, TCF_ADVERTISING_PURPOSES))
    if problems:
        return problems
    return Consent(_combined(analytics), _combined(advertising))


def tcf_consented_purposes(tc_string: str) -> frozenset[int]:
    """The purposes (1 to 24) a TCF v2 TC string's core segment consents to.

    Raises TcfError when the string is not a readable TCF v2 TC string."""
    if len(tc_string) > MAX_TCF_STRING_LENGTH:
        raise TcfError(f"is longer than {MAX_TCF_STRING_LENGTH} characters")
    segments = tc_string.strip().split(".")
    if not all(_BASE64URL.fullmatch(segment) for segment in segments):
        raise TcfError(
            "is not an IAB TCF v2 TC string: segments of base64url characters "
            "(A-Z, a-z, 0-9, - and _) separated by dots"
        )
    try:
        core = base64.urlsafe_b64decode(segments[0] + "=" * (-len(segments[0]) % 4))
    except (binascii.Error, ValueError):
        raise TcfError(
            "is not an IAB TCF v2 TC string: its core segment is not base64url"
        ) from None
    bits = int.from_bytes(core, "big")
    length = len(core) * 8

    def read(offset: int, count: int) -> int:
        return (bits >> (length - offset - count)) & ((1 << count) - 1)

    if length < TCF_CORE_MIN_BITS:
        raise TcfError(
            f"is not an IAB TCF v2 TC string: its core segment has {length} bits, fewer than "
            f"the {TCF_CORE_MIN_BITS} every TC string has"
        )
    version = read(0, 6)
    if version != TCF_VERSION:
        raise TcfError(f"is a TCF version {version} string; only version 2 (TCF 2.x) is read")
    consents = read(TCF_PURPOSES_OFFSET, TCF_PURPOSE_BITS)
    return frozenset(
        purpose
        for purpose in range(1, TCF_PURPOSE_BITS + 1)
        if consents >> (TCF_PURPOSE_BITS - purpose) & 1
    )


def _tcf_state(consented: frozenset[int], purposes: frozenset[int]) -> ConsentState:
    """GRANTED when storage (purpose 1) and at least one purpose of the group are consented."""
    if TCF_STORAGE_PURPOSE in consented and consented & purposes:
        return ConsentState.GRANTED
    return ConsentState.DENIED


def _combined(states: Iterable[ConsentState]) -> ConsentState:
    """Denied wins, then granted; unknown when nothing was said."""
    found = set(states)
    if ConsentState.DENIED in found:
        return ConsentState.DENIED
    if ConsentState.GRANTED in found:
        return ConsentState.GRANTED
    return ConsentState.UNKNOWN


def recorded_consent(own: Consent, remembered: Iterable[Consent]) -> Consent:
    """The consent an event is recorded under: for each purpose, what the event itself says;
    when it says nothing, denied if the last recorded consent of any of its identifiers
    denied it (a withdrawal applies to later events), else granted if one granted it."""
    earlier = list(remembered)
    return Consent(
        own.analytics
        if own.analytics is not ConsentState.UNKNOWN
        else _combined(c.analytics for c in earlier),
        own.advertising
        if own.advertising is not ConsentState.UNKNOWN
        else _combined(c.advertising for c in earlier),
    )


def remembered_consent(previous: Consent | None, own: Consent) -> Consent:
    """An identifier's consent after one of its events said `own`: each purpose the event
    stated replaces the earlier state; the others stay."""
    previous = previous or Consent()
    return Consent(
        own.analytics if own.analytics is not ConsentState.UNKNOWN else previous.analytics,
        own.advertising if own.advertising is not ConsentState.UNKNOWN else previous.advertising,
    )
