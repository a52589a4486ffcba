"""The ingest API through gRPC against a real server, on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf import timestamp_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import given, settings
from hypothesis import strategies as st

from common.grpc_errors import bad_request_of
from common.server import RunningService
from convtrack.common.v1 import common_pb2
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.server import IngestSettings, start
from tests.conftest import Storage
from tests.integration.helpers_ingest import (
    DEADLINE,
    ago,
    conversion,
    envelope,
    identify,
    log_head,
    logged_by_event_id,
    logged_event_ids,
    money_of,
    page_view,
    read_log,
    seconds,
    stored_bytes,
    touchpoint,
    track,
)

SERVICE = "convtrack.ingest.v1.IngestService"
ACCEPTED = ingest_pb2.VERDICT_ACCEPTED
DUPLICATE = ingest_pb2.VERDICT_DUPLICATE
REJECTED = ingest_pb2.VERDICT_REJECTED

Stub = ingest_pb2_grpc.IngestServiceStub


def _start(database_url: str, data_dir: Path) -> RunningService:
    return start(IngestSettings(listen="127.0.0.1:0", database_url=database_url, data_dir=data_dir))


@pytest.fixture
def ingest(storage: Storage) -> Iterator[RunningService]:
    """A real ingest server on the test's storage, listening on a free port."""
    service = _start(storage.database_url, storage.data_dir)
    try:
        yield service
    finally:
        service.stop(0)


@pytest.fixture
def channel(ingest: RunningService) -> Iterator[grpc.Channel]:
    """A client channel to the ingest server."""
    with grpc.insecure_channel(f"127.0.0.1:{ingest.port}") as client_channel:
        yield client_channel


@pytest.fixture
def stub(channel: grpc.Channel) -> Stub:
    """An IngestService client."""
    return ingest_pb2_grpc.IngestServiceStub(channel)


def timestamp_of_seconds(value: int) -> timestamp_pb2.Timestamp:
    """A raw Timestamp message, valid or not."""
    return timestamp_pb2.Timestamp(seconds=value)


def _violations(verdict: ingest_pb2.EventVerdict) -> list[tuple[str, str]]:
    return [(v.field, v.description) for v in verdict.violations]


# --- 1. Bad input: rejected precisely, the rest of the batch accepted -------------------

Mutation = Callable[[], ingest_pb2.Event]

