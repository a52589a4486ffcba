"""Reporting's SQL views: conversion credits per model, and how far each projection has read;
and, beside them but never rebuilt, the properties' reporting settings and the pointer to the
live generation of the views.

The views exist once per *generation* (services/reporting/generations.py): their tables carry
the placeholder schema VIEWS_SCHEMA, which each connection translates to the generation it
reads (a PostgreSQL schema, or an attached SQLite file). Their shape is versioned by the
Alembic revisions in services/reporting/migrations/views; the settings tables' by those in
services/reporting/migrations/settings. Adding a table or a column: define it here and add a
revision (docs/architecture.md, "Changing the report views").

The property id leads every report key, so that properties can later be partitioned
across databases.

Views fed by a revisable fact (credits, paths, configured models, spend) keep every
revision: `valid_from` is the upstream log position of the entry that made a row current,
`valid_to` that of the entry that superseded it (NULL while it is current). Live queries
read `valid_to IS NULL`, through partial indexes; a new revision ends its conversion's
current rows through the live (property, conversion) indexes (without them PostgreSQL ended
each by scanning the property's live rows, and the projection slowed as the views grew: ~40
entries/s at 150k credit rows); an "as of" query reads the rows current at a past position.
`log_clock` maps the entries' recorded times to positions.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    text,
)

from common.sql_positions import positions_table

VIEWS_SCHEMA = "views"
"""The placeholder schema of the view tables: never a real schema, always translated."""

metadata = MetaData(schema=VIEWS_SCHEMA)
"""The view tables of one generation (rebuildable from the logs)."""


def _valid_from() -> Column[int]:
    return Column("valid_from", BigInteger, primary_key=True)


def _valid_to() -> Column[int]:
    return Column("valid_to", BigInteger, nullable=True)


def _superseded_index(name: str, *columns: str) -> Index:
    """A partial index over the superseded rows (`valid_to IS NOT NULL`): with the live one,
    an as-of query reads both, and a live query cannot pick it by mistake."""
    return Index(
        name,
        *columns,
        sqlite_where=text("valid_to IS NOT NULL"),
        postgresql_where=text("valid_to IS NOT NULL"),
    )


def _live_key(name: str, *columns: str) -> Index:
    """A unique partial index over the current rows of a table whose key takes `valid_from`
    besides `columns`: each key has one current row, and SQLite's planner, which has no
    statistics, orders joins by that (without it, funnels over whole keys chose nested
    loops in the wrong order: 7x slower)."""
    return Index(
        name,
        *columns,
        unique=True,
        sqlite_where=text("valid_to IS NULL"),
        postgresql_where=text("valid_to IS NULL"),
    )


def _live_index(name: str, *columns: str) -> Index:
    """A partial index over the current rows (`valid_to IS NULL`), on both databases: live
    queries, which say `valid_to IS NULL`, read only it."""
    return Index(
        name,
        *columns,
        sqlite_where=text("valid_to IS NULL"),
        postgresql_where=text("valid_to IS NULL"),
    )


WINDOW_COLUMNS = (
    "property_id", "conversion_name", "model", "occurred_at", "channel", "source", "medium",
    "campaign", "term", "content", "device_type", "browser", "country", "landing_page",
    "conversion_id", "fraction_units", "value_micros", "currency_code",
)  # fmt: skip
"""The columns of the live credits' window index: a report's (property, conversion name,
model, time range) leads, then every column a live conversion report reads, so that its
window (filtered by any dimension) is read from the index alone, in time order, without a
table read per credit. (With `valid_to` in it too, SQLite's planner took it as covering and
chose it, keyed by the property alone, for the projection's lookups by conversion id:
catch-up took 1.8 times base's CPU; without, SQLite reads each credit's row by its rowid
after the index.) On PostgreSQL at 250k conversions a 90-day report filtered by a country took
150 ms of server time through the narrow index (heap rows scattered over the table), 15 ms
through this one."""

conversion_credits = Table(
    "conversion_credits",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("conversion_id", String, primary_key=True),
    Column("model", String, primary_key=True),
    Column("credit_index", Integer, primary_key=True),
    Column("conversion_name", String, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("channel", String, nullable=False),
    Column("source", String, nullable=False),
    Column("medium", String, nullable=False),
    Column("campaign", String, nullable=False),
    Column("term", String, nullable=False, server_default=""),
    Column("content", String, nullable=False, server_default=""),
    Column("device_type", String, nullable=False, server_default=""),
    Column("browser", String, nullable=False, server_default=""),
    Column("country", String, nullable=False, server_default=""),
    Column("landing_page", String, nullable=False, server_default=""),
    Column("fraction", Float, nullable=False),
    Column("value_micros", BigInteger, nullable=False),
    Column("currency_code", String, nullable=False),
    Column("revision", Integer, nullable=False),
    _valid_from(),
    _valid_to(),
    Column("fraction_units", BigInteger, nullable=True),
    _live_index("ix_conversion_credits_property_model_time", "property_id", "model", "occurred_at"),
    _live_index("ix_conversion_credits_live_window", *WINDOW_COLUMNS),
    _superseded_index(
        "ix_conversion_credits_history",
        "property_id",
        "conversion_name",
        "model",
        "occurred_at",
    ),
    _live_index("ix_conversion_credits_live_conversion", "property_id", "conversion_id"),
)
"""One row per credit of a conversion under a model and attribution revision: the current
ones (`valid_to` NULL) are the latest attribution's credits. `fraction_units` is `fraction`
in nano-conversions (services/reporting/fraction_units.py), adding up exactly per conversion
and model: reports sum it (the projection always sets it; nullable only because views
revision v0005 added it to filled tables, and filled it)."""

conversion_day_totals = Table(
    "conversion_day_totals",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("conversion_name", String, primary_key=True),
    Column("model", String, primary_key=True),
    Column("dimension", String, primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("value", String, primary_key=True),
    Column("currency_code", String, primary_key=True),
    Column("credits", BigInteger, nullable=False),
    Column("fraction_units", BigInteger, nullable=False),
    Column("value_high", BigInteger, nullable=False),
    Column("value_middle", BigInteger, nullable=False),
    Column("value_low", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
"""The live credits summed per local day (days since 1970-01-01 in the property's time zone,
the one `day_total_zones` names), conversion name, model and value of each dimension
(`dimension` a credits column, `value` its value) and currency: how many credits, their
fraction units and their value micros in three parts (value_parts.VALUE_PART_BITS). Kept by
the credits projection in the page's transaction (a revision or retraction subtracts its
conversion's previous live credits); a row whose credits reach 0 is deleted."""

