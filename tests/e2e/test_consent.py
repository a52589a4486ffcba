"""Consent end to end: events without analytics consent keep no identifier, join no person,
are never revealable and are counted as unconsented; touchpoints without advertising consent
never credit paid channels; a withdrawal applies from then on until ForgetPerson."""

from __future__ import annotations

import sqlite3
import time

import grpc
import psycopg
import pytest
from psycopg import sql

from common.wire import from_identifier_pb
from convtrack.attribution.v1 import attribution_pb2
from convtrack.common.v1 import common_pb2
from convtrack.identity.v1 import identity_pb2
from convtrack.ingest.v1 import ingest_pb2
from convtrack.reporting.v1 import reporting_pb2
from services.commands.report_output import render_table
from services.commands.reports import fetch_report
from tests.conftest import Storage
from tests.e2e.system import DEADLINE, PROPERTY, System, event
from tests.e2e.test_forget_person import (
    stored_bytes,
    vault_rows,
    wait_until_the_vault_has_processed,
)

DENIED = ingest_pb2.Consent(analytics=ingest_pb2.CONSENT_STATE_DENIED)
EMAIL_LANDING = "https://shop.example.com/?utm_source=news&utm_medium=email"
PAID_LANDING = "https://shop.example.com/boots?gclid=Cj0KCQ-consent"


def anon(value: str) -> common_pb2.Identifier:
    return common_pb2.Identifier(type=common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID, value=value)


def click(event_id: str, hours_ago: float, cookie: str, landing: str, **fields: object):  # type: ignore[no-untyped-def]
    return event(
        event_id,
        hours_ago,
        identity=ingest_pb2.Identity(anonymous_id=cookie),
        touchpoint=ingest_pb2.Touchpoint(
            type=ingest_pb2.TOUCHPOINT_TYPE_CLICK, landing_url=landing
        ),
        **fields,
    )


def purchase(event_id: str, hours_ago: float, units: int, **fields: object):  # type: ignore[no-untyped-def]
    return event(
        event_id,
        hours_ago,
        conversion=ingest_pb2.Conversion(
            name="purchase",
            order_id=f"order-{event_id}",
            value=common_pb2.Money(currency_code="USD", units=units),
        ),
        **fields,
    )


def report(system: System) -> reporting_pb2.GetConversionReportResponse:
    return system.reporting.GetConversionReport(
        reporting_pb2.GetConversionReportRequest(property_id=PROPERTY, model="last_click"),
        timeout=DEADLINE,
    )


def attribution(system: System, conversion_id: str) -> attribution_pb2.ConversionAttributed:
    return system.attribution.GetAttribution(
        attribution_pb2.GetAttributionRequest(conversion_id=conversion_id), timeout=DEADLINE
    ).attribution


def resolve(system: System, cookie: str) -> identity_pb2.ResolveIdentityResponse:
    return system.identity.ResolveIdentity(
        identity_pb2.ResolveIdentityRequest(property_id=PROPERTY, identifier=anon(cookie)),
        timeout=DEADLINE,
    )


def pseudonym(system: System, cookie: str) -> common_pb2.Identifier:
    pairs = system.ingest.PseudonymiseIdentifiers(
        ingest_pb2.PseudonymiseIdentifiersRequest(property_id=PROPERTY, identifiers=[anon(cookie)]),
        timeout=DEADLINE,
    ).pairs
    return pairs[0].pseudonym


def consent_rows(storage: Storage) -> list[tuple[str, str, str]]:
    """Ingest's recorded consent per identifier: (pseudonym, analytics, advertising)."""
    query = "SELECT pseudonym, analytics, advertising FROM {} ORDER BY pseudonym"
    if storage.backend == "sqlite":
        with sqlite3.connect(f"file:{storage.data_dir / 'ingest.db'}?mode=ro", uri=True) as conn:
            return [tuple(r) for r in conn.execute(query.format("consent_states"))]
    with psycopg.connect(storage.database_url) as conn:
        return [
            tuple(r)
            for r in conn.execute(sql.SQL(query).format(sql.Identifier("ingest", "consent_states")))
        ]


