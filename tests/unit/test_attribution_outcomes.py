"""Attribution of CRM outcomes: a stage or value change re-credits the conversion (fractions
kept, values scaled), a retraction ends it for good, outcomes may come before their
conversion and in any order, and the result does not depend on the order they arrive in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_DNS, UUID, uuid5

import pytest

from common.follower import UpstreamEntry
from services.attribution.application import AttributionApplication, UnknownConversionError
from services.attribution.domainmodel import (
    AttributionInput,
    Conversion,
    ConversionSeen,
    OutcomeSeen,
    TouchpointSeen,
)
from services.attribution.models import JourneyTouch
from services.attribution.outcomes import OutcomeValue
from services.attribution.servicer import log_entry

PROP = "crm"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def uid(name: str) -> str:
    return str(uuid5(NAMESPACE_DNS, name))


def touch(name: str, identifier: str, at: datetime, channel: str) -> TouchpointSeen:
    return TouchpointSeen(
        property_id=PROP,
        record_id=uid(name),
        identifiers=(identifier,),
        touch=JourneyTouch(uid(name), at, channel, channel, "m", f"{channel}-campaign"),
        is_bot=False,
    )


def deal(name: str, identifier: str, at: datetime, euros: int = 0) -> ConversionSeen:
    return ConversionSeen(
        property_id=PROP,
        record_id=uid(name),
        event_id=name,
        name="deal",
        occurred_at=at,
        identifiers=(identifier,),
        currency_code="EUR" if euros else "",
        value_micros=euros * 1_000_000,
        reporting_currency_code="EUR",
        reporting_value_micros=euros * 1_000_000,
    )


def eur(euros: int) -> OutcomeValue:
    return OutcomeValue("EUR", euros * 1_000_000, "EUR", euros * 1_000_000)


def outcome(
    name: str,
    of: str,
    at: datetime,
    stage: str = "",
    value: int | None = None,
    refund: int | None = None,
    retracted: bool = False,
) -> OutcomeSeen:
    return OutcomeSeen(
        property_id=PROP,
        record_id=uid(name),
        conversion_id=uid(of),
        conversion_name="deal",
        occurred_at=at,
        stage=stage,
        value=None if value is None else eur(value),
        refund=None if refund is None else eur(refund),
        retracted=retracted,
    )


class Feed:
    def __init__(self) -> None:
        self.app = AttributionApplication()
        self.position = 0

    def send(self, *values: AttributionInput) -> None:
        entries = []
        for value in values:
            self.position += 1
            entries.append(UpstreamEntry(self.position, value))
        self.app.process_page("ingest", entries)

    def latest(self, name: str) -> Any:
        return self.app.latest_attribution(UUID(uid(name)))

    def credits(self, name: str, model: str) -> dict[str, tuple[float, int]]:
        found: dict[str, tuple[float, int]] = {}
        for c in self.latest(name).credits[model]:
            fraction, micros = found.get(c["channel"], (0.0, 0))
            found[c["channel"]] = (fraction + c["fraction"], micros + c["value_micros"])
        return found

    def log(self) -> list[str]:
        """The kinds of attribution's log entries about conversions, in order."""
        kinds = []
        for n in self.app.recorder.select_notifications(start=1, limit=1000):
            event = self.app.mapper.to_domain_event(n)
            kind = log_entry(n.id, event).WhichOneof("event")
            if kind in (
                "conversion_attributed",
                "conversion_stage_changed",
                "conversion_retracted",
            ):
                kinds.append(kind)
        return kinds


def journey(feed: Feed) -> None:
    feed.send(
        touch("t1", "anon:a", T0 - timedelta(days=2), "paid_search"),
        touch("t2", "anon:a", T0 - timedelta(days=1), "email"),
        deal("d1", "anon:a", T0, 1000),
    )


def test_a_value_change_keeps_the_fractions_and_scales_the_values() -> None:
    feed = Feed()
    journey(feed)
    assert feed.credits("d1", "linear") == {
        "paid_search": (0.5, 500_000_000),
        "email": (0.5, 500_000_000),
    }
    feed.send(outcome("o1", "d1", T0 + timedelta(days=3), stage="won", value=5000))
    latest = feed.latest("d1")
    assert latest.revision == 2
    assert latest.reporting_value_micros == 5_000_000_000
    assert latest.stage == "won"
    assert [s["stage"] for s in latest.stages] == ["won"]
    assert feed.credits("d1", "linear") == {
        "paid_search": (0.5, 2_500_000_000),
        "email": (0.5, 2_500_000_000),
    }
    assert feed.credits("d1", "last_click") == {"email": (1.0, 5_000_000_000)}
    assert feed.log() == [
        "conversion_attributed",
        "conversion_stage_changed",
        "conversion_attributed",
    ]


