"""Persons as attribution resolves them, and history for as-of funnels, cohorts and
outcomes: the reporting identity of each property (from attribution's log), identity's
accepted probabilistic links and the persons they join, each conversion's value after its
outcomes; outcome stages, person events, first touches and identity links kept per revision
(`valid_from`, `valid_to`). Rows of an existing generation become current from position 0.

Revision ID: v0003
Revises: v0001
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "v0003"
down_revision = "v0001"
branch_labels = None
depends_on = None

_LIVE = sa.text("valid_to IS NULL")
_SUPERSEDED = sa.text("valid_to IS NOT NULL")
_STAGE_COLUMNS = (
    "property_id, conversion_id, stage, conversion_name, occurred_at, reached_at, "
    "is_current, value_micros, currency_code"
)


def _stage_table(name: str, history: bool) -> None:
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("conversion_id", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("conversion_name", sa.String(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("value_micros", sa.BigInteger(), nullable=False),
        sa.Column("currency_code", sa.String(), nullable=False),
    ]
    key = ["property_id", "conversion_id", "stage"]
    if history:
        columns += [
            sa.Column("valid_from", sa.BigInteger(), nullable=False),
            sa.Column("valid_to", sa.BigInteger(), nullable=True),
        ]
        key.append("valid_from")
    op.create_table(name, *columns, sa.PrimaryKeyConstraint(*key))


def _replace_stages(history: bool) -> None:
    """Copies conversion_stages into a table of the other shape and swaps it in."""
    _stage_table("conversion_stages_next", history)
    if history:
        op.execute(
            f"INSERT INTO conversion_stages_next ({_STAGE_COLUMNS}, valid_from, valid_to) "
            f"SELECT {_STAGE_COLUMNS}, 0, NULL FROM conversion_stages"
        )
    else:
        op.execute(
            f"INSERT INTO conversion_stages_next ({_STAGE_COLUMNS}) "
            f"SELECT {_STAGE_COLUMNS} FROM conversion_stages WHERE valid_to IS NULL"
        )
    with op.batch_alter_table("conversion_stages", schema=None) as batch_op:
        batch_op.drop_index("ix_conversion_stages_property_name_time")
        if not history:
            batch_op.drop_index("ix_conversion_stages_history")
    op.drop_table("conversion_stages")
    op.rename_table("conversion_stages_next", "conversion_stages")
    columns = ["property_id", "conversion_name", "occurred_at"]
    with op.batch_alter_table("conversion_stages", schema=None) as batch_op:
        if history:
            batch_op.create_index(
                "ix_conversion_stages_property_name_time",
                columns,
                unique=False,
                sqlite_where=_LIVE,
                postgresql_where=_LIVE,
            )
            batch_op.create_index(
                "ix_conversion_stages_history",
                columns,
                unique=False,
                sqlite_where=_SUPERSEDED,
                postgresql_where=_SUPERSEDED,
            )
        else:
            batch_op.create_index("ix_conversion_stages_property_name_time", columns, unique=False)


_PERSON_TABLES: dict[str, tuple[list[sa.Column[Any]], list[str], list[tuple[str, list[str]]]]] = {
    "person_events": (
        [
            sa.Column("property_id", sa.String(), nullable=False),
            sa.Column("record_id", sa.String(), nullable=False),
            sa.Column("visitor", sa.String(), nullable=False),
            sa.Column("kind", sa.String(), nullable=False),
            sa.Column("name", sa.String(), nullable=False),
            sa.Column("occurred_us", sa.BigInteger(), nullable=False),
            sa.Column("value_micros", sa.BigInteger(), nullable=False),
            sa.Column("currency_code", sa.String(), nullable=False),
        ],
        ["property_id", "record_id"],
        [
            (
                "ix_person_events_property_kind_name_time",
                ["property_id", "kind", "name", "occurred_us"],
            ),
            ("ix_person_events_property_visitor_kind", ["property_id", "visitor", "kind"]),
        ],
    ),
    "visitor_first_touches": (
        [
            sa.Column("property_id", sa.String(), nullable=False),
            sa.Column("visitor", sa.String(), nullable=False),
            sa.Column("occurred_us", sa.BigInteger(), nullable=False),
            sa.Column("record_id", sa.String(), nullable=False),
            sa.Column("channel", sa.String(), nullable=False),
        ],
        ["property_id", "visitor"],
        [("ix_visitor_first_touches_property_time", ["property_id", "occurred_us"])],
    ),
    "identity_links": (
        [
            sa.Column("property_id", sa.String(), nullable=False),
            sa.Column("identifier", sa.String(), nullable=False),
            sa.Column("person_id", sa.String(), nullable=False),
        ],
        ["property_id", "identifier"],
        [("ix_identity_links_property_person", ["property_id", "person_id"])],
    ),
}
"""Each person table before this revision: its columns, key and indexes."""


_LIVE_KEYS = {
    "person_events": "ix_person_events_live_record",
    "visitor_first_touches": "ix_visitor_first_touches_live_visitor",
    "identity_links": "ix_identity_links_live_identifier",
    "blended_links": "ix_blended_links_live_identifier",
}
"""The unique index of each person table's current rows by its key."""