BAD_EVENTS: list[tuple[str, Mutation, str, str]] = [
    ("missing_property_id", lambda: page_view("bad", property_id=""), "property_id", "required"),
    ("missing_event_id", lambda: page_view(""), "event_id", "required"),
    (
        "no_kind",
        lambda: ingest_pb2.Event(
            property_id="shop",
            event_id="bad",
            timestamp=ago(timedelta(minutes=5)),
            identity=ingest_pb2.Identity(anonymous_id="anon-1"),
        ),
        "kind",
        "one of touchpoint, page_view, conversion, identify, outcome is required",
    ),
    (
        "negative_value",
        lambda: conversion("bad", value=money_of("EUR", -5, -250_000_000)),
        "conversion.value",
        "must not be negative",
    ),
    (
        "nanos_out_of_range",
        lambda: conversion("bad", value=money_of("EUR", 1, 1_000_000_000)),
        "conversion.value.nanos",
        "between -999999999 and 999999999",
    ),
    (
        "unknown_currency",
        lambda: conversion("bad", value=money_of("XYZ", 10)),
        "conversion.value.currency_code",
        "'XYZ' is not an ISO 4217 currency code",
    ),
    (
        "malformed_email",
        lambda: page_view("bad", identity=ingest_pb2.Identity(email="jane.example.com")),
        "identity.email",
        "'@'",
    ),
    (
        "timestamp_in_the_future",
        lambda: page_view("bad", timestamp=ago(-timedelta(days=2))),
        "timestamp",
        "in the future",
    ),
    (
        "timestamp_too_old",
        lambda: page_view("bad", timestamp=ago(timedelta(days=91))),
        "timestamp",
        "older than 90 days",
    ),
    (
        "event_over_32_kib",
        lambda: page_view("bad", page_view=ingest_pb2.PageView(title="x" * 40_000)),
        "event",
        "bytes, over the limit of 32 KiB (32768 bytes)",
    ),
    (
        "unknown_touchpoint_type",
        lambda: touchpoint("bad", type=99),
        "touchpoint.type",
        "is not a known touchpoint type",
    ),
    (
        "timestamp_nanos_out_of_range",
        lambda: page_view("bad", timestamp=timestamp_pb2.Timestamp(seconds=1, nanos=-1)),
        "timestamp",
        "nanos -1 must be between 0 and 999999999",
    ),
    (
        "nul_in_a_utm_tag",
        lambda: touchpoint("bad", utm=ingest_pb2.Utm(campaign="spring\x00sale")),
        "touchpoint.utm.campaign",
        "must not contain NUL characters",
    ),
    (
        "nul_in_a_tag_of_the_landing_url",
        lambda: touchpoint("bad", landing_url="https://shop.example/?utm_campaign=a%00b"),
        "touchpoint.landing_url",
        "carries campaign tags with NUL characters",
    ),
    (
        "identify_with_one_identifier",
        lambda: identify("bad", ingest_pb2.Identity(user_id="u-1")),
        "identity",
        "at least two identifiers",
    ),
    (
        "missing_identity",
        lambda: page_view("bad", identity=ingest_pb2.Identity()),
        "identity",
        "at least one of anonymous_id, user_id, email, email_sha256 is required",
    ),
    (
        "malformed_ip_address",
        lambda: page_view("bad", context=ingest_pb2.Context(ip_address="81.2.69.300")),
        "context.ip_address",
        "is not an IPv4 or IPv6 address",
    ),
    (
        "three_letter_country",
        lambda: page_view("bad", context=ingest_pb2.Context(geo_country="DEU")),
        "context.geo_country",
        "ISO 3166-1 alpha-2",
    ),
    (
        "city_over_100_characters",
        lambda: page_view("bad", context=ingest_pb2.Context(geo_city="x" * 101)),
        "context.geo_city",
        "longer than 100 characters",
    ),
    (
        "missing_timestamp",
        lambda: ingest_pb2.Event(
            property_id="shop",
            event_id="bad",
            identity=ingest_pb2.Identity(anonymous_id="anon-1"),
            page_view=ingest_pb2.PageView(url="https://shop.example/"),
        ),
        "timestamp",
        "is required",
    ),
]


@pytest.mark.parametrize(
    ("bad_event", "field", "reason"),
    [pytest.param(make, field, reason, id=name) for name, make, field, reason in BAD_EVENTS],
)
def test_an_invalid_event_is_rejected_with_its_reason_and_the_rest_of_the_batch_is_accepted(
    stub: Stub, bad_event: Mutation, field: str, reason: str
) -> None:
    # A batch with the bad event between two good ones.
    response = track(stub, [page_view("good-1"), bad_event(), touchpoint("good-2")])

    # The bad event is rejected for exactly one reason, on the expected field.
    before, bad, after = response.verdicts
    assert bad.verdict == REJECTED
    assert bad.record_id == ""
    [(rejected_field, description)] = _violations(bad)
    assert rejected_field == field
    assert reason in description

    # The good events are accepted and they alone are in the log.
    assert (before.verdict, after.verdict) == (ACCEPTED, ACCEPTED)
    assert (response.accepted_count, response.duplicate_count, response.rejected_count) == (
        2,
        0,
        1,
    )
    assert logged_event_ids(stub) == ["good-1", "good-2"]


# --- 2. Batch limits ----------------------------------------------------------------------


def test_a_batch_of_1001_events_fails_as_a_whole_and_stores_nothing(stub: Stub) -> None:
    # Something is in the log already.
    track(stub, [page_view("earlier")])
    head = log_head(stub)

    # A batch one event over the limit is refused as a whole, naming the events field.
    with pytest.raises(grpc.RpcError) as refused:
        track(stub, [page_view(f"e-{i}") for i in range(1001)])
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    problems = bad_request_of(refused.value)
    assert [p.field for p in problems] == ["events"]
    assert "1001" in problems[0].description and "1000" in problems[0].description

    # None of its events were stored.
    assert log_head(stub) == head
    assert logged_event_ids(stub) == ["earlier"]


