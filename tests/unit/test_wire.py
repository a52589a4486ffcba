"""The log paths' fast conversions give what the generic protobuf conversions give."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from google.protobuf import timestamp_pb2

from common.values import Identifier, IdentifierType
from common.wire import (
    from_identifier_pb,
    from_timestamp,
    identifier_fields,
    identifier_keys,
    timestamp_fields,
    to_identifier_pb,
    to_timestamp,
)
from convtrack.common.v1 import common_pb2


def test_timestamps_read_fast_are_the_datetimes_protobuf_gives() -> None:
    chance = random.Random(13)
    for _ in range(20_000):
        stamp = timestamp_pb2.Timestamp(
            seconds=chance.randint(-62_135_596_800, 253_402_300_799),
            nanos=chance.randint(0, 999_999_999),
        )
        expected = stamp.ToDatetime(tzinfo=UTC)
        read = from_timestamp(stamp)
        assert read == expected
        assert read.tzinfo is expected.tzinfo


def test_timestamp_fields_are_what_to_timestamp_sets() -> None:
    chance = random.Random(14)
    berlin = timezone(timedelta(hours=1))
    for _ in range(20_000):
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            seconds=chance.randint(-2_000_000_000, 4_000_000_000),
            microseconds=chance.randint(0, 999_999),
        )
        for value in (moment, moment.astimezone(berlin)):
            stamp = to_timestamp(value)
            assert timestamp_fields(value) == {"seconds": stamp.seconds, "nanos": stamp.nanos}
            assert timestamp_pb2.Timestamp(**timestamp_fields(value)) == stamp


def test_identifier_keys_and_fields_match_the_plain_identifiers() -> None:
    plain = [Identifier(kind, f"v-{kind.value}:x") for kind in IdentifierType]
    keys = [i.key for i in plain]
    messages = [to_identifier_pb(i) for i in plain]
    assert [common_pb2.Identifier(**fields) for fields in identifier_fields(keys)] == messages
    assert identifier_keys(messages) == tuple(from_identifier_pb(m).key for m in messages)
    assert identifier_keys(messages) == tuple(keys)