def test_events_without_analytics_consent_keep_no_identifier_and_count_as_unconsented(
    system: System, storage: Storage
) -> None:
    tracked = system.track(
        click("ok-click", 6, "consent-ok", EMAIL_LANDING),
        purchase("ok-buy", 5, 30, identity=ingest_pb2.Identity(anonymous_id="consent-ok")),
        click("no-click", 6, "consent-no", PAID_LANDING, consent=ingest_pb2.Consent(gcs="G100")),
        purchase(
            "no-buy",
            5,
            20,
            identity=ingest_pb2.Identity(anonymous_id="consent-no", user_id="no-user"),
            context=ingest_pb2.Context(
                page_url="https://shop.example.com/thanks?utm_source=news&utm_medium=email",
                ip_address="203.0.113.9",
                geo_city="Köln",
            ),
            consent=ingest_pb2.Consent(analytics_storage="denied"),
        ),
        # No identifier at all: accepted only because analytics consent is denied.
        purchase(
            "anonymous-buy",
            4,
            10,
            context=ingest_pb2.Context(referrer="https://www.google.com/"),
            consent=DENIED,
        ),
    )
    consented_buy, unconsented_buy, anonymous_buy = tracked[1], tracked[3], tracked[4]
    system.sync()

    # The log keeps no identifier, network signal or order id of the denied events.
    log = {
        getattr(e, e.WhichOneof("event")).envelope.event_id: getattr(e, e.WhichOneof("event"))
        for e in system.ingest.ListEvents(
            ingest_pb2.ListEventsRequest(after=0, limit=100), timeout=DEADLINE
        ).entries
    }
    for event_id in ("no-click", "no-buy", "anonymous-buy"):
        recorded = log[event_id]
        assert not recorded.envelope.identifiers
        assert recorded.envelope.consent.analytics == ingest_pb2.CONSENT_STATE_DENIED
        assert recorded.envelope.network == ingest_pb2.NetworkSignals()
    assert log["no-buy"].order_id == "" and log["no-buy"].channel == "email"
    assert log["anonymous-buy"].channel == "organic_search"
    assert log["ok-buy"].envelope.identifiers and log["ok-buy"].order_id == "order-ok-buy"

    # Identity joins them to no person; the consented visitor is one.
    assert {i.value for i in resolve(system, "consent-ok").identifiers} != set()
    with pytest.raises(grpc.RpcError) as unknown:
        resolve(system, "consent-no")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

    # Nothing revealable: the vault made no key for them and reveals nothing.
    denied = pseudonym(system, "consent-no")
    assert vault_rows(storage, [from_identifier_pb(denied).key]) == {}
    assert not system.ingest.RevealIdentifiers(
        ingest_pb2.RevealIdentifiersRequest(property_id=PROPERTY, pseudonyms=[denied]),
        timeout=DEADLINE,
    ).pairs
    stored = stored_bytes(storage)
    assert not [raw for raw in (b"consent-no", b"no-user", b"order-no-buy") if raw in stored]

    # Reports count them, credited to their own page's channel, and say how many.
    answer = report(system)
    assert {r.group: r.conversions for r in answer.rows} == {"email": 2.0, "organic_search": 1.0}
    assert answer.total_conversions == 3.0
    assert answer.unconsented_conversions == 2
    assert not attribution(system, consented_buy).unconsented
    for conversion_id in (unconsented_buy, anonymous_buy):
        credited = attribution(system, conversion_id)
        assert credited.unconsented
        assert [t.touchpoint_id for t in credited.journey] == [conversion_id]
    table = render_table(
        fetch_report(
            system.addresses.reporting, "conversions", property_id=PROPERTY, models=["last_click"]
        )
    )
    assert "Counted without analytics consent: 2 of the conversions" in " ".join(table.split())