def _create_live_key(batch_op: Any, table: str, key: list[str]) -> None:
    batch_op.create_index(
        _LIVE_KEYS[table], key, unique=True, sqlite_where=_LIVE, postgresql_where=_LIVE
    )


def _replace_person_table(name: str, history: bool) -> None:
    """Copies a person table into one of the other shape (with history: every row current
    from position 0; without: the current rows) and swaps it in."""
    columns, key, indexes = _PERSON_TABLES[name]
    names = ", ".join(c.name for c in columns)
    copied: list[sa.schema.SchemaItem] = [
        sa.Column(c.name, c.type, nullable=c.nullable) for c in columns
    ]
    if history:
        copied += [
            sa.Column("valid_from", sa.BigInteger(), nullable=False),
            sa.Column("valid_to", sa.BigInteger(), nullable=True),
        ]
    primary = [*key, "valid_from"] if history else key
    op.create_table(f"{name}_next", *copied, sa.PrimaryKeyConstraint(*primary))
    if history:
        op.execute(
            f"INSERT INTO {name}_next ({names}, valid_from, valid_to) "
            f"SELECT {names}, 0, NULL FROM {name}"
        )
    else:
        op.execute(
            f"INSERT INTO {name}_next ({names}) SELECT {names} FROM {name} WHERE valid_to IS NULL"
        )
    with op.batch_alter_table(name, schema=None) as batch_op:
        for index, _ in indexes:
            batch_op.drop_index(index)
        if not history:
            batch_op.drop_index(_LIVE_KEYS[name])
    op.drop_table(name)
    op.rename_table(f"{name}_next", name)
    with op.batch_alter_table(name, schema=None) as batch_op:
        for index, indexed in indexes:
            batch_op.create_index(index, indexed, unique=False)
        if history:
            _create_live_key(batch_op, name, key)


def upgrade() -> None:
    _replace_stages(history=True)
    for name in _PERSON_TABLES:
        _replace_person_table(name, history=True)
    op.create_table(
        "conversion_values",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("conversion_id", sa.String(), nullable=False),
        sa.Column("value_micros", sa.BigInteger(), nullable=False),
        sa.Column("currency_code", sa.String(), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_to", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("property_id", "conversion_id", "valid_from"),
    )
    with op.batch_alter_table("conversion_values", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversion_values_live_conversion",
            ["property_id", "conversion_id"],
            unique=False,
            sqlite_where=_LIVE,
            postgresql_where=_LIVE,
        )
        batch_op.create_index(
            "ix_conversion_values_history",
            ["property_id", "conversion_id"],
            unique=False,
            sqlite_where=_SUPERSEDED,
            postgresql_where=_SUPERSEDED,
        )
    op.execute(
        "INSERT INTO conversion_values "
        "(property_id, conversion_id, value_micros, currency_code, valid_from, valid_to) "
        "SELECT property_id, conversion_id, MIN(value_micros), MIN(currency_code), 0, NULL "
        "FROM conversion_stages GROUP BY property_id, conversion_id"
    )
    op.create_table(
        "reporting_identities",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("blended", sa.Boolean(), nullable=True),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_to", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("property_id", "valid_from"),
    )
    op.create_table(
        "probable_links",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("identifier", sa.String(), nullable=False),
        sa.Column("other", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("property_id", "identifier", "other"),
    )
    op.create_table(
        "blended_links",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("identifier", sa.String(), nullable=False),
        sa.Column("person_id", sa.String(), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_to", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("property_id", "identifier", "valid_from"),
    )
    with op.batch_alter_table("blended_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_blended_links_property_person", ["property_id", "person_id"], unique=False
        )
        _create_live_key(batch_op, "blended_links", ["property_id", "identifier"])


def downgrade() -> None:
    with op.batch_alter_table("blended_links", schema=None) as batch_op:
        batch_op.drop_index(_LIVE_KEYS["blended_links"])
        batch_op.drop_index("ix_blended_links_property_person")
    op.drop_table("blended_links")
    op.drop_table("probable_links")
    op.drop_table("reporting_identities")
    with op.batch_alter_table("conversion_values", schema=None) as batch_op:
        batch_op.drop_index("ix_conversion_values_history")
        batch_op.drop_index("ix_conversion_values_live_conversion")
    op.drop_table("conversion_values")
    for name in _PERSON_TABLES:
        _replace_person_table(name, history=False)
    _replace_stages(history=False)