# --- 3. Idempotency -----------------------------------------------------------------------


def test_a_batch_sent_twice_is_stored_once_and_reported_as_duplicates(stub: Stub) -> None:
    batch = [touchpoint("t-1"), page_view("p-1"), conversion("c-1", order_id="o-1")]

    # The first time, every event is accepted.
    first = track(stub, batch)
    assert [v.verdict for v in first.verdicts] == [ACCEPTED] * 3

    # The second time, every event is a duplicate of the same record.
    second = track(stub, batch)
    assert [v.verdict for v in second.verdicts] == [DUPLICATE] * 3
    assert [v.record_id for v in second.verdicts] == [v.record_id for v in first.verdicts]
    assert second.duplicate_count == 3

    # The log holds each event once.
    assert logged_event_ids(stub) == ["t-1", "p-1", "c-1"]


def test_a_conversion_resent_with_a_new_event_id_but_the_same_order_is_a_duplicate(
    stub: Stub,
) -> None:
    # An order is tracked, then re-sent by another system under another event id.
    first = track(stub, [conversion("c-1", name="purchase", order_id="order-42")])
    again = track(stub, [conversion("c-2", name="purchase", order_id="order-42")])

    # The second is a duplicate of the first conversion.
    assert again.verdicts[0].verdict == DUPLICATE
    assert again.verdicts[0].record_id == first.verdicts[0].record_id

    # The same order id under another conversion name is a different conversion.
    other = track(stub, [conversion("c-3", name="refund", order_id="order-42")])
    assert other.verdicts[0].verdict == ACCEPTED

    assert logged_event_ids(stub) == ["c-1", "c-3"]


def test_the_same_event_twice_in_one_batch_is_accepted_once(stub: Stub) -> None:
    response = track(stub, [page_view("p-1"), page_view("p-1")])

    assert [v.verdict for v in response.verdicts] == [ACCEPTED, DUPLICATE]
    assert response.verdicts[0].record_id == response.verdicts[1].record_id
    assert logged_event_ids(stub) == ["p-1"]


def test_a_batch_retried_after_the_client_timed_out_is_stored_once(stub: Stub) -> None:
    batch = [touchpoint("t-1"), page_view("p-1"), conversion("c-1")]

    # The client gives up on the batch almost at once: the server may or may not have stored
    # it (a fast server can even answer in time; then the retry is a plain resend).
    try:
        track(stub, batch, timeout=0.0005)
    except grpc.RpcError as error:
        # The client's timer fires, or ingest's wait for the group commit (half the time
        # left) ends first and it answers UNAVAILABLE (the batch may still be stored): both mean
        # send it again.
        assert error.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE)

    # It retries with a normal deadline: every event is either new or a duplicate.
    retry = track(stub, batch)
    assert {v.verdict for v in retry.verdicts} <= {ACCEPTED, DUPLICATE}

    # The log holds each event exactly once.
    assert sorted(logged_event_ids(stub)) == ["c-1", "p-1", "t-1"]


# --- 4. Enrichment --------------------------------------------------------------------------


def test_touchpoint_channels_are_derived_from_click_ids_tags_and_referrer(stub: Stub) -> None:
    # Touchpoints from each kind of traffic.
    track(
        stub,
        [
            touchpoint("gclid", click_ids=ingest_pb2.ClickIds(gclid="Cj0KCQ")),
            touchpoint("fbclid", click_ids=ingest_pb2.ClickIds(fbclid="IwAR0")),
            touchpoint("ttclid", click_ids=ingest_pb2.ClickIds(ttclid="E.C.P.x")),
            touchpoint("sccid", landing_url="https://shop.example.com/?ScCid=9f2c"),
            touchpoint("newsletter", utm=ingest_pb2.Utm(source="weekly", medium="email")),
            touchpoint("google", referrer="https://www.google.com/search?q=shoes"),
            touchpoint("typed"),
        ],
    )

    # The log carries the channel of each.
    logged = logged_by_event_id(stub)
    assert {event_id: t.channel for event_id, t in logged.items()} == {
        "gclid": "paid_search",
        "fbclid": "paid_social",
        "ttclid": "paid_social",
        "sccid": "paid_social",
        "newsletter": "email",
        "google": "organic_search",
        "typed": "direct",
    }
    assert logged["gclid"].click_id_type == "gclid"
    assert logged["google"].referrer_host == "www.google.com"


