"""The month totals (`conversion_month_totals`, a WITHOUT ROWID table on SQLite): the day
totals summed per local month, filled here from the stored day totals (in the zone they are
in), then kept with them by the credits projection.

Revision ID: v0009
Revises: v0006
"""

import sqlalchemy as sa
from alembic import op

from services.reporting.periods import month_of_day_sql

revision = "v0009"
down_revision = "v0006"
branch_labels = None
depends_on = None

_KEYS = "property_id, conversion_name, model, dimension, {month}, value, currency_code"
_SUMS = ("credits", "fraction_units", "value_high", "value_middle", "value_low")


def upgrade() -> None:
    op.create_table(
        "conversion_month_totals",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("conversion_name", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("dimension", sa.String(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("currency_code", sa.String(), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("fraction_units", sa.BigInteger(), nullable=False),
        sa.Column("value_high", sa.BigInteger(), nullable=False),
        sa.Column("value_middle", sa.BigInteger(), nullable=False),
        sa.Column("value_low", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "property_id",
            "conversion_name",
            "model",
            "dimension",
            "month",
            "value",
            "currency_code",
        ),
        sqlite_with_rowid=False,
    )
    month = month_of_day_sql(op.get_bind().dialect.name, "day")
    keys = _KEYS.format(month=month)
    op.execute(
        f"INSERT INTO conversion_month_totals ({_KEYS.format(month='month')}, "
        f"{', '.join(_SUMS)}) SELECT {keys}, {', '.join(f'SUM({s})' for s in _SUMS)} "
        f"FROM conversion_day_totals GROUP BY {keys}"
    )


def downgrade() -> None:
    op.drop_table("conversion_month_totals")
