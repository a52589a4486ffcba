"""The scope checks every report kind makes before it answers: a property, a valid time range,
the conversion name it counts, a model with credits, "as of" allowed; and one snapshot."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, select

from services.reporting.as_of import current
from services.reporting.domainmodel import DEFAULT_SCOPE
from services.reporting.errors import (
    ConversionNameRequiredError,
    InvalidTimeRangeError,
    MissingPropertyError,
    ModelWithoutCreditsError,
    UnknownConversionNameError,
)
from services.reporting.generations import Connectable
from services.reporting.views import configured_models, conversion_credits, conversion_day_counts

NAMES_IN_MESSAGES = 20
"""At most this many names are listed in an error message."""


@contextmanager
def snapshot(engine: Connectable) -> Iterator[Connection]:
    """A connection whose reads all see one snapshot, rows and positions alike (SQLite
    holds a read transaction's snapshot anyway; PostgreSQL needs REPEATABLE READ)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        yield conn


def check_request(property_id: str, start: datetime | None, end: datetime | None) -> None:
    """Raises MissingPropertyError without a property, InvalidTimeRangeError for a time
    range that ends before or where it starts."""
    if not property_id:
        raise MissingPropertyError("property_id is required")
    if start and end and utc(end) <= utc(start):
        raise InvalidTimeRangeError("the end of the time range must be after its start")


def unknown_name(property_id: str, described: str, names: Sequence[str]) -> Exception:
    """The error for a conversion name the property lacks: `described` says what it lacks
    ("attributed 'refund' conversion"); its conversion names follow."""
    return UnknownConversionNameError(
        f"property {property_id!r} has no {described} (its conversion names: {listed(names)})"
    )


def counted_name(
    property_id: str,
    asked: str,
    names: Sequence[str],
    *,
    described: str = "attributed {name!r} conversion",
    several: str = "conversions of several names",
    alternatives: str = "",
) -> str:
    """The conversion name a report counts: `asked` when the property has it, else the
    property's only one. `names` are the property's names (at least one), `described` what
    an unknown name lacks ({name} is the name), `several` what the property has
    ("conversions of several names"), `alternatives` other ways to answer (in
    parentheses)."""
    if asked and asked not in names:
        raise unknown_name(property_id, described.format(name=asked), names)
    if asked:
        return asked
    if len(names) > 1:
        raise several_names(property_id, names, several=several, alternatives=alternatives)
    return names[0]


def several_names(
    property_id: str,
    names: Sequence[str],
    *,
    several: str = "conversions of several names",
    alternatives: str = "",
) -> ConversionNameRequiredError:
    """The error for a report that names no conversion of a property with several."""
    more = f" ({alternatives})" if alternatives else ""
    return ConversionNameRequiredError(
        f"property {property_id!r} has {several} ({listed(names)}): a report "
        f"counts one, name it in conversion_name{more}"
    )


def has_credits(conn: Connection, property_id: str, name: str, model: str, at: int | None) -> bool:
    """Whether the model credits the property's conversions (of the name, when given) at
    attribution position `at` (None: now)."""
    c = conversion_credits.c
    conditions = [c.property_id == property_id, c.model == model, current(c, at)]
    if name:
        conditions.append(c.conversion_name == name)
    return _exists(conn, *conditions)


def require_model(
    conn: Connection, property_id: str, names: Sequence[str], model: str, at: int | None
) -> None:
    """Raises ModelWithoutCreditsError, saying why and how to enable the model, unless it
    credits the property's conversions of each name (of any name, for none) at `at`."""
    for name in names or ("",):
        if not has_credits(conn, property_id, name, model, at):
            raise without_credits(conn, property_id, name, model, at)


def without_credits(
    conn: Connection, property_id: str, name: str, model: str, at: int | None
) -> ModelWithoutCreditsError:
    """The error for a model without credits (at position `at`), saying why and how to
    enable it."""
    with_credits = listed(credited_models(conn, property_id, name, at))
    described = f"{name!r} conversions" if name else "conversions"
    configured = configured_models_of(conn, property_id, at)
    enable = (
        f"enable it for this property with attribution's ConfigureModels (property_id "
        f"{property_id!r}; `convtrack attribution configure-models --property "
        f"{property_id} --models ...`), or for every property that follows the default "
        "with property_id '*' (ATTRIBUTION_MODELS while nobody chose)"
    )
    if configured is None:
        return ModelWithoutCreditsError(
            f"model {model!r} has no credits for {described} of property "
            f"{property_id!r} (models with credits: {with_credits}). Attribution credits "
            f"the models configured for the property: {enable}; a data-driven model "
            "(markov, shapley) credits after its first fit (RefitModel)"
        )
    if model not in configured:
        return ModelWithoutCreditsError(
            f"model {model!r} is not configured for property {property_id!r} (its "
            f"models: {listed(configured)}): {enable}"
        )
    return ModelWithoutCreditsError(
        f"model {model!r} is configured for property {property_id!r} but has no credits "
        f"for its {described} yet (models with credits: {with_credits}): a "
        "data-driven model (markov, shapley) credits after its first fit (RefitModel, "
        "or the scheduled refit); any model once attribution's re-attribution job after "
        "the configuration change has reached them"
    )


def credited_models(
    conn: Connection, property_id: str, name: str = "", at: int | None = None
) -> tuple[str, ...]:
    """The models with credits for the property (and conversion name, when given) at `at`:
    live from the day counts (which hold a row while live credits do), as of a position from
    the credits' revisions."""
    if at is None:
        d = conversion_day_counts.c
        live = [d.property_id == property_id, *([d.conversion_name == name] if name else [])]
        statement = select(d.model).where(*live).distinct().order_by(d.model)
        return tuple(conn.execute(statement).scalars())
    c = conversion_credits.c
    conditions = [c.property_id == property_id, current(c, at)]
    if name:
        conditions.append(c.conversion_name == name)
    statement = select(c.model).where(*conditions).distinct().order_by(c.model)
    return tuple(conn.execute(statement).scalars())


def configured_models_of(
    conn: Connection, property_id: str, at: int | None = None
) -> tuple[str, ...] | None:
    """The models attribution credits in the property: its own choice, else the
    default's; None when attribution's log has not said (a log written before
    attribution's settings were logged). At position `at` (None: now)."""
    c = configured_models.c
    rows = dict(
        conn.execute(
            select(c.property_id, c.models).where(
                c.property_id.in_([property_id, DEFAULT_SCOPE]), current(c, at)
            )
        ).all()
    )
    for scope in (property_id, DEFAULT_SCOPE):
        if rows.get(scope) is not None:
            return tuple(rows[scope])
    return None


def listed(names: Sequence[str]) -> str:
    """Names for an error message, at most NAMES_IN_MESSAGES of them."""
    if not names:
        return "none"
    shown = ", ".join(names[:NAMES_IN_MESSAGES])
    more = len(names) - NAMES_IN_MESSAGES
    return shown + (f" and {more} more" if more > 0 else "")


def utc(moment: datetime) -> datetime:
    """The moment in UTC, as stored; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _exists(conn: Connection, *conditions: ColumnElement[bool]) -> bool:
    """Whether any credit meets the conditions."""
    c = conversion_credits.c
    return conn.execute(select(c.property_id).where(*conditions).limit(1)).first() is not None