conversion_month_totals = Table(
    "conversion_month_totals",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("conversion_name", String, primary_key=True),
    Column("model", String, primary_key=True),
    Column("dimension", String, primary_key=True),
    Column("month", Integer, primary_key=True),
    Column("value", String, primary_key=True),
    Column("currency_code", String, primary_key=True),
    Column("credits", BigInteger, nullable=False),
    Column("fraction_units", BigInteger, nullable=False),
    Column("value_high", BigInteger, nullable=False),
    Column("value_middle", BigInteger, nullable=False),
    Column("value_low", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
"""conversion_day_totals summed per local month (months since January 1970, periods.month_key,
of the days in the zone `day_total_zones` names): kept with the day totals, by the same
statements, so that a long window reads its whole months here and only the days of the
partial months at its ends from the day totals (a 90-day report by a dimension with
thousands of values read up to 90 rows per value)."""

conversion_day_counts = Table(
    "conversion_day_counts",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("conversion_name", String, primary_key=True),
    Column("model", String, primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("conversions", BigInteger, nullable=False),
    Column("unconsented", BigInteger, nullable=False),
    Column("changed_at", BigInteger, nullable=False, server_default="0"),
    sqlite_with_rowid=False,
)
"""Per local day (as in conversion_day_totals), conversion name and model: how many live
conversions have credits under the model, and how many of them were counted without
analytics consent (a conversion has one day, so these add up over days). `changed_at` is the
position of attribution's log of the page (or of the zone change) that last changed the
day's live credits: every change of them passes through this row, and positions only grow,
so a filter summary made when it had this value is still exact while it has it
(services/reporting/filter_totals.py; 0 for rows from before views revision v0010)."""

filter_summarised_days = Table(
    "filter_summarised_days",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("conversion_name", String, primary_key=True),
    Column("model", String, primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("changed_at", BigInteger, nullable=False),
    Column("time_zone", String, nullable=False),
    sqlite_with_rowid=False,
)
"""The days (as conversion_day_counts keys them) the filter totals follower summarised into
`filter_day_totals` and `filter_day_counts`: the count row's `changed_at` it read and the
zone the day was local to. A report reads a day's filter totals only while both still hold
(the count row has that `changed_at`, the property's day totals are in that zone)."""

filter_day_totals = Table(
    "filter_day_totals",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("conversion_name", String, primary_key=True),
    Column("model", String, primary_key=True),
    Column("filter_dimension", String, primary_key=True),
    Column("filter_value", String, primary_key=True),
    Column("dimension", String, primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("value", String, primary_key=True),
    Column("currency_code", String, primary_key=True),
    Column("credits", BigInteger, nullable=False),
    Column("fraction_units", BigInteger, nullable=False),
    Column("value_high", BigInteger, nullable=False),
    Column("value_middle", BigInteger, nullable=False),
    Column("value_low", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
"""A summarised day's live credits split by the value of one filter dimension
(`filter_dimension`, one of filter_totals.FILTER_DIMENSIONS; `filter_value` its value, ""
for none) and summed per value of every dimension (itself included), as conversion_day_totals
sums them: what a live report filtered by one such value reads for its whole days. Written by
the filter totals follower, never by the catch-up."""

filter_day_counts = Table(
    "filter_day_counts",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("conversion_name", String, primary_key=True),
    Column("model", String, primary_key=True),
    Column("filter_dimension", String, primary_key=True),
    Column("filter_value", String, primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("conversions", BigInteger, nullable=False),
    Column("unconsented", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
"""Per summarised day and value of each filter dimension: the live conversions with at least
one credit of that value under the model, and how many of them were counted without analytics
consent."""

day_total_zones = Table(
    "day_total_zones",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("time_zone", String, nullable=False),
)
"""The time zone a property's day totals are in: reports read the day totals only while it
is the property's setting (a property without a row has none yet: reports read credits)."""

configured_models = Table(
    "configured_models",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("models", JSON, nullable=True),
    _valid_from(),
    _valid_to(),
)
"""The models attribution credits in each property, from its log: a list of names, or NULL
when the property follows the default (property id "*"); one row per change."""

unconsented_conversions = Table(
    "unconsented_conversions",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("conversion_id", String, primary_key=True),
    Column("conversion_name", String, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    _valid_from(),
    _valid_to(),
)
"""One row per conversion (and attribution revision) counted without analytics consent (a
table of its own, so that views created before consent existed gain it without a
migration)."""

projection_positions = positions_table(metadata, "projection_positions")
"""The last upstream log position each projection has processed."""

log_clock = Table(
    "log_clock",
    metadata,
    Column("upstream", String, primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("ix_log_clock_upstream_time", "upstream", "recorded_at"),
)
"""When the producer recorded upstream entries (every entry of attribution's log; of
ingest's, the spend entries and the last of each page), so that a time maps to the position
the views stood at then."""

spend = Table(
    "spend",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("day", String, primary_key=True),
    Column("source", String, primary_key=True),
    Column("medium", String, primary_key=True),
    Column("campaign", String, primary_key=True),
    Column("channel", String, nullable=False),
    Column("cost_micros", BigInteger, nullable=False),
    Column("currency_code", String, nullable=False),
    Column("original_cost_micros", BigInteger, nullable=False),
    Column("original_currency_code", String, nullable=False),
    Column("revision", Integer, nullable=False),
    _valid_from(),
    _valid_to(),
)
"""Every figure of each spend key, the current one with `valid_to` NULL (positions of
ingest's log): cost in the reporting currency and as sent; `day` is an ISO date in the
property's time zone."""

sessions = Table(
    "sessions",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("visitor", String, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("last_event_at", DateTime(timezone=True), nullable=False),
    Column("day", String, nullable=False),
    Column("channel", String, nullable=False),
    Column("source", String, nullable=False),
    Column("medium", String, nullable=False),
    Column("campaign", String, nullable=False),
    Column("events", Integer, nullable=False),
    Index("ix_sessions_property_start", "property_id", "started_at"),
)
"""One row per session of a visitor (numbered from 1), with the traffic of its first event."""

session_starts = Table(
    "session_starts",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("visitor", String, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    _valid_from(),
    _valid_to(),
    Index("ix_session_starts_property_start", "property_id", "started_at"),
)
"""Every start time each session had, from the position of ingest's log that created or moved
it (an earlier event joining the session moves its start): what the conversion rate report
counts as of a past moment. A session's day and traffic never change, so `sessions` holds
them once."""

session_visitors = Table(
    "session_visitors",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("visitor", String, primary_key=True),
    Column("current_number", Integer, nullable=False),
    Column("session_count", Integer, nullable=False),
)
"""Per visitor, the session new events may join and how many sessions it has: the state
that lets sessions be built incrementally, without rescanning."""

conversion_paths = Table(
    "conversion_paths",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("conversion_id", String, primary_key=True),
    Column("conversion_name", String, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("value_micros", BigInteger, nullable=False),
    Column("currency_code", String, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("steps", String, nullable=False),
    Column("collapsed_steps", String, nullable=False),
    Column("touchpoints", Integer, nullable=False),
    Column("first_touch_at", DateTime(timezone=True), nullable=True),
    Column("lag_days", Integer, nullable=True),
    Column("last_non_direct_channel", String, nullable=False),
    _valid_from(),
    _valid_to(),
    _live_index(
        "ix_conversion_paths_property_name_time", "property_id", "conversion_name", "occurred_at"
    ),
    _superseded_index(
        "ix_conversion_paths_history", "property_id", "conversion_name", "occurred_at"
    ),
    _live_index("ix_conversion_paths_live_conversion", "property_id", "conversion_id"),
)
"""One row per consented conversion and attribution revision with its path (the current
row: of its latest attribution): its steps
(JSON [[channel, touchpoints in a row], ...], and with repeats collapsed), its length, first
touch, whole days from it to the conversion, and its last non-direct channel."""

conversion_path_channels = Table(
    "conversion_path_channels",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("conversion_id", String, primary_key=True),
    Column("channel", String, primary_key=True),
    Column("conversion_name", String, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("value_micros", BigInteger, nullable=False),
    Column("last_touch", Boolean, nullable=False),
    _valid_from(),
    _valid_to(),
    _live_index(
        "ix_conversion_path_channels_property_name_time",
        "property_id",
        "conversion_name",
        "occurred_at",
    ),
    Index("ix_conversion_path_channels_history", "property_id", "conversion_name", "occurred_at"),
    _live_index("ix_conversion_path_channels_live_conversion", "property_id", "conversion_id"),
)
"""One row per distinct channel of a conversion's path (per attribution revision):
`last_touch` when it is the path's last non-direct channel (the conversion's last-touch
channel), else the channel assisted."""

conversion_stages = Table(
    "conversion_stages",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("conversion_id", String, primary_key=True),
    Column("stage", String, primary_key=True),
    Column("conversion_name", String, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("reached_at", DateTime(timezone=True), nullable=False),
    Column("is_current", Boolean, nullable=False),
    Column("value_micros", BigInteger, nullable=False),
    Column("currency_code", String, nullable=False),
    _valid_from(),
    _valid_to(),
    _live_index(
        "ix_conversion_stages_property_name_time", "property_id", "conversion_name", "occurred_at"
    ),
    _superseded_index(
        "ix_conversion_stages_history", "property_id", "conversion_name", "occurred_at"
    ),
)
"""One row per stage a conversion's outcomes reached (CRM deal stages) and outcome change
(positions of attribution's log), with when it was first reached, whether it is the
conversion's current stage, and the conversion's value then. A retraction ends a conversion's
rows: it has no current one (nor in the other views)."""

conversion_values = Table(
    "conversion_values",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("conversion_id", String, primary_key=True),
    Column("value_micros", BigInteger, nullable=False),
    Column("currency_code", String, nullable=False),
    _valid_from(),
    _valid_to(),
    _live_index("ix_conversion_values_live_conversion", "property_id", "conversion_id"),
    _superseded_index("ix_conversion_values_history", "property_id", "conversion_id"),
)
"""A conversion's value after its outcomes (value changes and refunds, in the reporting
currency), one row per outcome change of a conversion that has outcomes (positions of
attribution's log); a retraction ends its rows. Cohorts count a conversion at this value, at
the value it was sent with when it has no outcome."""

reporting_identities = Table(
    "reporting_identities",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("blended", Boolean, nullable=True),
    _valid_from(),
    _valid_to(),
)
"""The reporting identity attribution resolves persons by in each property, from its log
(positions of attribution's log): `blended` when accepted probabilistic links join persons,
NULL when the property follows the default (property id "*"); one row per change."""

person_events = Table(
    "person_events",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("record_id", String, primary_key=True),
    Column("visitor", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("name", String, nullable=False),
    Column("occurred_us", BigInteger, nullable=False),
    Column("value_micros", BigInteger, nullable=False),
    Column("currency_code", String, nullable=False),
    _valid_from(),
    _valid_to(),
    Index(
        "ix_person_events_property_kind_name_time",
        "property_id",
        "kind",
        "name",
        "occurred_us",
        postgresql_ops={"name": "text_pattern_ops"},
    ),
    Index("ix_person_events_property_visitor_kind", "property_id", "visitor", "kind"),
    _live_key("ix_person_events_live_record", "property_id", "record_id"),
    Index(
        "ix_person_events_property_conversion_time",
        "property_id",
        "occurred_us",
        sqlite_where=text("kind = 'conversion' AND valid_to IS NULL"),
        postgresql_where=text("(kind)::text = 'conversion'::text AND valid_to IS NULL"),
    ),
)
"""One row per event funnels and cohorts count, from ingest's log: a page view or touchpoint
(`kind` "page_view" or "touchpoint", `name` the page's or landing page's path), a conversion
("conversion", its name, value in micros of the reporting currency) or an identify call
("identify", no name). `visitor` is the event's visitor identifier (its anonymous id, else
user id, else first identifier) and `occurred_us` its time in microseconds since 1970 UTC.
Impressions, bots and events without identifiers are left out. `valid_from` and `valid_to`
are positions of ingest's log: a retraction (or the record sent again) ends a row. Rows are
rarely superseded, so the indexes cover every row (queries filter the current ones); the
live conversions' own index by time finds a property's newest conversion (of any name)
without reading the others (a query that must not be drawn to it, as PostgreSQL is while its
statistics of a growing table are stale, leaves out `valid_to IS NULL`). On PostgreSQL the
(property, kind, name, time) index orders names by code point (text_pattern_ops, whatever
the database's collation), so that it serves a funnel's page prefix (`LIKE 'prefix%'`) as
well as exact names."""

visitor_first_touches = Table(
    "visitor_first_touches",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("visitor", String, primary_key=True),
    Column("occurred_us", BigInteger, nullable=False),
    Column("record_id", String, nullable=False),
    Column("channel", String, nullable=False),
    _valid_from(),
    _valid_to(),
    Index("ix_visitor_first_touches_property_time", "property_id", "occurred_us"),
    _live_key("ix_visitor_first_touches_live_visitor", "property_id", "visitor"),
)
"""Per visitor, its earliest touchpoint (click or visit; the lowest record id on a tie) and
that touchpoint's channel: a person's first touch is the earliest of its visitors'. A late
earlier touchpoint ends the row at its position of ingest's log (`valid_to`)."""

retracted_conversions = Table(
    "retracted_conversions",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("conversion_id", String, primary_key=True),
)
"""The conversions an outcome in ingest's log retracted (`conversion_id` is the conversion's
record id), kept so that a conversion recorded after its retraction is not counted either:
their `person_events` rows are removed."""

identity_links = Table(
    "identity_links",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("identifier", String, primary_key=True),
    Column("person_id", String, nullable=False),
    _valid_from(),
    _valid_to(),
    Index("ix_identity_links_property_person", "property_id", "person_id"),
    _live_key("ix_identity_links_live_identifier", "property_id", "identifier"),
)
"""Which person each identifier belongs to as identity's log last said (deterministic links;
merges, splits and shared identifiers move identifiers, a forgotten person's are removed),
with every earlier owner (positions of identity's log). An identifier without a current row
is a person of its own."""

probable_links = Table(
    "probable_links",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("identifier", String, primary_key=True),
    Column("other", String, primary_key=True),
)
"""The probabilistic links identity accepted and has not removed, once in each direction."""

blended_links = Table(
    "blended_links",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("identifier", String, primary_key=True),
    Column("person_id", String, nullable=False),
    _valid_from(),
    _valid_to(),
    Index("ix_blended_links_property_person", "property_id", "person_id"),
    _live_key("ix_blended_links_live_identifier", "property_id", "identifier"),
)
"""Which person each identifier belongs to under the blended reporting identity, as
attribution joins journeys, where accepted probabilistic links join anything: the
identifiers of deterministic persons that such links connect (transitively) are one person,
named "~" and the smallest of its identifiers (positions of identity's log, as in
identity_links). An identifier without a current row here is resolved by identity_links."""


cohort_persons = Table(
    "cohort_persons",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("person_id", String, primary_key=True),
    Column("first_us", BigInteger, nullable=False),
    Column("channel", String, nullable=False),
    Index("ix_cohort_persons_property_first", "property_id", "first_us"),
)
"""The live cohort summary (services/reporting/cohort_summary.py): each deterministic person
with a first touch, its time and channel, as the live person views resolve it (the earliest
first touch of the identifiers `identity_links` gives the person, and of the person itself).
Kept by the person, identity and outcome projections for the persons each page changes."""

cohort_conversions = Table(
    "cohort_conversions",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("person_id", String, primary_key=True),
    Column("record_id", String, primary_key=True),
    Column("conversion_name", String, nullable=False),
    Column("occurred_us", BigInteger, nullable=False),
    Column("value_micros", BigInteger, nullable=False),
    Column("currency_code", String, nullable=False),
)
"""Each live conversion of a person in `cohort_persons`, at its value after its outcomes
(else the value it was sent with), as cohorts count it."""

cohort_totals = Table(
    "cohort_totals",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("interval", String, primary_key=True),
    Column("first_day", Integer, primary_key=True),
    Column("channel", String, primary_key=True),
    Column("period", Integer, primary_key=True),
    Column("conversion_name", String, primary_key=True),
    Column("currency_code", String, primary_key=True),
    Column("persons", BigInteger, nullable=False),
    Column("conversions", BigInteger, nullable=False),
    Column("value_high", BigInteger, nullable=False),
    Column("value_middle", BigInteger, nullable=False),
    Column("value_low", BigInteger, nullable=False),
    Column("converted", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
"""`cohort_persons` and `cohort_conversions` summed per interval ("week", "month"), local
day of the first touch (days since 1970-01-01 in the zone `cohort_zones` names: a query sums
the days of its cohorts, and reads persons' rows only for a day its range cuts), first-touch
channel, period since the first touch's (-1: the day's `persons`), conversion name and
currency: `conversions` and their value (in three parts, summed exactly: value_parts.py),
and `converted`, the persons whose first
conversion of the name (of any name: the name "", currency "") is in the period. A row whose
sums all reach 0 is deleted."""

cohort_zones = Table(
    "cohort_zones",
    metadata,
    Column("property_id", String, primary_key=True),
    Column("time_zone", String, nullable=False),
)
"""The time zone a property's `cohort_totals` are in; a property without a row has no cohort
summary (yet): cohorts read the person views."""

settings_metadata = MetaData()
"""Tables that are no view: what properties chose. A rebuild of the views keeps them."""

property_settings = Table(
    "property_settings",
    settings_metadata,
    Column("property_id", String, primary_key=True),
    Column("time_zone", String, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""A property's reporting settings, one row per property that chose any."""

view_generations = Table(
    "view_generations",
    settings_metadata,
    Column("generation", Integer, primary_key=True, autoincrement=False),
    Column("status", String, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("swapped_at", DateTime(timezone=True), nullable=True),
)
"""Every generation of the views: `building` (a rebuild follows the logs into it), `live`
(the pointer: queries and the live followers use it; exactly one row), `retired` (replaced,
dropped after a grace period) or `dropped`."""
