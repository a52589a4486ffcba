"""Reports "as of" a past moment: a time or a position mapped to the log positions the views
stood at, and the condition that selects the revisions current at them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, or_

from common.shards import shard_of, shard_tracking_name
from common.sql_positions import stored_position
from services.reporting import activity, person_projection, projections
from services.reporting.domainmodel import AsOf
from services.reporting.log_clock import position_at, time_of
from services.reporting.views import projection_positions

ATTRIBUTION = "attribution"
INGEST = "ingest"
IDENTITY = "identity"
_CONSUMERS = {
    ATTRIBUTION: projections.PROJECTION_NAME,
    INGEST: activity.PROJECTION_NAME,
    IDENTITY: person_projection.PROJECTION_NAME,
}


@dataclass(frozen=True, slots=True)
class ViewsAt:
    """The positions of attribution's, ingest's and identity's logs whose revisions a query
    reads (None: the live rows), and the recorded time of the newest attribution entry
    reflected (set for an as-of answer, when known)."""

    attribution: int | None = None
    ingest: int | None = None
    recorded_at: datetime | None = None
    identity: int | None = None

    @property
    def is_live(self) -> bool:
        """Whether attribution's and ingest's views are read live (the reports that read
        identity's views check `identity` too)."""
        return self.attribution is None and self.ingest is None


LIVE = ViewsAt()


def current(columns: Any, position: int | None) -> ColumnElement[bool]:
    """The rows of a table with revisions that are current at `position` (None: now).

    Live: `valid_to IS NULL`, which the live partial indexes answer. At a position: the
    rows current now that began by then, or superseded ones current then; each half implies
    the WHERE of one partial index (`valid_to > p` implies `valid_to IS NOT NULL` to both
    databases), so the planners can read each through its index."""
    if position is None:
        live: ColumnElement[bool] = columns.valid_to.is_(None)
        return live
    return or_(
        and_(columns.valid_to.is_(None), columns.valid_from <= position),
        and_(columns.valid_to > position, columns.valid_from <= position),
    )


def resolve(
    conn: Connection, as_of: AsOf | None, property_id: str = "", shards: int = 1
) -> ViewsAt:
    """The positions the views stood at at `as_of`, None for a log whose view is live then.

    A time maps, per log, to the newest position recorded at or before it; a position of
    attribution's log is itself, and ingest's and identity's are taken at the time
    attribution recorded the newest entry at or before it. A moment at or after what the
    views reflect is live: with `shards` > 1, what the views reflect is what the shard of
    `property_id` does (see `live_position`).
    """
    if as_of is None:
        return LIVE
    live_attribution = live_position(conn, ATTRIBUTION, property_id, shards)
    live_ingest = live_position(conn, INGEST, property_id, shards)
    moment: datetime | None
    if as_of.time is not None:
        moment = _utc(as_of.time)
        attribution = position_at(conn, ATTRIBUTION, moment)
    else:
        attribution = int(as_of.attribution_position or 0)
        if attribution >= live_attribution:
            return LIVE
        moment = time_of(conn, ATTRIBUTION, attribution)
    ingest = position_at(conn, INGEST, moment) if moment is not None else 0
    identity = position_at(conn, IDENTITY, moment) if moment is not None else 0
    live_identity = live_position(conn, IDENTITY, property_id, shards)
    return ViewsAt(
        attribution=None if attribution >= live_attribution else attribution,
        ingest=None if ingest >= live_ingest else ingest,
        recorded_at=time_of(conn, ATTRIBUTION, min(attribution, live_attribution)),
        identity=None if identity >= live_identity else identity,
    )


def live_position(conn: Connection, upstream: str, property_id: str = "", shards: int = 1) -> int:
    """The position of `upstream` (attribution, ingest or identity) the views reflect now.

    With `shards` > 1 (reporting's followers run in shards), the position of the shard of
    `property_id`; a shard that recorded none yet stands where the unsharded follower stopped
    (where `ShardSink` starts it)."""
    consumer = _CONSUMERS[upstream]
    if shards > 1:
        tracked = shard_tracking_name(upstream, shard_of(property_id, shards), shards)
        position = stored_position(conn, projection_positions, consumer, tracked)
        if position:
            return position
    return stored_position(conn, projection_positions, consumer, upstream)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