def test_touchpoints_without_advertising_consent_never_credit_paid_channels(
    system: System,
) -> None:
    ad_denied = ingest_pb2.Consent(ad_storage="denied")
    (_, paid_click, buy, _, _, no_ads_buy) = system.track(
        click("a-email", 8, "ads-a", EMAIL_LANDING),
        click("a-paid", 7, "ads-a", PAID_LANDING, consent=ad_denied),
        # Consent given again for this purchase: the earlier paid click stays denied.
        purchase(
            "a-buy",
            6,
            40,
            identity=ingest_pb2.Identity(anonymous_id="ads-a"),
            consent=ingest_pb2.Consent(advertising=ingest_pb2.CONSENT_STATE_GRANTED),
        ),
        # The conversion itself without advertising consent: its paid touchpoint is skipped.
        click("b-email", 8, "ads-b", EMAIL_LANDING),
        click("b-paid", 7, "ads-b", PAID_LANDING),
        purchase(
            "b-buy", 6, 50, identity=ingest_pb2.Identity(anonymous_id="ads-b"), consent=ad_denied
        ),
    )
    system.sync()

    for model in ("last_click", "first_click", "linear"):
        assert "paid_search" not in system.report(model), model
    assert system.report("last_click") == {"email": (2.0, 90, 0)}
    credited = attribution(system, buy)
    assert paid_click not in [t.touchpoint_id for t in credited.journey]
    assert not credited.advertising_denied
    assert attribution(system, no_ads_buy).advertising_denied
    assert report(system).unconsented_conversions == 0


def test_a_withdrawal_applies_from_then_on_and_forget_person_erases_the_consent_record(
    system: System, storage: Storage
) -> None:
    who = ingest_pb2.Identity(anonymous_id="withdraw-cookie")
    before = system.track(
        click("w-click", 10, "withdraw-cookie", EMAIL_LANDING),
        purchase("w-buy-1", 9, 30, identity=who),
    )[1]
    system.sync()
    person = resolve(system, "withdraw-cookie")

    # The visitor withdraws analytics consent; later events that say nothing about consent
    # are stored without identifiers, and the earlier data stays.
    withdrawn, after = system.track(
        event("w-withdraw", 8, identity=who, page_view=ingest_pb2.PageView(), consent=DENIED),
        purchase("w-buy-2", 7, 20, identity=who),
    )
    system.sync()
    assert attribution(system, before).journey and not attribution(system, before).unconsented
    assert attribution(system, after).unconsented
    assert report(system).unconsented_conversions == 1
    explained = system.identity.ExplainPerson(
        identity_pb2.ExplainPersonRequest(property_id=PROPERTY, person_id=person.person_id),
        timeout=DEADLINE,
    )
    assert withdrawn not in str(explained) and after not in str(explained)
    assert resolve(system, "withdraw-cookie").person_id == person.person_id
    recorded = pseudonym(system, "withdraw-cookie")
    assert consent_rows(storage) == [(from_identifier_pb(recorded).key, "denied", "unknown")]

    # Consent given again applies to that event and the next ones.
    again = system.track(
        purchase(
            "w-buy-3",
            6,
            10,
            identity=who,
            consent=ingest_pb2.Consent(analytics=ingest_pb2.CONSENT_STATE_GRANTED),
        ),
        purchase("w-buy-4", 5, 10, identity=who),
    )
    system.sync()
    assert not [c for c in again if attribution(system, c).unconsented]
    assert consent_rows(storage)[0][1] == "granted"

    # ForgetPerson erases the past, the recorded consent included.
    system.identity.ForgetPerson(
        identity_pb2.ForgetPersonRequest(
            property_id=PROPERTY, person_id=person.person_id, note="erasure"
        ),
        timeout=DEADLINE,
    )
    system.sync()
    wait_until_the_vault_has_processed(system, storage)
    deadline = time.monotonic() + 30
    while consent_rows(storage) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert consent_rows(storage) == []
