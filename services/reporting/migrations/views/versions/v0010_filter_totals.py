"""The filter totals: `changed_at` on the day counts (set by the catch-up's upsert; 0 for
the rows there are), and the tables the filter totals follower fills (`filter_summarised_days`,
`filter_day_totals`, `filter_day_counts`, WITHOUT ROWID on SQLite), empty: reports read the
credits until the follower has summarised a day.

Revision ID: v0010
Revises: v0009
"""

import sqlalchemy as sa
from alembic import op

revision = "v0010"
down_revision = "v0009"
branch_labels = None
depends_on = None

_FILTER_KEYS = ("property_id", "conversion_name", "model", "filter_dimension", "filter_value")


def _keys(*names: str) -> list[sa.Column[str]]:
    return [sa.Column(n, sa.String(), nullable=False) for n in names]


def upgrade() -> None:
    op.add_column(
        "conversion_day_counts",
        sa.Column("changed_at", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_table(
        "filter_summarised_days",
        *_keys("property_id", "conversion_name", "model"),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.BigInteger(), nullable=False),
        sa.Column("time_zone", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("property_id", "conversion_name", "model", "day"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "filter_day_totals",
        *_keys(*_FILTER_KEYS, "dimension"),
        sa.Column("day", sa.Integer(), nullable=False),
        *_keys("value", "currency_code"),
        *(
            sa.Column(s, sa.BigInteger(), nullable=False)
            for s in ("credits", "fraction_units", "value_high", "value_middle", "value_low")
        ),
        sa.PrimaryKeyConstraint(*_FILTER_KEYS, "dimension", "day", "value", "currency_code"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "filter_day_counts",
        *_keys(*_FILTER_KEYS),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("conversions", sa.BigInteger(), nullable=False),
        sa.Column("unconsented", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*_FILTER_KEYS, "day"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("filter_day_counts")
    op.drop_table("filter_day_totals")
    op.drop_table("filter_summarised_days")
    # Plain ALTER TABLE: a batch operation would copy the table without WITHOUT ROWID.
    op.execute("ALTER TABLE conversion_day_counts DROP COLUMN changed_at")