def test_a_touchpoint_sent_without_a_type_is_stored_as_a_visit(stub: Stub) -> None:
    response = track(stub, [touchpoint("untyped", type=ingest_pb2.TOUCHPOINT_TYPE_UNSPECIFIED)])
    assert response.verdicts[0].verdict == ACCEPTED
    assert logged_by_event_id(stub)["untyped"].type == ingest_pb2.TOUCHPOINT_TYPE_VISIT


def test_a_plain_email_leaves_ingest_only_as_a_pseudonym_and_is_stored_sealed(
    storage: Storage, stub: Stub
) -> None:
    # An event identifies its visitor by a plain, untidy email address.
    address = "Jane.Doe@Example.COM"
    normalised = "jane.doe@example.com"
    digest = hashlib.sha256(normalised.encode()).hexdigest()
    track(stub, [page_view("p-1", identity=ingest_pb2.Identity(email=f"  {address} "))])

    # The log carries a pseudonym of the hashed address, which ingest can reveal.
    [entry] = read_log(stub)
    [pseudonym] = envelope(entry).identifiers
    assert pseudonym.type == common_pb2.IDENTIFIER_TYPE_EMAIL_SHA256
    assert pseudonym.value not in (digest, normalised)
    revealed = stub.RevealIdentifiers(
        ingest_pb2.RevealIdentifiersRequest(property_id="shop", pseudonyms=[pseudonym]),
        timeout=DEADLINE,
    )
    assert [(p.identifier.value, p.pseudonym.value) for p in revealed.pairs] == [
        (digest, pseudonym.value)
    ]
    by_email = stub.PseudonymiseIdentifiers(
        ingest_pb2.PseudonymiseIdentifiersRequest(
            property_id="shop",
            identifiers=[
                common_pb2.Identifier(type=common_pb2.IDENTIFIER_TYPE_EMAIL, value=address)
            ],
        ),
        timeout=DEADLINE,
    )
    assert [p.pseudonym.value for p in by_email.pairs] == [pseudonym.value]

    # The store holds the pseudonym, but neither the address nor its hash in the clear.
    stored = stored_bytes(storage)
    assert pseudonym.value.encode() in stored
    assert digest.encode() not in stored
    assert normalised.encode() not in stored.lower()
    assert b"jane.doe" not in stored.lower()


IP_A = "81.2.69.142"
IP_A_AGAIN = "  ::ffff:81.2.69.142 "
IP_SAME_24 = "81.2.69.160"
IP_OTHER_24 = "81.2.70.142"
IP_V6 = "2a00:1450:4001:81b::200e"


def test_client_ips_are_forwarded_only_as_pseudonyms_and_stored_nowhere(
    storage: Storage, stub: Stub
) -> None:
    # Events from one address (once written IPv4-mapped), a neighbour in its /24, an address
    # in another /24, an IPv6 address, a home-router address and none.
    def seen_from(event_id: str, ip: str, **geo: str) -> ingest_pb2.Event:
        return page_view(event_id, context=ingest_pb2.Context(ip_address=ip, **geo))

    response = track(
        stub,
        [
            seen_from("a", IP_A, geo_country="de", geo_city="  Bad   Homburg "),
            seen_from("a-again", IP_A_AGAIN),
            seen_from("same-24", IP_SAME_24),
            seen_from("other-24", IP_OTHER_24),
            seen_from("ipv6", IP_V6),
            seen_from("home-router", "192.168.1.1", geo_country="FR"),
            page_view("no-ip"),
        ],
    )
    assert [v.verdict for v in response.verdicts] == [ACCEPTED] * 7
    network = {event_id: e.envelope.network for event_id, e in logged_by_event_id(stub).items()}

    # The same address has the same pseudonym; its /24 neighbour shares only the network.
    a = network["a"]
    assert a.ip_pseudonym.startswith("ip:") and a.network_pseudonym.startswith("net:")
    assert network["a-again"].ip_pseudonym == a.ip_pseudonym
    assert network["same-24"].ip_pseudonym != a.ip_pseudonym
    assert network["same-24"].network_pseudonym == a.network_pseudonym
    assert network["other-24"].network_pseudonym != a.network_pseudonym
    assert network["ipv6"].ip_pseudonym and network["ipv6"].network_pseudonym

    # The sender's location is normalised and forwarded alongside.
    assert (a.geo_country, a.geo_city) == ("DE", "bad homburg")

    # A private address and a missing one give no IP signal; the country still comes through.
    assert network["home-router"] == ingest_pb2.NetworkSignals(geo_country="FR")
    assert network["no-ip"] == ingest_pb2.NetworkSignals()

    # No address, nor its network, is in the store in any notation.
    stored = stored_bytes(storage)
    assert a.ip_pseudonym.encode() in stored
    for raw in ("81.2.69", "81.2.70", "2a00:1450", "2a00:1450:4001:81b:0:0:0:200e", "192.168.1"):
        assert raw.encode() not in stored, raw


