"""The conversion credits projection: attribution's log replayed into the report views."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.exc import DBAPIError

from common.eventlog import MissingTablesError
from common.follower import UpstreamEntry
from common.sql_positions import record_position, stored_position
from services.reporting.domainmodel import ConfiguredModels, ConversionAttribution, ReportingInput
from services.reporting.path_projection import replace_paths
from services.reporting.views import (
    configured_models,
    conversion_credits,
    identity_links,
    metadata,
    person_events,
    projection_positions,
    settings_metadata,
    unconsented_conversions,
    visitor_first_touches,
)

PROJECTION_NAME = "conversion_credits"
log = logging.getLogger(__name__)


class StalePositionError(Exception):
    """The stored position moved (a rebuild) between reading a page and applying it."""


REVISION_LOOKUP_CHUNK = 500
REPLAYED_VIEWS = (person_events, visitor_first_touches, identity_links)
"""Views added after others existed that only a replay of the logs fills: when they are
missing beside older views, every view is rebuilt."""


class ConversionCreditsProjection:
    """Keeps `conversion_credits` equal to the latest attribution of every conversion, and
    `configured_models` to the models attribution credits in each property.

    It is a follower's sink: each page's rows and the upstream position are written in
    one transaction, so a crash or a failing page never leaves one without the other.
    `lock` serialises the follower's reads of the position with its writes.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.lock = threading.Lock()

    def create_tables(self) -> None:
        """Creates the views and settings tables that are missing. Views made by an older
        version (a column or one of REPLAYED_VIEWS missing) are dropped and made again, to be
        replayed from position 0: they are rebuildable; the settings are kept."""
        with self._engine.begin() as conn:
            existing = inspect(conn)
            schema = conn.get_execution_options().get("schema_translate_map", {}).get(None)
            if existing.has_table(conversion_credits.name, schema=schema):
                stored = {
                    column["name"]
                    for column in existing.get_columns(conversion_credits.name, schema=schema)
                }
                missing = [c.name for c in conversion_credits.columns if c.name not in stored]
                # Views that only a replay of the logs fills (ingest's position is past them).
                missing += [
                    t.name for t in REPLAYED_VIEWS if not existing.has_table(t.name, schema=schema)
                ]
                if missing:
                    log.warning(
                        "the report views lack %s: rebuilding them from the logs",
                        ", ".join(missing),
                    )
                    metadata.drop_all(conn)
            metadata.create_all(conn)
            settings_metadata.create_all(conn)

    def check_tables(self) -> None:
        """Raises MissingTablesError unless the views exist (when started without DDL)."""
        missing = []
        for table in [*metadata.sorted_tables, *settings_metadata.sorted_tables]:
            try:
                with self._engine.connect() as conn:
                    conn.execute(select(*table.primary_key.columns).limit(1))
            except DBAPIError:
                missing.append(table.name)
        if missing:
            raise MissingTablesError(
                f"reporting's tables {', '.join(missing)} are missing: "
                "run `convtrack migrate` first"
            )

    def rebuild(self) -> None:
        """Drops and recreates the views and positions: the followers replay from position 0.
        The properties' settings are kept."""
        with self._engine.begin() as conn:
            metadata.drop_all(conn)
            metadata.create_all(conn)

    def position(self, upstream: str) -> int:
        """The last position of `upstream` this projection has processed (0 before the first)."""
        with self._engine.connect() as conn:
            return stored_position(conn, projection_positions, PROJECTION_NAME, upstream)

    def positions(self, upstreams: Iterable[str]) -> dict[str, int]:
        """The position of each named upstream."""
        return {name: self.position(name) for name in upstreams}

    def process_page(
        self,
        upstream: str,
        entries: Sequence[UpstreamEntry[ReportingInput | None]],
        after: int | None = None,
    ) -> None:
        """Replaces the credits of each attributed conversion and records the page's position.

        With `after` (the position the page was read after), the page is applied only if the
        stored position still equals it: a rebuild from another process in the meantime
        raises StalePositionError instead of leaving a hole in the views.
        """
        if not entries:
            return
        latest = _latest_per_conversion(
            e.value for e in entries if isinstance(e.value, ConversionAttribution)
        )
        settings = {
            e.value.property_id: e.value for e in entries if isinstance(e.value, ConfiguredModels)
        }
        with self._engine.begin() as conn:
            if after is not None:
                current = stored_position(conn, projection_positions, PROJECTION_NAME, upstream)
                if current != after:
                    raise StalePositionError(
                        f"{upstream} position is {current}, not {after}: "
                        "the views were rebuilt; reading again"
                    )
            stored = _stored_revisions(conn, latest)
            winners = [
                a
                for key, a in latest.items()
                if a.models and a.revision >= stored.get(key, a.revision)
            ]
            _replace_credits(conn, winners)
            replace_paths(conn, winners)
            _replace_configured_models(conn, settings.values())
            record_position(
                conn, projection_positions, PROJECTION_NAME, upstream, entries[-1].position
            )


