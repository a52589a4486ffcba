"""The Event message translated to the plain incoming event, as the servicer reads it."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.requests import MAX_NANOS, MAX_TIMESTAMP_SECONDS, MIN_TIMESTAMP_SECONDS
from common.wire import from_timestamp
from convtrack.ingest.v1 import ingest_pb2
from services.ingest.application import Outcome, Verdict
from services.ingest.consent import IncomingConsent
from services.ingest.enrichment import CampaignTags
from services.ingest.normalise import Violation
from services.ingest.servicer import incoming_event, verdict_fields


@given(
    seconds=st.integers(MIN_TIMESTAMP_SECONDS, MAX_TIMESTAMP_SECONDS),
    nanos=st.integers(0, MAX_NANOS),
)
def test_a_timestamp_reads_as_the_protobuf_library_reads_it(seconds: int, nanos: int) -> None:
    message = ingest_pb2.Event(event_id="e-1")
    message.timestamp.seconds, message.timestamp.nanos = seconds, nanos

    read = incoming_event(message)

    expected = from_timestamp(message.timestamp)
    assert read.timestamp == expected
    assert read.timestamp is not None and read.timestamp.tzinfo is expected.tzinfo
    assert read.timestamp.isoformat() == expected.isoformat()
    assert read.timestamp_error == ""


def test_an_invalid_timestamp_is_a_problem_not_a_time() -> None:
    message = ingest_pb2.Event(event_id="e-1")
    message.timestamp.seconds, message.timestamp.nanos = 1, -5

    read = incoming_event(message)

    assert read.timestamp is None
    assert "nanos" in read.timestamp_error


def test_unset_tags_and_consent_read_as_empty_ones_sent() -> None:
    unset = ingest_pb2.Event(event_id="e-1", touchpoint=ingest_pb2.Touchpoint(landing_url="u"))
    sent_empty = ingest_pb2.Event()
    sent_empty.CopyFrom(unset)
    sent_empty.touchpoint.utm.SetInParent()
    sent_empty.consent.SetInParent()

    read_unset, read_empty = incoming_event(unset), incoming_event(sent_empty)

    assert replace(read_unset, size_bytes=0) == replace(read_empty, size_bytes=0)
    assert read_unset.touchpoint is not None
    assert read_unset.touchpoint.tags == CampaignTags()
    assert read_unset.consent == IncomingConsent()


def test_tags_and_consent_sent_are_read() -> None:
    message = ingest_pb2.Event(
        event_id="e-1",
        touchpoint=ingest_pb2.Touchpoint(utm=ingest_pb2.Utm(source="news", medium="email")),
        consent=ingest_pb2.Consent(
            analytics=ingest_pb2.CONSENT_STATE_DENIED, gcs="G100", tcf_string="CP"
        ),
    )

    read = incoming_event(message)

    assert read.touchpoint is not None
    assert read.touchpoint.tags == CampaignTags(source="news", medium="email")
    assert read.consent.gcs == "G100" and read.consent.tcf_string == "CP"
    assert read.consent.analytics is not None and read.consent.analytics.value == "denied"


@pytest.mark.parametrize(
    "verdict",
    [
        Verdict(Outcome.ACCEPTED, record_id=UUID("0b01dca1-6696-5612-a51e-2b1c3d4e5f60")),
        Verdict(Outcome.DUPLICATE, record_id=UUID("0b01dca1-6696-5612-a51e-2b1c3d4e5f61")),
        Verdict(
            Outcome.REJECTED,
            violations=(Violation("timestamp", "is required"), Violation("identity", 'é "')),
        ),
    ],
    ids=["accepted", "duplicate", "rejected"],
)
def test_a_verdict_is_answered_as_its_message_built_field_by_field(verdict: Verdict) -> None:
    expected = ingest_pb2.TrackEventsResponse(
        verdicts=[
            ingest_pb2.EventVerdict(
                index=3,
                event_id="evt-3",
                verdict={
                    Outcome.ACCEPTED: ingest_pb2.VERDICT_ACCEPTED,
                    Outcome.DUPLICATE: ingest_pb2.VERDICT_DUPLICATE,
                    Outcome.REJECTED: ingest_pb2.VERDICT_REJECTED,
                }[verdict.outcome],
                record_id=str(verdict.record_id) if verdict.record_id else "",
                violations=[
                    ingest_pb2.FieldViolation(field=v.field, description=v.description)
                    for v in verdict.violations
                ],
            )
        ]
    )

    answered = ingest_pb2.TrackEventsResponse(verdicts=[verdict_fields(3, "evt-3", verdict)])

    assert answered.SerializeToString() == expected.SerializeToString()
