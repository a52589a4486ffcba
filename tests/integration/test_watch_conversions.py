"""WatchConversions: a property's attributed conversions streamed from a log position, resumable
after a disconnect and after attribution restarts, never another property's. Real servers on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from datetime import UTC, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2

from common.grpc_errors import retry_delay_of
from common.wire import to_timestamp
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.ingest.v1 import ingest_pb2
from services.attribution.watch import DEFAULT_MAX_STREAMS
from tests.conftest import Storage
from tests.integration.helpers_watch import (
    NOW,
    OTHER,
    PROPERTY,
    System,
    conversion,
    late_click,
    started_system,
)

pytestmark = pytest.mark.timeout(300)

HEARTBEAT = duration_pb2.Duration(seconds=1)
HEARTBEAT_KIND = attribution_pb2.WATCH_EVENT_KIND_HEARTBEAT
Message = attribution_pb2.WatchConversionsResponse


@pytest.fixture
def system(storage: Storage) -> Iterator[System]:
    with started_system(storage) as started:
        yield started


def watch(
    system: System,
    after: int = 0,
    property_id: str = PROPERTY,
    **fields: Any,
) -> Generator[Message, None, None]:
    """The stream's messages (a generator: closing it cancels the call)."""
    with grpc.insecure_channel(system.addresses.attribution) as channel:
        stub = attribution_pb2_grpc.AttributionServiceStub(channel)
        call: Any = stub.WatchConversions(
            attribution_pb2.WatchConversionsRequest(
                property_id=property_id,
                after=after,
                **{"heartbeat_interval": HEARTBEAT, **fields},
            ),
            timeout=120,
        )
        try:
            yield from call
        finally:
            call.cancel()


def until_caught_up(stream: Iterator[Message]) -> list[Message]:
    """The messages up to the first heartbeat at the log's head (which ends the list)."""
    taken = []
    for message in stream:
        taken.append(message)
        if message.kind == HEARTBEAT_KIND and message.position >= message.log_head:
            return taken
    raise AssertionError("the stream ended before catching up")


def conversions_of(messages: Sequence[Message]) -> list[tuple[int, str, int]]:
    """(position, conversion id, revision) of each conversion message."""
    return [
        (m.position, m.attribution.conversion_id, m.attribution.revision)
        for m in messages
        if m.kind != HEARTBEAT_KIND
    ]


def from_zero(system: System) -> list[tuple[int, str, int]]:
    return conversions_of(until_caught_up(watch(system)))


def test_a_stream_from_zero_yields_every_conversion_in_order_and_no_other_propertys(
    system: System,
) -> None:
    system.track(*(conversion(PROPERTY, n) for n in range(6)))
    system.track(*(conversion(OTHER, n) for n in range(3)))
    system.sync()

    messages = until_caught_up(watch(system))

    # It opens with a heartbeat at the position asked for, then one message per conversion.
    assert messages[0].kind == HEARTBEAT_KIND and messages[0].position == 0
    streamed = conversions_of(messages)
    positions = [p for p, _, _ in streamed]
    assert positions == sorted(set(positions))
    assert {c for _, c, _ in streamed} == system.sent(PROPERTY)
    assert len(streamed) == 6
    for m in messages[1:-1]:
        assert m.kind == attribution_pb2.WATCH_EVENT_KIND_ATTRIBUTED
        assert m.attribution.property_id == PROPERTY and m.attribution.revision == 1
        assert {c.model for c in m.attribution.models} >= {"last_click", "linear"}
        assert m.attribution.reporting_value.currency_code == "USD"

    # Filtered by conversion name, the same stream has just the sign-ups.
    sign_ups = conversions_of(until_caught_up(watch(system, conversion_names=["sign_up"])))
    assert len(sign_ups) == 2 and set(sign_ups) < set(streamed)

    # The other property's stream has its own three, none of this one's.
    other = conversions_of(until_caught_up(watch(system, property_id=OTHER)))
    assert {c for _, c, _ in other} == system.sent(OTHER)


def test_resuming_from_the_last_position_gives_no_gaps_or_repeats(system: System) -> None:
    system.track(*(conversion(PROPERTY, n) for n in range(5)))
    system.sync()

    # A client takes three conversions and disconnects.
    stream = watch(system)
    first: list[Message] = []
    for message in stream:
        if message.kind != HEARTBEAT_KIND:
            first.append(message)
        if len(first) == 3:
            break
    stream.close()

    # Meanwhile more conversions arrive, and a late click re-attributes the first one.
    system.track(*(conversion(PROPERTY, n) for n in range(5, 8)), late_click(PROPERTY, 0))
    system.sync()

    resumed = conversions_of(until_caught_up(watch(system, after=first[-1].position)))
    whole = conversions_of(first) + resumed
    assert whole == from_zero(system)
    assert len({(c, r) for _, c, r in whole}) == len(whole) == 9
    assert {c for _, c, _ in whole} == system.sent(PROPERTY)
    revised = [m for m in resumed if m[2] == 2]
    assert [c for _, c, _ in revised] == [first[0].attribution.conversion_id]


