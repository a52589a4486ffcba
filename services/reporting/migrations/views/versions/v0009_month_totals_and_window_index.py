"""The month totals (`conversion_month_totals`, a WITHOUT ROWID table on SQLite): the day
totals summed per local month, filled here from the stored day totals (in the zone they are
in), then kept with them by the credits projection. And the live credits' window index
(`ix_conversion_credits_live_window`: the report's key, then every column a report reads)
in place of the (property, name, model, time) one it extends.

Revision ID: v0009
Revises: v0008
"""

import sqlalchemy as sa
from alembic import op

from services.reporting.periods import month_of_day_sql

revision = "v0009"
down_revision = "v0008"
branch_labels = None
depends_on = None

_KEYS = "property_id, conversion_name, model, dimension, {month}, value, currency_code"
_WINDOW_COLUMNS = [
    "property_id", "conversion_name", "model", "occurred_at", "channel", "source", "medium",
    "campaign", "term", "content", "device_type", "browser", "country", "landing_page",
    "conversion_id", "fraction_units", "value_micros", "currency_code",
]  # fmt: skip
_NARROW_COLUMNS = ["property_id", "conversion_name", "model", "occurred_at"]
_SUMS = ("credits", "fraction_units", "value_high", "value_middle", "value_low")


def _create_live_index(name: str, columns: list[str]) -> None:
    op.create_index(
        name,
        "conversion_credits",
        columns,
        sqlite_where=sa.text("valid_to IS NULL"),
        postgresql_where=sa.text("valid_to IS NULL"),
    )


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

    # Plain CREATE/DROP INDEX: a batch operation would copy the credits table on SQLite.
    _create_live_index("ix_conversion_credits_live_window", _WINDOW_COLUMNS)
    op.drop_index("ix_conversion_credits_property_name_model_time", "conversion_credits")


def downgrade() -> None:
    _create_live_index("ix_conversion_credits_property_name_model_time", _NARROW_COLUMNS)
    op.drop_index("ix_conversion_credits_live_window", "conversion_credits")
    op.drop_table("conversion_month_totals")
