"""Sessions cut from a visitor's events: 30 minutes without an event, midnight, a new
campaign; a direct visit continues a session; late events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.reporting.domainmodel import VisitEvent
from services.reporting.sessions import Session, VisitorSessions, place

START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def page(at: datetime) -> VisitEvent:
    return VisitEvent("shop", "anon:v", at, False, "", "", "", "")


def touch(at: datetime, source: str, medium: str, campaign: str, channel: str) -> VisitEvent:
    return VisitEvent("shop", "anon:v", at, channel != "direct", channel, source, medium, campaign)


def sessions_of(*events: VisitEvent) -> list[Session]:
    """Every session the events make, by number, as the projection keeps them."""
    state: VisitorSessions | None = None
    made: dict[int, Session] = {}
    for event in events:
        state, session = place(state, event, UTC)
        made[session.number] = session
    return [made[n] for n in sorted(made)]


def test_events_within_30_minutes_of_each_other_are_one_session() -> None:
    made = sessions_of(page(START), page(START + 30 * MINUTE), page(START + 60 * MINUTE))
    assert [(s.number, s.events, s.channel) for s in made] == [(1, 3, "direct")]
    assert made[0].last_event_at == START + 60 * MINUTE


def test_more_than_30_minutes_without_an_event_starts_a_new_session() -> None:
    made = sessions_of(page(START), page(START + 31 * MINUTE))
    assert [(s.number, s.events) for s in made] == [(1, 1), (2, 1)]


def test_midnight_ends_a_session() -> None:
    late = datetime(2026, 3, 1, 23, 55, tzinfo=UTC)
    made = sessions_of(page(late), page(late + 10 * MINUTE))
    assert [(s.number, s.day) for s in made] == [(1, "2026-03-01"), (2, "2026-03-02")]


def test_a_new_campaign_starts_a_new_session_and_gives_it_its_channel() -> None:
    made = sessions_of(
        touch(START, "google", "cpc", "spring", "paid_search"),
        page(START + MINUTE),
        touch(START + 2 * MINUTE, "google", "cpc", "spring", "paid_search"),
        touch(START + 3 * MINUTE, "facebook", "paid_social", "retarget", "paid_social"),
    )
    assert [(s.number, s.channel, s.campaign, s.events) for s in made] == [
        (1, "paid_search", "spring", 3),
        (2, "paid_social", "retarget", 1),
    ]


def test_a_direct_visit_continues_the_session_it_arrives_in() -> None:
    made = sessions_of(
        touch(START, "newsletter", "email", "digest", "email"),
        touch(START + 5 * MINUTE, "(direct)", "(none)", "", "direct"),
    )
    assert [(s.channel, s.events) for s in made] == [("email", 2)]


def test_a_late_event_long_before_the_current_session_is_a_session_of_its_own() -> None:
    state: VisitorSessions | None = None
    state, _ = place(state, page(START), UTC)
    state, early = place(state, page(START - 2 * timedelta(hours=1)), UTC)
    state, joined = place(state, page(START + 5 * MINUTE), UTC)
    assert (early.number, joined.number, joined.events) == (2, 1, 2)
    assert state.count == 2


def test_a_late_event_just_before_the_current_session_joins_it() -> None:
    made = sessions_of(page(START), page(START - 10 * MINUTE))
    assert [(s.number, s.started_at, s.events) for s in made] == [(1, START - 10 * MINUTE, 2)]
