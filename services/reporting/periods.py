"""Report periods: calendar days, weeks (Monday to Sunday) and months in a time zone, as
integer keys that SQL can compute from a UTC timestamp and Python can name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, Integer, case, literal

from services.reporting.domainmodel import Interval

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
SECONDS_PER_DAY = 86_400
WEEK_SHIFT = 3
"""1970-01-01 was a Thursday: (day number + 3) // 7 counts weeks that start on Monday."""


@dataclass(frozen=True, slots=True)
class OffsetChanges:
    """A time zone's UTC offset over a span of time: `initial` seconds, then each
    (epoch second, offset from then on) in order."""

    initial: int
    changes: tuple[tuple[int, int], ...]


def epoch_seconds(moment: datetime) -> int:
    """Whole seconds since 1970-01-01 UTC (rounded down)."""
    return int((moment - EPOCH) // timedelta(seconds=1))


def _offset(zone: ZoneInfo, moment: datetime) -> int:
    offset = moment.astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def offset_changes(zone: ZoneInfo, start: datetime, end: datetime) -> OffsetChanges:
    """The zone's offsets from `start` to `end` (UTC moments): checked every 6 hours, each
    change then found to the second (zones change their offset at most a few times a year,
    and never twice within 6 hours)."""
    initial = current = _offset(zone, start)
    changes: list[tuple[int, int]] = []
    step = timedelta(hours=6)
    moment = start
    while moment < end:
        following = min(moment + step, end)
        offset = _offset(zone, following)
        if offset != current:
            low, high = epoch_seconds(moment), epoch_seconds(following)
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(zone, EPOCH + timedelta(seconds=middle)) == current:
                    low = middle
                else:
                    high = middle
            changes.append((high, offset))
            current = offset
        moment = following
    return OffsetChanges(initial, tuple(changes))


def local_day(moment: datetime, zone: ZoneInfo) -> int:
    """The local calendar day of a moment in the zone, as days since 1970-01-01."""
    return moment.astimezone(zone).date().toordinal() - EPOCH_ORDINAL


def month_key(day: date) -> int:
    """Months since January 1970."""
    return (day.year - 1970) * 12 + day.month - 1


def month_of_day_sql(dialect: str, day: str) -> str:
    """SQL text of the month key (`month_key`) of the local day number that the SQL `day`
    gives, in the dialect ("sqlite" or "postgresql")."""
    if dialect == "postgresql":
        local = f"(DATE '1970-01-01' + CAST({day} AS INTEGER))"
        return (
            f"CAST((EXTRACT(YEAR FROM {local}) - 1970) * 12 + EXTRACT(MONTH FROM {local}) - 1 "
            "AS INTEGER)"
        )
    moment = f"{day} * {SECONDS_PER_DAY}, 'unixepoch'"
    return (
        f"((CAST(strftime('%Y', {moment}) AS INTEGER) - 1970) * 12 "
        f"+ CAST(strftime('%m', {moment}) AS INTEGER) - 1)"
    )


def key_of_day(interval: Interval, day_number: int) -> int:
    """The period key of a local day number: the day itself, its week or its month."""
    if interval is Interval.DAY:
        return day_number
    if interval is Interval.WEEK:
        return (day_number + WEEK_SHIFT) // 7
    return month_key(date.fromordinal(EPOCH_ORDINAL + day_number))


def key_of(interval: Interval, moment: datetime, zone: ZoneInfo) -> int:
    """The period key of a moment in the zone."""
    return key_of_day(interval, local_day(moment, zone))


def first_day(interval: Interval, key: int) -> date:
    """The first local date of a period."""
    if interval is Interval.DAY:
        return date.fromordinal(EPOCH_ORDINAL + key)
    if interval is Interval.WEEK:
        return date.fromordinal(EPOCH_ORDINAL + key * 7 - WEEK_SHIFT)
    return date(1970 + key // 12, key % 12 + 1, 1)


def period_start(interval: Interval, key: int, zone: ZoneInfo) -> datetime:
    """The moment (UTC) a period starts: local midnight of its first day (or the first
    moment after, where a zone skips midnight)."""
    local = datetime.combine(first_day(interval, key), time(0), tzinfo=zone)
    return local.astimezone(UTC)


def month_boundaries(first: int, last: int) -> list[tuple[int, int]]:
    """(first day number, month key) of every month from the one holding day `first` to the
    one holding day `last`."""
    day = date.fromordinal(EPOCH_ORDINAL + first).replace(day=1)
    end = date.fromordinal(EPOCH_ORDINAL + last)
    found = []
    while day <= end:
        found.append((day.toordinal() - EPOCH_ORDINAL, month_key(day)))
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return found


def previous_period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The period of the same length that ends where [start, end) starts."""
    return start - (end - start), start


def period_key_sql(
    seconds: ColumnElement[int], interval: Interval, zone: ZoneInfo, start: datetime, end: datetime
) -> ColumnElement[int]:
    """The period key (as `key_of` gives it) of a moment given in SQL as whole seconds since
    1970 UTC: the zone's offset at that moment (a CASE over the offset changes between
    `start` and `end`, outside which the nearest offset holds) makes it a local day number,
    then its week or month."""
    offsets = offset_changes(zone, start, end)
    offset: ColumnElement[int] = literal(offsets.initial, Integer)
    if offsets.changes:
        whens = []
        before = offsets.initial
        for at, after in offsets.changes:
            whens.append((seconds < literal(at, BigInteger), literal(before, Integer)))
            before = after
        offset = case(*whens, else_=literal(before, Integer))
    day = (seconds + offset) // literal(SECONDS_PER_DAY, Integer)
    return day_key_sql(day, interval, local_day(start, zone), local_day(end, zone))


def day_key_sql(
    day: ColumnElement[int], interval: Interval, first: int, last: int
) -> ColumnElement[int]:
    """The period key (as `key_of_day` gives it) of a local day number given in SQL, for the
    days from `first` to `last`: the day itself, its week or its month."""
    if interval is Interval.DAY:
        return day
    if interval is Interval.WEEK:
        return (day + literal(WEEK_SHIFT, Integer)) // literal(7, Integer)
    months = month_boundaries(first, last)
    if len(months) == 1:
        return literal(months[0][1], Integer)
    return case(
        *[
            (day < literal(months[n + 1][0], Integer), literal(key, Integer))
            for n, (_, key) in enumerate(months[:-1])
        ],
        else_=literal(months[-1][1], Integer),
    )