def test_another_property_gets_other_pseudonyms_for_the_same_address(stub: Stub) -> None:
    context = ingest_pb2.Context(ip_address=IP_A)
    track(
        stub,
        [
            page_view("shop-a", context=context),
            page_view("other-a", context=context, property_id="other-shop"),
        ],
    )
    logged = logged_by_event_id(stub)
    assert logged["shop-a"].envelope.network.ip_pseudonym
    assert (
        logged["other-a"].envelope.network.ip_pseudonym
        != logged["shop-a"].envelope.network.ip_pseudonym
    )


def test_a_malformed_ip_address_rejects_only_its_event(stub: Stub) -> None:
    # The middle event of a batch carries an address that does not parse.
    response = track(
        stub,
        [
            page_view("good-1", context=ingest_pb2.Context(ip_address=IP_A)),
            page_view("bad", context=ingest_pb2.Context(ip_address="81.2.69.142.7")),
            page_view("good-2", context=ingest_pb2.Context(ip_address=IP_V6)),
        ],
    )

    # It is rejected on the ip_address field; the others are accepted and logged.
    assert [v.verdict for v in response.verdicts] == [ACCEPTED, REJECTED, ACCEPTED]
    assert _violations(response.verdicts[1]) == [
        ("context.ip_address", "is not an IPv4 or IPv6 address")
    ]
    assert logged_event_ids(stub) == ["good-1", "good-2"]


def test_a_googlebot_user_agent_marks_the_device_as_a_bot(stub: Stub) -> None:
    googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    chrome = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    )
    track(
        stub,
        [
            page_view("bot", context=ingest_pb2.Context(user_agent=googlebot)),
            page_view("human", context=ingest_pb2.Context(user_agent=chrome)),
        ],
    )

    logged = logged_by_event_id(stub)
    assert logged["bot"].envelope.device.is_bot is True
    assert logged["human"].envelope.device.is_bot is False
    assert logged["human"].envelope.device.browser == "Chrome"


def test_the_device_carries_the_browser_major_and_the_os_version(stub: Stub) -> None:
    chrome_124_windows = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.6367.91 Safari/537.36"
    )
    safari_ios = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    )
    track(
        stub,
        [
            page_view("chrome", context=ingest_pb2.Context(user_agent=chrome_124_windows)),
            page_view("safari", context=ingest_pb2.Context(user_agent=safari_ios)),
            page_view("unknown"),
        ],
    )

    logged = logged_by_event_id(stub)
    chrome = logged["chrome"].envelope.device
    assert (chrome.browser, chrome.browser_version) == ("Chrome", "124")
    assert (chrome.os, chrome.os_version) == ("Windows", "10")
    safari = logged["safari"].envelope.device
    assert (safari.browser_version, safari.os, safari.os_version) == ("17", "iOS", "17.4")
    unknown = logged["unknown"].envelope.device
    assert (unknown.browser_version, unknown.os_version) == ("", "")


# --- 5. Clock skew ----------------------------------------------------------------------------