def _latest_per_conversion(
    attributions: Iterable[ConversionAttribution],
) -> dict[tuple[str, str], ConversionAttribution]:
    """Each conversion's winning attribution in a page: highest revision, later on a tie."""
    latest: dict[tuple[str, str], ConversionAttribution] = {}
    for attribution in attributions:
        key = (attribution.property_id, attribution.conversion_id)
        known = latest.get(key)
        if known is None or attribution.revision >= known.revision:
            latest[key] = attribution
    return latest


def _stored_revisions(
    conn: Connection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    by_property: dict[str, list[str]] = {}
    for property_id, conversion_id in keys:
        by_property.setdefault(property_id, []).append(conversion_id)
    c = conversion_credits.c
    stored: dict[tuple[str, str], int] = {}
    for property_id, conversion_ids in by_property.items():
        for start in range(0, len(conversion_ids), REVISION_LOOKUP_CHUNK):
            chunk = conversion_ids[start : start + REVISION_LOOKUP_CHUNK]
            rows = conn.execute(
                select(c.conversion_id, func.max(c.revision))
                .where(c.property_id == property_id, c.conversion_id.in_(chunk))
                .group_by(c.conversion_id)
            )
            for conversion_id, revision in rows:
                stored[(property_id, conversion_id)] = int(revision)
    return stored


def _replace_configured_models(conn: Connection, changes: Iterable[ConfiguredModels]) -> None:
    """Records the latest configured models of each property in the page."""
    rows = [
        {"property_id": c.property_id, "models": None if c.models is None else list(c.models)}
        for c in changes
    ]
    if not rows:
        return
    c = configured_models.c
    conn.execute(
        delete(configured_models).where(c.property_id.in_([r["property_id"] for r in rows]))
    )
    conn.execute(insert(configured_models), rows)


def _replace_credits(conn: Connection, attributions: Sequence[ConversionAttribution]) -> None:
    """Replaces every credit of each conversion by its attribution's: an attribution carries
    all the models attribution is configured with, so a model taken out of the configuration
    loses its credits as its conversions are re-attributed."""
    deletions: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    unconsented: list[dict[str, Any]] = []
    for a in attributions:
        occurred_at = a.occurred_at.astimezone(UTC)
        deletions.append({"p_property": a.property_id, "p_conversion": a.conversion_id})
        if a.unconsented:
            unconsented.append(
                {
                    "property_id": a.property_id,
                    "conversion_id": a.conversion_id,
                    "conversion_name": a.conversion_name,
                    "occurred_at": occurred_at,
                }
            )
        for model in a.models:
            for index, credit in enumerate(model.credits):
                rows.append(
                    {
                        "property_id": a.property_id,
                        "conversion_id": a.conversion_id,
                        "model": model.model,
                        "credit_index": index,
                        "conversion_name": a.conversion_name,
                        "occurred_at": occurred_at,
                        "channel": credit.channel,
                        "source": credit.source,
                        "medium": credit.medium,
                        "campaign": credit.campaign,
                        "term": credit.term,
                        "content": credit.content,
                        "device_type": credit.device_type,
                        "browser": credit.browser,
                        "country": credit.country,
                        "landing_page": credit.landing_page,
                        "fraction": credit.fraction,
                        "value_micros": credit.value_micros,
                        "currency_code": a.currency_code,
                        "revision": a.revision,
                    }
                )
    if deletions:
        for table in (conversion_credits, unconsented_conversions):
            conn.execute(
                delete(table).where(
                    table.c.property_id == bindparam("p_property"),
                    table.c.conversion_id == bindparam("p_conversion"),
                ),
                deletions,
            )
    if rows:
        conn.execute(insert(conversion_credits), rows)
    if unconsented:
        conn.execute(insert(unconsented_conversions), unconsented)
