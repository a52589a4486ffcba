"""Consent signals: explicit states, Google consent mode, IAB TCF v2 strings, withdrawal."""

from __future__ import annotations

import base64

import pytest

from common.consent import PAID_CHANNELS, Consent, ConsentState
from common.settings import SettingsError
from services.ingest.channel_groups import Channel
from services.ingest.consent import (
    ConsentProblem,
    IncomingConsent,
    read_consent,
    recorded_consent,
    remembered_consent,
    tcf_consented_purposes,
)
from services.ingest.consent_defaults import ConsentDefaults, consent_defaults_settings

GRANTED, DENIED, UNKNOWN = ConsentState.GRANTED, ConsentState.DENIED, ConsentState.UNKNOWN


def tc_string(purposes: set[int], *, version: int = 2, vendors: int = 0) -> str:
    """A TCF TC string written from the specification's field table (independently of the
    decoder): core segment with the purposes' consent bits, no vendors, no restrictions."""
    fields = [
        (version, 6),
        (16_000_000_000, 36),  # Created, deciseconds
        (16_000_000_000, 36),  # LastUpdated
        (7, 12),  # CmpId
        (1, 12),  # CmpVersion
        (1, 6),  # ConsentScreen
        (4 * 64 + 13, 12),  # ConsentLanguage "EN"
        (150, 12),  # VendorListVersion
        (4, 6),  # TcfPolicyVersion
        (1, 1),  # IsServiceSpecific
        (0, 1),  # UseNonStandardTexts
        (0, 12),  # SpecialFeatureOptIns
        (sum(1 << (24 - p) for p in purposes), 24),  # PurposesConsent
        (0, 24),  # PurposesLITransparency
        (0, 1),  # PurposeOneTreatment
        (3 * 64 + 4, 12),  # PublisherCC "DE"
        (vendors, 16),  # MaxVendorId (consent)
        (0, 1),  # IsRangeEncoding
        (0, vendors),  # vendor bits
        (0, 16),  # MaxVendorId (legitimate interest)
        (0, 1),  # IsRangeEncoding
        (0, 12),  # NumPubRestrictions
    ]
    bits = "".join(format(value, f"0{width}b") if width else "" for value, width in fields)
    bits += "0" * (-len(bits) % 8)
    raw = int(bits, 2).to_bytes(len(bits) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def consent(**signals: object) -> Consent:
    read = read_consent(IncomingConsent(**signals))  # type: ignore[arg-type]
    assert isinstance(read, Consent), read
    return read


def problems(**signals: object) -> list[str]:
    read = read_consent(IncomingConsent(**signals))  # type: ignore[arg-type]
    assert isinstance(read, list), read
    return [p.field for p in read]


def test_no_signal_is_unknown_for_both_purposes() -> None:
    assert consent() == Consent(UNKNOWN, UNKNOWN)


@pytest.mark.parametrize(
    ("gcs", "analytics", "advertising"),
    [
        ("G100", DENIED, DENIED),
        ("G111", GRANTED, GRANTED),
        ("G101", GRANTED, DENIED),
        ("G110", DENIED, GRANTED),
        ("G1--", UNKNOWN, UNKNOWN),
        ("G1-1", GRANTED, UNKNOWN),
    ],
)
def test_google_consent_mode_gcs_is_ad_storage_then_analytics_storage(
    gcs: str, analytics: ConsentState, advertising: ConsentState
) -> None:
    assert consent(gcs=gcs) == Consent(analytics, advertising)


def test_google_consent_mode_storage_fields_map_to_their_purpose_in_any_case() -> None:
    assert consent(analytics_storage="Denied", ad_storage="granted") == Consent(DENIED, GRANTED)


def test_denied_wins_over_granted_when_signals_disagree() -> None:
    assert consent(analytics=GRANTED, gcs="G110") == Consent(DENIED, GRANTED)
    assert consent(advertising=GRANTED, ad_storage="denied") == Consent(UNKNOWN, DENIED)


@pytest.mark.parametrize(
    ("purposes", "analytics", "advertising"),
    [
        ({1, 2, 3, 4, 7, 8, 9, 10}, GRANTED, GRANTED),
        ({1, 7}, GRANTED, DENIED),
        ({1, 9}, GRANTED, DENIED),
        ({1, 2}, DENIED, GRANTED),
        ({1, 4, 8}, GRANTED, GRANTED),
        ({2, 3, 4, 7, 8, 9}, DENIED, DENIED),  # no storage (purpose 1): nothing
        (set(), DENIED, DENIED),
    ],
)
def test_tcf_purposes_map_to_analytics_and_advertising(
    purposes: set[int], analytics: ConsentState, advertising: ConsentState
) -> None:
    tc = tc_string(purposes, vendors=40)
    assert tcf_consented_purposes(tc) == frozenset(purposes)
    assert consent(tcf_string=tc) == Consent(analytics, advertising)


def test_a_tcf_string_with_further_segments_reads_its_core_segment() -> None:
    tc = tc_string({1, 7}) + ".IFoEUQQgAIQwgIwQABAEAAAAOIAACAIAAAAQAIAgEAACEAAAAAgAQBAAAAAAAGBAAg"
    assert consent(tcf_string=tc) == Consent(GRANTED, DENIED)


@pytest.mark.parametrize(
    ("tc", "reason"),
    [
        ("not a tc string!", "base64url"),
        ("COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA"[:20], "fewer than"),
        (tc_string({1}, version=1), "version 1"),
        ("x" * 9000, "longer than"),
    ],
)
def test_an_unreadable_tcf_string_is_a_violation_naming_why(tc: str, reason: str) -> None:
    read = read_consent(IncomingConsent(tcf_string=tc))
    assert isinstance(read, list)
    assert [p.field for p in read] == ["consent.tcf_string"]
    assert reason in read[0].description


def test_every_invalid_signal_is_reported_by_its_field() -> None:
    assert problems(
        analytics=None, gcs="G2", analytics_storage="yes", ad_storage="maybe", advertising=None
    ) == [
        "consent.analytics",
        "consent.advertising",
        "consent.analytics_storage",
        "consent.ad_storage",
        "consent.gcs",
    ]
    read = read_consent(IncomingConsent(gcs="G2"))
    assert read == [ConsentProblem("consent.gcs", read[0].description)]  # type: ignore[index]
    assert "G100" in read[0].description  # type: ignore[index]


def test_a_withdrawal_applies_to_later_events_that_say_nothing() -> None:
    remembered = remembered_consent(None, Consent(GRANTED, GRANTED))
    remembered = remembered_consent(remembered, Consent(DENIED, UNKNOWN))
    assert remembered == Consent(DENIED, GRANTED)
    assert recorded_consent(Consent(), [remembered]) == Consent(DENIED, GRANTED)
    # An event's own signal wins: consent given again applies to it (and from then on).
    assert recorded_consent(Consent(GRANTED, UNKNOWN), [remembered]) == Consent(GRANTED, GRANTED)
    # Of several identifiers, one that withdrew is enough.
    assert recorded_consent(Consent(), [Consent(GRANTED), Consent(DENIED)]).analytics_denied


def test_the_paid_channels_are_every_paid_media_channel_of_the_channel_group() -> None:
    paid = {c.value for c in Channel if c.value.startswith("paid_") or c is Channel.DISPLAY}
    assert paid <= PAID_CHANNELS
    assert not {Channel.EMAIL, Channel.DIRECT, Channel.ORGANIC_SEARCH} & PAID_CHANNELS


def test_a_denied_default_turns_only_unknown_purposes_into_denied() -> None:
    opt_in = ConsentDefaults(analytics_denied=True)
    unknown, granted = ConsentState.UNKNOWN, ConsentState.GRANTED
    assert opt_in.applied_to(Consent()) == Consent(ConsentState.DENIED, unknown)
    assert opt_in.applied_to(Consent(granted, unknown)) == Consent(granted, unknown)
    assert ConsentDefaults().applied_to(Consent()) == Consent()


def test_consent_defaults_come_from_the_environment() -> None:
    assert consent_defaults_settings({}) == ConsentDefaults()
    assert consent_defaults_settings(
        {"INGEST_CONSENT_DEFAULT_ANALYTICS": "Denied"}
    ) == ConsentDefaults(analytics_denied=True)
    with pytest.raises(SettingsError, match="INGEST_CONSENT_DEFAULT_ADVERTISING"):
        consent_defaults_settings({"INGEST_CONSENT_DEFAULT_ADVERTISING": "unknown"})
