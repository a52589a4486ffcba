"""Late events: the flag is set from the event's age, stored with the fact, and facts stored
before the flag existed still load and are served as not late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, UUIDAsHex

from common.money import ExchangeRates
from convtrack.ingest.v1 import ingest_pb2
from services.ingest.domainmodel import EventKind, IncomingEvent, IncomingPageView, PageView
from services.ingest.enrichment import UserAgentParser
from services.ingest.normalise import Limits, Normaliser
from services.ingest.servicer import log_entry
from services.ingest.url_privacy import UrlScrubber
from services.ingest.vault import Sealed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _normaliser() -> Normaliser:
    return Normaliser(
        limits=Limits(late_after=timedelta(hours=72), max_age=timedelta(days=90)),
        rates=ExchangeRates.reference(),
        reporting_currency="USD",
        user_agents=UserAgentParser(),
        urls=UrlScrubber(),
    )


def _view(age: timedelta) -> IncomingEvent:
    return IncomingEvent(
        kind=EventKind.PAGE_VIEW,
        property_id="shop",
        event_id="e1",
        timestamp=NOW - age,
        anonymous_id="anon-1",
        page_view=IncomingPageView(url="https://shop.example/"),
    )


def _mapper() -> Mapper:
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    return Mapper(transcoder=transcoder)


def test_an_event_older_than_the_late_age_is_valid_and_flagged_late() -> None:
    normaliser = _normaliser()
    late = normaliser.validate(_view(timedelta(hours=73)), NOW, timedelta(0))
    on_time = normaliser.validate(_view(timedelta(hours=71)), NOW, timedelta(0))
    assert not isinstance(late, list) and late.late
    assert not isinstance(on_time, list) and not on_time.late


def test_the_late_flag_is_kept_in_the_stored_fact() -> None:
    normaliser = _normaliser()
    valid = normaliser.validate(_view(timedelta(days=10)), NOW, timedelta(0))
    assert not isinstance(valid, list)
    sealed = {
        key: Sealed(f"anon:p{index}", "token") for index, key in enumerate(valid.identifier_keys)
    }
    fact = normaliser.fact(valid, NOW, sealed)
    mapper = _mapper()
    stored = mapper.to_stored_event(fact.collect_events()[0])
    assert log_entry(1, mapper.to_domain_event(stored)).page_view_recorded.envelope.late


def test_a_fact_stored_before_the_late_flag_and_consent_is_served_as_not_late_and_unknown() -> None:
    mapper = _mapper()
    view = PageView(
        id=uuid4(),
        property_id="shop",
        event_id="old",
        occurred_at=NOW,
        received_at=NOW,
        identifiers=["anon:p"],
        device={"browser": "", "os": "", "device": "", "is_bot": False},
        trace_parent="",
        sealed_identifiers={},
        network={},
        url="https://shop.example/",
        title="",
        late=True,
        consent={"analytics": "denied", "advertising": "denied"},
    )
    stored = mapper.to_stored_event(view.collect_events()[0])
    state = mapper.transcoder.decode(stored.state)
    del state["late"]
    del state["consent"]
    old = stored.__class__(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=mapper.transcoder.encode(state),
    )

    event = mapper.to_domain_event(old)
    envelope = log_entry(1, event).page_view_recorded.envelope
    assert envelope.late is False
    assert envelope.consent == ingest_pb2.RecordedConsent()  # stored before consent: unknown
    aggregate = event.mutate(None)
    assert aggregate is not None and aggregate.late is False and aggregate.consent == {}
