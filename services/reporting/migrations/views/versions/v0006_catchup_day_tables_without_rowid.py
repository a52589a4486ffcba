"""The day totals and day counts as WITHOUT ROWID tables on SQLite: stored in their primary
key's B-tree alone, so that a new row costs one B-tree insert instead of two (the table's and
its primary key index's); PostgreSQL is left as it is. The rows are copied.

Revision ID: v0006
Revises: v0005
"""

from alembic import op

revision = "v0006"
down_revision = "v0005"
branch_labels = None
depends_on = None

_TABLES = {
    "conversion_day_totals": (
        "property_id VARCHAR NOT NULL, conversion_name VARCHAR NOT NULL, model VARCHAR NOT NULL, "
        "dimension VARCHAR NOT NULL, day INTEGER NOT NULL, value VARCHAR NOT NULL, "
        "currency_code VARCHAR NOT NULL, credits BIGINT NOT NULL, "
        "fraction_units BIGINT NOT NULL, value_high BIGINT NOT NULL, "
        "value_middle BIGINT NOT NULL, value_low BIGINT NOT NULL, "
        "PRIMARY KEY (property_id, conversion_name, model, dimension, day, value, currency_code)"
    ),
    "conversion_day_counts": (
        "property_id VARCHAR NOT NULL, conversion_name VARCHAR NOT NULL, model VARCHAR NOT NULL, "
        "day INTEGER NOT NULL, conversions BIGINT NOT NULL, unconsented BIGINT NOT NULL, "
        "PRIMARY KEY (property_id, conversion_name, model, day)"
    ),
}


def _rebuild(rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    option = "" if rowid else " WITHOUT ROWID"
    for name, columns in _TABLES.items():
        op.execute(f"CREATE TABLE {name}_rebuilt ({columns}){option}")
        op.execute(f"INSERT INTO {name}_rebuilt SELECT * FROM {name}")
        op.execute(f"DROP TABLE {name}")
        op.execute(f"ALTER TABLE {name}_rebuilt RENAME TO {name}")


def upgrade() -> None:
    _rebuild(rowid=False)


def downgrade() -> None:
    _rebuild(rowid=True)
