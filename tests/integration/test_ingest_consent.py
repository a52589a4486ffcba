"""Consent at ingest's edge: signals mapped into the log, bad signals rejected by field, events
without analytics consent kept without identifiers (and accepted without any)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import grpc
import pytest

from common.server import RunningService
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.server import IngestSettings, start
from tests.conftest import Storage
from tests.integration.helpers_ingest import conversion, logged_by_event_id, page_view, track
from tests.unit.test_ingest_consent import tc_string

Stub = ingest_pb2_grpc.IngestServiceStub
GRANTED = ingest_pb2.CONSENT_STATE_GRANTED
DENIED = ingest_pb2.CONSENT_STATE_DENIED
UNKNOWN = ingest_pb2.CONSENT_STATE_UNSPECIFIED


@pytest.fixture
def stub(storage: Storage) -> Iterator[Stub]:
    """A client of a real ingest server on the test's storage."""
    service: RunningService = start(
        IngestSettings(
            listen="127.0.0.1:0", database_url=storage.database_url, data_dir=storage.data_dir
        )
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield ingest_pb2_grpc.IngestServiceStub(channel)
    finally:
        service.stop(0)


def consented(event_id: str, cookie: str, **signals: object) -> ingest_pb2.Event:
    return page_view(
        event_id,
        identity=ingest_pb2.Identity(anonymous_id=cookie),
        consent=ingest_pb2.Consent(**signals),  # type: ignore[arg-type]
    )


def test_consent_signals_are_mapped_into_the_log(stub: Stub) -> None:
    answer = track(
        stub,
        [
            consented("none", "c-none"),
            consented("gcs-100", "c-gcs-100", gcs="G100"),
            consented("gcs-101", "c-gcs-101", gcs="G101"),
            consented("gcm", "c-gcm", analytics_storage="granted", ad_storage="DENIED"),
            consented("tcf-all", "c-tcf-all", tcf_string=tc_string({1, 2, 3, 4, 7, 8, 9})),
            consented("tcf-measure", "c-tcf-measure", tcf_string=tc_string({1, 7, 8})),
            consented("explicit", "c-explicit", advertising=GRANTED),
            consented("mixed", "c-mixed", analytics=GRANTED, gcs="G110"),
        ],
    )
    assert answer.accepted_count == 8, answer
    logged = logged_by_event_id(stub)
    states = {
        event_id: (e.envelope.consent.analytics, e.envelope.consent.advertising)
        for event_id, e in logged.items()
    }
    assert states == {
        "none": (UNKNOWN, UNKNOWN),
        "gcs-100": (DENIED, DENIED),
        "gcs-101": (GRANTED, DENIED),
        "gcm": (GRANTED, DENIED),
        "tcf-all": (GRANTED, GRANTED),
        "tcf-measure": (GRANTED, DENIED),
        "explicit": (UNKNOWN, GRANTED),
        "mixed": (DENIED, GRANTED),
    }
    assert [k for k, e in logged.items() if not e.envelope.identifiers] == ["gcs-100", "mixed"]


def test_bad_consent_signals_reject_the_event_naming_each_field(stub: Stub) -> None:
    truncated = base64.urlsafe_b64encode(b"\x08" * 10).decode().rstrip("=")
    answer = track(
        stub,
        [
            consented("bad-gcs", "c1", gcs="G12"),
            consented("bad-gcm", "c2", analytics_storage="yes", ad_storage="granted!"),
            consented("bad-tcf", "c3", tcf_string="%%%"),
            consented("short-tcf", "c4", tcf_string=truncated),
            consented("bad-enum", "c5", analytics=7),
        ],
    )
    assert answer.rejected_count == 5
    fields = [[v.field for v in verdict.violations] for verdict in answer.verdicts]
    assert fields == [
        ["consent.gcs"],
        ["consent.analytics_storage", "consent.ad_storage"],
        ["consent.tcf_string"],
        ["consent.tcf_string"],
        ["consent.analytics"],
    ]
    assert "has 80 bits, fewer than the 213" in answer.verdicts[3].violations[0].description
    assert not logged_by_event_id(stub)


def test_only_events_without_analytics_consent_may_come_without_identifiers(stub: Stub) -> None:
    bare = ingest_pb2.Identity()
    answer = track(
        stub,
        [
            conversion("anonymous-denied", identity=bare, consent=ingest_pb2.Consent(gcs="G100")),
            conversion("anonymous-unknown", identity=bare),
            conversion("anonymous-granted", identity=bare, consent=ingest_pb2.Consent(gcs="G111")),
        ],
    )
    verdicts = [v.verdict for v in answer.verdicts]
    assert verdicts == [
        ingest_pb2.VERDICT_ACCEPTED,
        ingest_pb2.VERDICT_REJECTED,
        ingest_pb2.VERDICT_REJECTED,
    ]
    assert [v.field for v in answer.verdicts[1].violations] == ["identity"]
    stored = logged_by_event_id(stub)["anonymous-denied"]
    assert not stored.envelope.identifiers
    assert stored.channel == "direct"
