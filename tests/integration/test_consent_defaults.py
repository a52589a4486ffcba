"""Consent defaults per property ("denied until granted") and erasing the consent recorded for
identifiers that never reached a person, on a real ingest server, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import grpc
import pytest

from common.server import RunningService
from common.wire import from_identifier_pb
from convtrack.common.v1 import common_pb2
from convtrack.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.consent_defaults import ConsentDefaults
from services.ingest.server import IngestSettings, start
from tests.conftest import Storage
from tests.e2e.test_consent import consent_rows
from tests.integration.helpers_ingest import (
    DEADLINE,
    envelope,
    page_view,
    read_log,
    stored_bytes,
    track,
)
from tests.integration.helpers_ingest import (
    recorded as logged,
)

Stub = ingest_pb2_grpc.IngestServiceStub
GRANTED = ingest_pb2.CONSENT_STATE_GRANTED
DENIED = ingest_pb2.CONSENT_STATE_DENIED
UNKNOWN = ingest_pb2.CONSENT_STATE_UNSPECIFIED
OPT_IN = "optin-shop"
OTHER = "shop"


@pytest.fixture
def ingest(storage: Storage) -> Iterator[Callable[..., Stub]]:
    """Starts real ingest servers on the test's storage (settings overridable), one at a
    time: starting one stops the one before."""
    running: list[RunningService] = []
    channels: list[grpc.Channel] = []

    def started(**overrides: object) -> Stub:
        if running:
            running.pop().stop(0)
        settings = IngestSettings(
            listen="127.0.0.1:0", database_url=storage.database_url, data_dir=storage.data_dir
        )
        service = start(replace(settings, **overrides))  # type: ignore[arg-type]
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


def visit(event_id: str, property_id: str, cookie: str, **consent: int) -> ingest_pb2.Event:
    return page_view(
        event_id,
        property_id=property_id,
        identity=ingest_pb2.Identity(anonymous_id=cookie),
        consent=ingest_pb2.Consent(**consent),  # type: ignore[arg-type]
    )


def cookie(value: str) -> common_pb2.Identifier:
    return common_pb2.Identifier(type=common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID, value=value)


def recorded(stub: Stub) -> dict[str, tuple[int, int, bool]]:
    """Per event id: its recorded analytics and advertising consent, and whether it kept
    identifiers."""
    return {
        event_id: (
            e.envelope.consent.analytics,
            e.envelope.consent.advertising,
            bool(e.envelope.identifiers),
        )
        for event_id, e in (
            (envelope(entry).event_id, logged(entry))
            for entry in read_log(stub)
            # The consent defaults' entries are bookkeeping: no event set.
            if entry.WhichOneof("event") is not None
        )
    }


def defaults(stub: Stub, property_id: str) -> ingest_pb2.GetConsentDefaultsResponse:
    return stub.GetConsentDefaults(
        ingest_pb2.GetConsentDefaultsRequest(property_id=property_id), timeout=DEADLINE
    )


def test_a_property_that_requires_opt_in_counts_unknown_consent_as_denied(
    ingest: Callable[..., Stub],
) -> None:
    stub = ingest()
    # A visitor who granted analytics before the property required opt-in.
    track(stub, [visit("early", OPT_IN, "early-cookie", analytics=GRANTED)])
    chosen = stub.SetConsentDefaults(
        ingest_pb2.SetConsentDefaultsRequest(
            property_id=OPT_IN, analytics=ingest_pb2.CONSENT_DEFAULT_DENIED
        ),
        timeout=DEADLINE,
    ).defaults
    assert (chosen.analytics, chosen.advertising, chosen.source) == (
        ingest_pb2.CONSENT_DEFAULT_DENIED,
        ingest_pb2.CONSENT_DEFAULT_GRANTED,
        ingest_pb2.CONSENT_DEFAULTS_SOURCE_PROPERTY,
    )

    answer = track(
        stub,
        [
            visit("silent", OPT_IN, "new-cookie"),
            visit("opted-in", OPT_IN, "keen-cookie", analytics=GRANTED),
            visit("early-again", OPT_IN, "early-cookie"),
            visit("elsewhere", OTHER, "new-cookie"),
        ],
    )
    assert answer.accepted_count == 4, answer
    assert recorded(stub) == {
        "early": (GRANTED, UNKNOWN, True),
        # Nothing said, opt-in required: denied, stored without identifiers.
        "silent": (DENIED, UNKNOWN, False),
        "opted-in": (GRANTED, UNKNOWN, True),
        # The identifier's own recorded grant still wins over the default.
        "early-again": (GRANTED, UNKNOWN, True),
        # Another property keeps counting unknown as granted.
        "elsewhere": (UNKNOWN, UNKNOWN, True),
    }
    assert defaults(stub, OTHER).source == ingest_pb2.CONSENT_DEFAULTS_SOURCE_ENVIRONMENT


def test_the_choice_is_stored_and_the_deployment_default_and_environment_apply_below_it(
    ingest: Callable[..., Stub],
) -> None:
    # The environment says advertising consent is denied until granted.
    stub = ingest(consent_defaults=ConsentDefaults(advertising_denied=True))
    assert (defaults(stub, OTHER).analytics, defaults(stub, OTHER).advertising) == (
        ingest_pb2.CONSENT_DEFAULT_GRANTED,
        ingest_pb2.CONSENT_DEFAULT_DENIED,
    )
    stub.SetConsentDefaults(
        ingest_pb2.SetConsentDefaultsRequest(
            property_id="*", analytics=ingest_pb2.CONSENT_DEFAULT_DENIED
        ),
        timeout=DEADLINE,
    )
    stub.SetConsentDefaults(
        ingest_pb2.SetConsentDefaultsRequest(
            property_id=OPT_IN, advertising=ingest_pb2.CONSENT_DEFAULT_GRANTED
        ),
        timeout=DEADLINE,
    )

    # After a restart (the choices are events in ingest's store).
    stub = ingest(consent_defaults=ConsentDefaults(advertising_denied=True))
    other, own = defaults(stub, OTHER), defaults(stub, OPT_IN)
    assert (other.analytics, other.advertising, other.source) == (
        ingest_pb2.CONSENT_DEFAULT_DENIED,
        ingest_pb2.CONSENT_DEFAULT_DENIED,
        ingest_pb2.CONSENT_DEFAULTS_SOURCE_DEFAULT,
    )
    # The property's choice started from what applied to it then (the default's analytics).
    assert (own.analytics, own.advertising, own.source) == (
        ingest_pb2.CONSENT_DEFAULT_DENIED,
        ingest_pb2.CONSENT_DEFAULT_GRANTED,
        ingest_pb2.CONSENT_DEFAULTS_SOURCE_PROPERTY,
    )
    track(stub, [visit("a", OTHER, "c-a"), visit("b", OPT_IN, "c-b")])
    assert recorded(stub) == {"a": (DENIED, DENIED, False), "b": (DENIED, UNKNOWN, False)}

    with pytest.raises(grpc.RpcError) as refused:
        stub.SetConsentDefaults(
            ingest_pb2.SetConsentDefaultsRequest(property_id=OPT_IN, analytics=7),  # type: ignore[arg-type]
            timeout=DEADLINE,
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_forget_identifiers_erases_the_consent_of_an_identifier_that_only_ever_denied(
    ingest: Callable[..., Stub], storage: Storage
) -> None:
    stub = ingest()
    # "shy-cookie" only ever sent events without analytics consent: it reaches no person in
    # identity, so ForgetPerson cannot name it; its withdrawal is recorded by pseudonym.
    track(
        stub,
        [
            visit("shy-1", OTHER, "shy-cookie", analytics=DENIED),
            visit("shy-2", OTHER, "shy-cookie"),
            visit("open", OTHER, "open-cookie", analytics=GRANTED),
        ],
    )
    shy = stub.PseudonymiseIdentifiers(
        ingest_pb2.PseudonymiseIdentifiersRequest(
            property_id=OTHER, identifiers=[cookie("shy-cookie")]
        ),
        timeout=DEADLINE,
    ).pairs[0]
    shy_pseudonym = from_identifier_pb(shy.pseudonym).key
    assert (shy_pseudonym, "denied", "unknown") in consent_rows(storage)
    assert shy_pseudonym.partition(":")[2].encode() in stored_bytes(storage)

    answer = stub.ForgetIdentifiers(
        ingest_pb2.ForgetIdentifiersRequest(
            property_id=OTHER,
            identifiers=[cookie("shy-cookie"), cookie("open-cookie")],
            note="erasure request 12",
        ),
        timeout=DEADLINE,
    )
    # Both records are erased; the identifier that reached identity is named, to be erased
    # with ForgetPerson.
    assert answer.consent_records_erased == 2
    assert [from_identifier_pb(i).key for i in answer.held_for_persons] == ["anon:open-cookie"]
    assert consent_rows(storage) == []
    # Nothing of the record is left in ingest's files (SQLite) or rows (PostgreSQL).
    assert shy_pseudonym.partition(":")[2].encode() not in stored_bytes(storage)

    # Forgetting again finds nothing; a later event is recorded afresh.
    again = stub.ForgetIdentifiers(
        ingest_pb2.ForgetIdentifiersRequest(property_id=OTHER, identifiers=[cookie("shy-cookie")]),
        timeout=DEADLINE,
    )
    assert again.consent_records_erased == 0
    with pytest.raises(grpc.RpcError) as refused:
        stub.ForgetIdentifiers(
            ingest_pb2.ForgetIdentifiersRequest(property_id=OTHER), timeout=DEADLINE
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
