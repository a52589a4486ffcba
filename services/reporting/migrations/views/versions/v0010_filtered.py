"""The filter totals (`conversion_filter_totals`, `conversion_filter_counts`, WITHOUT ROWID
tables on SQLite): the day totals and counts split by the value of each filter dimension
(day_totals.FILTER_DIMENSIONS), kept with them by the credits projection. The tables start
empty and every property's recorded day-totals zone is dropped, so reports read the credits
until the property's next page recomputes all its day tables (or `convtrack
rebuild-reports` replays them).

Revision ID: v0010
Revises: v0009
"""

import sqlalchemy as sa
from alembic import op

revision = "v0010"
down_revision = "v0009"
branch_labels = None
depends_on = None

_SUMS = ("credits", "fraction_units", "value_high", "value_middle", "value_low")


def upgrade() -> None:
    op.create_table(
        "conversion_filter_totals",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("conversion_name", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("filter_dimension", sa.String(), nullable=False),
        sa.Column("filter_value", sa.String(), nullable=False),
        sa.Column("dimension", sa.String(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("currency_code", sa.String(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _SUMS),
        sa.PrimaryKeyConstraint(
            "property_id",
            "conversion_name",
            "model",
            "filter_dimension",
            "filter_value",
            "dimension",
            "day",
            "value",
            "currency_code",
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "conversion_filter_counts",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("conversion_name", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("filter_dimension", sa.String(), nullable=False),
        sa.Column("filter_value", sa.String(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("conversions", sa.BigInteger(), nullable=False),
        sa.Column("unconsented", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "property_id", "conversion_name", "model", "filter_dimension", "filter_value", "day"
        ),
        sqlite_with_rowid=False,
    )
    op.execute("DELETE FROM day_total_zones")


def downgrade() -> None:
    op.drop_table("conversion_filter_counts")
    op.drop_table("conversion_filter_totals")