def test_a_stage_without_a_value_change_is_part_of_the_next_attribution() -> None:
    feed = Feed()
    journey(feed)
    feed.send(outcome("o1", "d1", T0 + timedelta(days=1), stage="qualified"))
    latest = feed.latest("d1")
    assert (latest.revision, latest.reporting_value_micros) == (2, 1_000_000_000)
    assert feed.log() == [
        "conversion_attributed",
        "conversion_stage_changed",
        "conversion_attributed",
    ]
    conversion = feed.app.repository.get(UUID(uid("d1")))
    assert isinstance(conversion, Conversion)
    assert conversion.stage == "qualified"
    assert [s["stage"] for s in conversion.stages] == ["qualified"]


def test_a_refund_lowers_the_value_never_below_zero() -> None:
    feed = Feed()
    journey(feed)
    feed.send(outcome("o1", "d1", T0 + timedelta(days=1), refund=300))
    assert feed.latest("d1").reporting_value_micros == 700_000_000
    feed.send(outcome("o2", "d1", T0 + timedelta(days=2), refund=900))
    assert feed.latest("d1").reporting_value_micros == 0
    assert feed.latest("d1").value_micros == 0


def test_a_retraction_ends_the_conversion_and_later_outcomes_change_nothing() -> None:
    feed = Feed()
    journey(feed)
    feed.send(outcome("o1", "d1", T0 + timedelta(days=1), retracted=True))
    with pytest.raises(UnknownConversionError):
        feed.latest("d1")
    feed.send(
        outcome("o2", "d1", T0 + timedelta(days=2), stage="won", value=10),
        touch("t3", "anon:a", T0 - timedelta(hours=1), "display"),
    )
    assert feed.log() == ["conversion_attributed", "conversion_retracted"]


def test_a_retracted_conversion_no_longer_cuts_the_journey_of_the_next_one() -> None:
    feed = Feed()
    journey(feed)
    feed.send(
        touch("t3", "anon:a", T0 + timedelta(days=1), "display"),
        deal("d2", "anon:a", T0 + timedelta(days=2), 10),
    )
    assert set(feed.credits("d2", "linear")) == {"display"}
    feed.send(outcome("o1", "d1", T0 + timedelta(days=3), retracted=True))
    assert set(feed.credits("d2", "linear")) == {"paid_search", "email", "display"}


def test_outcomes_before_their_conversion_apply_when_it_arrives() -> None:
    feed = Feed()
    feed.send(
        outcome("o2", "d1", T0 + timedelta(days=2), stage="won", value=4000),
        outcome("o1", "d1", T0 + timedelta(days=1), stage="qualified"),
    )
    journey(feed)
    latest = feed.latest("d1")
    assert latest.reporting_value_micros == 4_000_000_000
    assert latest.stage == "won"
    assert [s["stage"] for s in latest.stages] == ["qualified", "won"]


ORDERED = [
    outcome("o1", "d1", T0 + timedelta(days=1), stage="lead"),
    outcome("o2", "d1", T0 + timedelta(days=2), stage="qualified", value=2000),
    outcome("o3", "d1", T0 + timedelta(days=3), refund=500),
    outcome("o4", "d1", T0 + timedelta(days=4), stage="won", value=3000),
    outcome("o5", "d1", T0 + timedelta(days=5), refund=250),
]


@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 4, 0, 3, 1]])
def test_the_state_is_the_same_whatever_order_outcomes_arrive_in(order: list[int]) -> None:
    feed = Feed()
    journey(feed)
    for index in order:
        feed.send(ORDERED[index])
    latest = feed.latest("d1")
    assert latest.reporting_value_micros == 2_750_000_000
    assert latest.stage == "won"
    assert [s["stage"] for s in latest.stages] == ["lead", "qualified", "won"]
    assert feed.credits("d1", "linear") == {
        "paid_search": (0.5, 1_375_000_000),
        "email": (0.5, 1_375_000_000),
    }


def test_an_outcome_sent_twice_is_kept_once() -> None:
    feed = Feed()
    journey(feed)
    feed.send(ORDERED[2], ORDERED[2])
    feed.send(ORDERED[2])
    assert feed.latest("d1").reporting_value_micros == 500_000_000
