"""Channel rules per property on a real ingest server, SQLite and PostgreSQL: a property's
custom rule wins over the default rules, another property keeps the defaults, "*" is the
default for properties without their own, and the rules survive a restart."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest

from common.grpc_errors import bad_request_of
from common.server import RunningService
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.server import IngestSettings, start
from tests.conftest import Storage
from tests.integration.helpers_ingest import DEADLINE, read_log, recorded, touchpoint, track

Stub = ingest_pb2_grpc.IngestServiceStub
SHOP = "shop"
OTHER = "other-shop"
THIRD = "third-shop"
AWIN = ingest_pb2.Utm(source="awin", medium="affiliate", campaign="spring")
NEWSLETTER = ingest_pb2.Utm(source="mailer", medium="email", campaign="Weekly-12")


@pytest.fixture
def ingest(storage: Storage) -> Iterator[Callable[[], Stub]]:
    """Starts real ingest servers on the test's storage, one at a time: starting one stops
    the one before."""
    running: list[RunningService] = []
    channels: list[grpc.Channel] = []

    def started() -> Stub:
        if running:
            running.pop().stop(0)
        settings = IngestSettings(
            listen="127.0.0.1:0", database_url=storage.database_url, data_dir=storage.data_dir
        )
        service = start(settings)
        running.append(service)
        channel = grpc.insecure_channel(f"127.0.0.1:{service.port}")
        channels.append(channel)
        return ingest_pb2_grpc.IngestServiceStub(channel)

    try:
        yield started
    finally:
        for channel in channels:
            channel.close()
        for service in running:
            service.stop(0)


def visit(event_id: str, property_id: str, utm: ingest_pb2.Utm) -> ingest_pb2.Event:
    event = touchpoint(event_id, utm=utm)
    event.property_id = property_id
    return event


def channels(stub: Stub) -> dict[str, str]:
    """The channel each logged touchpoint was stored with, by event id."""
    return {
        recorded(entry).envelope.event_id: recorded(entry).channel
        for entry in read_log(stub)
        if entry.WhichOneof("event") == "touchpoint_recorded"
    }


def exact(*values: str) -> ingest_pb2.ChannelTextCondition:
    return ingest_pb2.ChannelTextCondition(match=ingest_pb2.CHANNEL_MATCH_EXACT, values=values)


def set_rules(stub: Stub, property_id: str, *rules: ingest_pb2.ChannelRule, **fields: bool) -> None:
    stub.SetChannelGroups(
        ingest_pb2.SetChannelGroupsRequest(property_id=property_id, rules=rules, **fields),
        timeout=DEADLINE,
    )


def rules_of(stub: Stub, property_id: str) -> ingest_pb2.GetChannelGroupsResponse:
    return stub.GetChannelGroups(
        ingest_pb2.GetChannelGroupsRequest(property_id=property_id), timeout=DEADLINE
    )


PARTNERS = ingest_pb2.ChannelRule(channel="partners", source=exact("awin", "cj"))
NEWSLETTERS = ingest_pb2.ChannelRule(
    channel="newsletters",
    campaign=ingest_pb2.ChannelTextCondition(
        match=ingest_pb2.CHANNEL_MATCH_REGEX, values=[r"^weekly-\d+$"]
    ),
)


def test_a_propertys_custom_rule_wins_and_applies_to_events_received_after_the_change(
    ingest: Callable[[], Stub],
) -> None:
    stub = ingest()
    track(stub, [visit("before", SHOP, AWIN)])
    assert rules_of(stub, SHOP).source == ingest_pb2.CHANNEL_RULES_SOURCE_BUILT_IN

    set_rules(stub, SHOP, PARTNERS)
    answer = track(stub, [visit("after", SHOP, AWIN), visit("elsewhere", OTHER, AWIN)])

    assert answer.accepted_count == 2, answer
    assert channels(stub) == {
        # Stored before the change: keeps its channel.
        "before": "affiliate",
        "after": "partners",
        # Another property keeps the default rules.
        "elsewhere": "affiliate",
    }
    own = rules_of(stub, SHOP)
    assert (list(own.rules), own.source) == ([PARTNERS], ingest_pb2.CHANNEL_RULES_SOURCE_PROPERTY)


def test_the_deployment_default_applies_below_a_propertys_rules_and_both_survive_a_restart(
    ingest: Callable[[], Stub],
) -> None:
    stub = ingest()
    set_rules(stub, "*", NEWSLETTERS)
    set_rules(stub, SHOP, PARTNERS, replace_defaults=True)
    # A property that chose the default rules explicitly (no rules), despite "*".
    set_rules(stub, THIRD)

    stub = ingest()  # the rules are events in ingest's store
    track(
        stub,
        [
            visit("shop-awin", SHOP, AWIN),
            visit("shop-mail", SHOP, NEWSLETTER),
            visit("other-awin", OTHER, AWIN),
            visit("other-mail", OTHER, NEWSLETTER),
            visit("third-mail", THIRD, NEWSLETTER),
        ],
    )
    assert channels(stub) == {
        "shop-awin": "partners",
        # The shop replaced the default rules: nothing else matches.
        "shop-mail": "unassigned",
        "other-awin": "affiliate",
        "other-mail": "newsletters",
        "third-mail": "email",
    }
    other, shop = rules_of(stub, OTHER), rules_of(stub, SHOP)
    assert (list(other.rules), other.source) == (
        [NEWSLETTERS],
        ingest_pb2.CHANNEL_RULES_SOURCE_DEFAULT,
    )
    assert (shop.replace_defaults, shop.source) == (True, ingest_pb2.CHANNEL_RULES_SOURCE_PROPERTY)
    assert rules_of(stub, THIRD).rules == []


def test_bad_rules_are_refused_with_the_fields_at_fault(ingest: Callable[[], Stub]) -> None:
    stub = ingest()
    bad = [
        ingest_pb2.ChannelRule(channel="Partners"),
        ingest_pb2.ChannelRule(
            channel="p",
            campaign=ingest_pb2.ChannelTextCondition(
                match=ingest_pb2.CHANNEL_MATCH_REGEX, values=["(a+)+(?=b)"]
            ),
            referrer_kinds=[ingest_pb2.REFERRER_KIND_SOCIAL, 9],  # type: ignore[list-item]
        ),
        ingest_pb2.ChannelRule(channel="q", source=ingest_pb2.ChannelTextCondition(values=["x"])),
    ]
    with pytest.raises(grpc.RpcError) as refused:
        set_rules(stub, SHOP, *bad)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(p.field for p in bad_request_of(refused.value)) == [
        "rules[0].channel",
        "rules[1].campaign.values[0]",
        "rules[1].referrer_kinds[1]",
        "rules[2].source.match",
    ]
    # Nothing was stored.
    assert rules_of(stub, SHOP).source == ingest_pb2.CHANNEL_RULES_SOURCE_BUILT_IN