def test_a_reattribution_is_streamed_as_such(system: System) -> None:
    system.track(conversion(PROPERTY, 0))
    system.sync()
    head = until_caught_up(watch(system))[-1].position
    system.track(late_click(PROPERTY, 0))
    system.sync()

    messages = until_caught_up(watch(system, after=head))

    revised = [m for m in messages if m.kind != HEARTBEAT_KIND]
    assert [m.kind for m in revised] == [attribution_pb2.WATCH_EVENT_KIND_REATTRIBUTED]
    assert revised[0].attribution.revision == 2
    assert revised[0].attribution.journey_length == 1


def test_a_retraction_is_streamed_as_such(system: System) -> None:
    system.track(conversion(PROPERTY, 0), conversion(PROPERTY, 1))
    system.sync()
    head = until_caught_up(watch(system))[-1].position
    system.track(
        ingest_pb2.Event(
            property_id=PROPERTY,
            event_id="retract-order-1",
            timestamp=to_timestamp(NOW - timedelta(hours=1)),
            outcome=ingest_pb2.Outcome(
                conversion_name="purchase", order_id="order-1", retracted=True
            ),
        )
    )
    system.sync()

    messages = [m for m in until_caught_up(watch(system, after=head)) if m.kind != HEARTBEAT_KIND]

    assert [m.kind for m in messages] == [attribution_pb2.WATCH_EVENT_KIND_RETRACTED]
    retraction = messages[0].retraction
    assert retraction.property_id == PROPERTY and retraction.conversion_name == "purchase"
    assert system.conversions[retraction.conversion_id] == PROPERTY
    assert retraction.retracted_at.ToDatetime(tzinfo=UTC) == NOW - timedelta(hours=1)
    # Filtered by another name, the stream leaves it out.
    others = until_caught_up(watch(system, after=head, conversion_names=["sign_up"]))
    assert [m.kind for m in others] == [HEARTBEAT_KIND] * len(others)


def test_the_stream_resumes_without_gaps_or_repeats_after_the_server_restarts(
    system: System,
) -> None:
    system.track(*(conversion(PROPERTY, n) for n in range(4)))
    system.sync()
    stream = watch(system)
    seen: list[Message] = []
    for message in stream:
        seen.append(message)
        if len(conversions_of(seen)) == 2:
            break

    # Attribution stops while the stream is open: the stream ends with UNAVAILABLE (it does
    # not hold the server's stop up) once the messages already sent are read.
    system.stop_attribution()
    with pytest.raises(grpc.RpcError) as ended:
        seen.extend(stream)
    assert ended.value.code() is grpc.StatusCode.UNAVAILABLE
    last = seen[-1].position

    # Ingest takes more conversions while attribution is down; attribution comes back.
    system.track(*(conversion(PROPERTY, n) for n in range(4, 7)))
    system.start_attribution()
    system.sync()

    resumed = until_caught_up(watch(system, after=last))
    whole = conversions_of(seen) + conversions_of(resumed)
    assert whole == from_zero(system)
    assert [c for _, c, _ in whole if c] and {c for _, c, _ in whole} == system.sent(PROPERTY)
    assert len(whole) == 7


def test_from_now_skips_the_past_and_says_where_now_is(system: System) -> None:
    system.track(conversion(PROPERTY, 0))
    system.sync()
    stream = watch(system, from_now=True)
    opened = next(stream)
    assert opened.kind == HEARTBEAT_KIND and opened.position == opened.log_head > 0

    system.track(conversion(PROPERTY, 1))
    new = next(m for m in stream if m.kind != HEARTBEAT_KIND)
    stream.close()
    assert new.position > opened.position
    assert new.attribution.event_id == "purchase-1"


def test_bad_requests_and_positions_beyond_the_log_are_refused(system: System) -> None:
    cases: list[tuple[dict[str, Any], grpc.StatusCode]] = [
        ({"property_id": ""}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"after": 5, "from_now": True}, grpc.StatusCode.INVALID_ARGUMENT),
        (
            {"heartbeat_interval": duration_pb2.Duration(seconds=0)},
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        ({"conversion_names": [""]}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"after": 10_000_000}, grpc.StatusCode.OUT_OF_RANGE),
    ]
    for fields, code in cases:
        request = {"property_id": PROPERTY, **fields}
        with pytest.raises(grpc.RpcError) as refused:
            next(watch(system, **request))
        assert refused.value.code() is code, fields


def test_streams_beyond_the_limit_are_told_to_come_back_and_a_closed_one_frees_its_slot(
    system: System,
) -> None:
    open_streams = [watch(system) for _ in range(DEFAULT_MAX_STREAMS)]
    for stream in open_streams:
        assert next(stream).kind == HEARTBEAT_KIND
    with pytest.raises(grpc.RpcError) as refused:
        next(watch(system))
    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert retry_delay_of(refused.value) is not None

    open_streams.pop().close()
    while True:  # the server notices the cancellation at its next wake-up (0.5 s)
        try:
            assert next(watch(system)).kind == HEARTBEAT_KIND
            break
        except grpc.RpcError as error:
            assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    for stream in open_streams:
        stream.close()