def test_timestamps_from_a_client_clock_an_hour_behind_are_shifted_forward(stub: Stub) -> None:
    # The client's clock is an hour slow; its event happened five minutes ago by that clock.
    skew = timedelta(hours=1)
    sent = ago(skew)
    happened = ago(skew + timedelta(minutes=5))
    track(stub, [page_view("p-1", timestamp=happened)], sent_at=sent)

    # The log records it about an hour later than the client said.
    [entry] = read_log(stub)
    shift = envelope(entry).occurred_at.ToDatetime() - happened.ToDatetime()
    assert abs(shift - skew) < timedelta(seconds=30)


# --- 6. ListEvents ------------------------------------------------------------------------------


def test_a_long_poll_after_the_head_returns_the_event_tracked_meanwhile(stub: Stub) -> None:
    # A reader waits at the head of the log.
    track(stub, [page_view("before")])
    head = log_head(stub)
    waiting = stub.ListEvents.future(
        ingest_pb2.ListEventsRequest(after=head, max_wait=seconds(2)), timeout=DEADLINE
    )

    # Another thread tracks an event.
    writer = threading.Thread(target=track, args=(stub, [page_view("meanwhile")]))
    writer.start()
    writer.join(DEADLINE)

    # The reader receives it.
    entries = waiting.result(timeout=DEADLINE).entries
    assert [envelope(e).event_id for e in entries] == ["meanwhile"]
    assert entries[0].position > head


def test_a_long_poll_with_nothing_new_returns_no_entries(stub: Stub) -> None:
    track(stub, [page_view("only")])
    response = stub.ListEvents(
        ingest_pb2.ListEventsRequest(after=log_head(stub), max_wait=seconds(0.3)),
        timeout=DEADLINE,
    )
    assert list(response.entries) == []


def test_list_events_respects_limit_and_after(stub: Stub) -> None:
    track(stub, [page_view(f"p-{i}") for i in range(1, 6)])

    # A limit of two returns the first two entries, in order.
    first_page = stub.ListEvents(ingest_pb2.ListEventsRequest(limit=2), timeout=DEADLINE).entries
    assert [envelope(e).event_id for e in first_page] == ["p-1", "p-2"]

    # Reading after the second position returns only the later entries.
    rest = stub.ListEvents(
        ingest_pb2.ListEventsRequest(after=first_page[-1].position), timeout=DEADLINE
    ).entries
    assert [envelope(e).event_id for e in rest] == ["p-3", "p-4", "p-5"]
    assert all(e.position > first_page[-1].position for e in rest)


# --- 7. Health and reflection -----------------------------------------------------------------


def test_the_ingest_service_reports_serving(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    response = health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=DEADLINE)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_server_reflection_lists_the_ingest_service(channel: grpc.Channel) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    [response] = list(reflection.ServerReflectionInfo(iter([request]), timeout=DEADLINE))
    names = {s.name for s in response.list_services_response.service}
    assert SERVICE in names
    assert "grpc.health.v1.Health" in names


# --- Inputs that once crashed the server or slipped through -----------------------------------


def test_an_out_of_range_timestamp_is_rejected_not_a_server_error(stub: Stub) -> None:
    out_of_range = ingest_pb2.Event(
        property_id="shop",
        event_id="bad",
        timestamp=timestamp_of_seconds(10**13),
        identity=ingest_pb2.Identity(anonymous_id="anon-1"),
        page_view=ingest_pb2.PageView(),
    )
    response = track(stub, [page_view("good"), out_of_range])
    assert [v.verdict for v in response.verdicts] == [ACCEPTED, REJECTED]
    assert response.verdicts[1].violations[0].field == "timestamp"


def test_a_clock_skew_that_overflows_the_timestamp_is_rejected_not_a_server_error(
    stub: Stub,
) -> None:
    far_future = page_view("bad", timestamp=timestamp_of_seconds(253402300000))
    response = track(stub, [far_future], sent_at=ago(timedelta(days=3650)))
    assert response.verdicts[0].verdict == REJECTED
    assert response.verdicts[0].violations[0].field == "timestamp"
    assert "out of range" in response.verdicts[0].violations[0].description


def test_a_conversion_at_the_int64_limit_never_poisons_the_log(stub: Stub) -> None:
    huge = money_of("USD", 2**63 - 1, 999_999_999)
    response = track(stub, [conversion("huge", value=huge), page_view("after")])
    assert response.verdicts[0].verdict == REJECTED
    assert response.verdicts[0].violations[0].field == "conversion.value"
    assert sorted(logged_event_ids(stub)) == ["after"]


