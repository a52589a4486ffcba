"""Sessions: a visitor's touchpoints and page views cut where the visit ends.

A session ends after 30 minutes without an event, at midnight in the property's time zone,
or when a touchpoint with campaign traffic whose source, medium and campaign differ from the
session's arrives (a direct visit continues the session). Its channel, source, medium and
campaign are its first event's (a page view's are direct). Events are taken in log order:
one that happened before the visitor's current session joins it when within 30 minutes of
it and on its day, else it is a session of its own, and the current session stays current.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from services.reporting.domainmodel import VisitEvent
from services.reporting.views import property_settings

SESSION_TIMEOUT = timedelta(minutes=30)
DIRECT_CHANNEL = "direct"
DIRECT_SOURCE = "(direct)"
NO_MEDIUM = "(none)"


def property_time_zone(conn: Connection, property_id: str) -> ZoneInfo:
    """The time zone a property's days and sessions follow: its reporting setting
    (`property_settings`, SetPropertySettings), UTC when it never chose. Sessions already
    built keep the days of the zone they were built in; a rebuild of the views recomputes
    them in the current one."""
    t = property_settings.c
    name = conn.execute(
        select(t.time_zone).where(t.property_id == property_id)
    ).scalar_one_or_none()
    return ZoneInfo(name or "UTC")


@dataclass(frozen=True, slots=True)
class Session:
    """One session of a visitor: numbered from 1 per visitor."""

    property_id: str
    visitor: str
    number: int
    started_at: datetime
    last_event_at: datetime
    day: str
    channel: str
    source: str
    medium: str
    campaign: str
    events: int

    @property
    def traffic(self) -> tuple[str, str, str]:
        """Its source, medium and campaign."""
        return (self.source, self.medium, self.campaign)


@dataclass(frozen=True, slots=True)
class VisitorSessions:
    """A visitor's current session (the one new events may join) and how many it has."""

    current: Session
    count: int


def day_of(moment: datetime, zone: tzinfo) -> str:
    """The ISO date of a moment in the zone."""
    return moment.astimezone(zone).date().isoformat()


def _new_session(event: VisitEvent, number: int, day: str) -> Session:
    direct = not event.channel
    return Session(
        property_id=event.property_id,
        visitor=event.visitor,
        number=number,
        started_at=event.occurred_at,
        last_event_at=event.occurred_at,
        day=day,
        channel=DIRECT_CHANNEL if direct else event.channel,
        source=DIRECT_SOURCE if direct else event.source,
        medium=NO_MEDIUM if direct else event.medium,
        campaign="" if direct else event.campaign,
        events=1,
    )


def _joins(session: Session, event: VisitEvent, day: str) -> bool:
    """Whether the event belongs to the session."""
    if day != session.day:
        return False
    if event.campaign_touch and (event.source, event.medium, event.campaign) != session.traffic:
        return False
    at = event.occurred_at
    if at >= session.last_event_at:
        return at - session.last_event_at <= SESSION_TIMEOUT
    return at >= session.started_at - SESSION_TIMEOUT


def place(
    state: VisitorSessions | None, event: VisitEvent, zone: tzinfo
) -> tuple[VisitorSessions, Session]:
    """The visitor's sessions after the event, and the session it went into (new or
    changed)."""
    day = day_of(event.occurred_at, zone)
    if state is None:
        first = _new_session(event, 1, day)
        return VisitorSessions(first, 1), first
    current = state.current
    if _joins(current, event, day):
        joined = replace(
            current,
            started_at=min(current.started_at, event.occurred_at),
            last_event_at=max(current.last_event_at, event.occurred_at),
            events=current.events + 1,
        )
        return VisitorSessions(joined, state.count), joined
    started = _new_session(event, state.count + 1, day)
    if event.occurred_at < current.started_at:
        return VisitorSessions(current, state.count + 1), started
    return VisitorSessions(started, state.count + 1), started