def test_a_property_id_or_conversion_name_with_a_trailing_newline_is_rejected(
    stub: Stub,
) -> None:
    response = track(
        stub,
        [page_view("p-1", property_id="shop\n"), conversion("c-1", name="purchase\n")],
    )
    assert [v.verdict for v in response.verdicts] == [REJECTED, REJECTED]


# --- 8. No input crashes the server (property) ------------------------------------------------

texts = st.text(max_size=40)
moments = st.integers(min_value=-2_208_988_800, max_value=7_258_118_400).map(  # 1900..2200
    timestamp_of_seconds
)
identities = st.builds(
    ingest_pb2.Identity,
    anonymous_id=texts,
    user_id=texts,
    email=st.one_of(texts, st.emails().map(str)),
    email_sha256=st.one_of(texts, st.text("0123456789abcdefABCDEF", min_size=64, max_size=64)),
)
contexts = st.builds(
    ingest_pb2.Context,
    user_agent=texts,
    page_url=texts,
    referrer=texts,
    ip_address=st.one_of(texts, st.ip_addresses().map(str)),
    geo_country=st.one_of(texts, st.sampled_from(["DE", "fr", "XX", "DEU"])),
    geo_city=texts,
)
moneys = st.builds(
    common_pb2.Money,
    currency_code=st.one_of(texts, st.sampled_from(["EUR", "USD", "JPY", "XAF", "usd", "XYZ"])),
    units=st.integers(-(10**12), 10**12),
    nanos=st.integers(-(2**31), 2**31 - 1),
)
kinds = st.one_of(
    st.just({}),
    st.builds(
        lambda t, url, ref, medium, gclid: {
            "touchpoint": ingest_pb2.Touchpoint(
                type=t,
                landing_url=url,
                referrer=ref,
                utm=ingest_pb2.Utm(medium=medium),
                click_ids=ingest_pb2.ClickIds(gclid=gclid),
            )
        },
        st.integers(0, 10),
        texts,
        texts,
        texts,
        texts,
    ),
    st.builds(
        lambda url, title: {"page_view": ingest_pb2.PageView(url=url, title=title)}, texts, texts
    ),
    st.builds(
        lambda name, value, order: {
            "conversion": ingest_pb2.Conversion(name=name, value=value, order_id=order)
        },
        st.one_of(texts, st.just("purchase")),
        st.one_of(st.none(), moneys),
        texts,
    ),
    st.just({"identify": ingest_pb2.Identify()}),
)
events = st.builds(
    lambda prop, event_id, moment, identity, context, kind: ingest_pb2.Event(
        property_id=prop,
        event_id=event_id,
        timestamp=moment,
        identity=identity,
        context=context,
        **kind,
    ),
    st.one_of(texts, st.just("shop")),
    texts,
    st.one_of(st.none(), moments),
    identities,
    contexts,
    kinds,
)
batches = st.lists(events, max_size=6)
sent_ats = st.one_of(
    st.none(),
    st.integers(-86_400 * 365, 86_400 * 365).map(lambda d: ago(timedelta(seconds=d))),
)


def test_no_event_crashes_the_server(tmp_path: Path) -> None:
    # Timestamps and amounts stay in a plausible range here; the extremes have their own
    # tests above.
    service = _start("", tmp_path / "data")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as client_channel:
            client = ingest_pb2_grpc.IngestServiceStub(client_channel)

            @settings(max_examples=25, deadline=None)
            @given(batch=batches, sent_at=sent_ats)
            def every_call_returns_verdicts_or_invalid_argument(
                batch: list[ingest_pb2.Event], sent_at: object
            ) -> None:
                try:
                    response = track(client, batch, sent_at=sent_at)  # type: ignore[arg-type]
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
                    return
                assert [v.index for v in response.verdicts] == list(range(len(batch)))
                assert all(v.verdict in (ACCEPTED, DUPLICATE, REJECTED) for v in response.verdicts)
                read_log(client)

            every_call_returns_verdicts_or_invalid_argument()
    finally:
        service.stop(0)
