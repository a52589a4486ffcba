"""The live cohort summary: each person's first touch (`cohort_persons`) and conversions
(`cohort_conversions`), their sums per first-touch day, channel and period (`cohort_totals`)
and the zone the sums are in (`cohort_zones`); and an index of the conversions among the
person events by time, for the newest conversion every cohort and funnel answer reports. The
tables start empty: cohorts read the person views for a property until the projections' next
page of that property fills its summary (or a rebuild does).

Revision ID: v0007
Revises: v0006
"""

import sqlalchemy as sa
from alembic import op

revision = "v0007"
down_revision = "v0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cohort_persons",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("person_id", sa.String(), nullable=False),
        sa.Column("first_us", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("property_id", "person_id"),
    )
    op.create_index(
        "ix_cohort_persons_property_first", "cohort_persons", ["property_id", "first_us"]
    )
    op.create_table(
        "cohort_conversions",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("person_id", sa.String(), nullable=False),
        sa.Column("record_id", sa.String(), nullable=False),
        sa.Column("conversion_name", sa.String(), nullable=False),
        sa.Column("occurred_us", sa.BigInteger(), nullable=False),
        sa.Column("value_micros", sa.BigInteger(), nullable=False),
        sa.Column("currency_code", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("property_id", "person_id", "record_id"),
    )
    op.create_table(
        "cohort_totals",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("interval", sa.String(), nullable=False),
        sa.Column("first_day", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("conversion_name", sa.String(), nullable=False),
        sa.Column("currency_code", sa.String(), nullable=False),
        sa.Column("persons", sa.BigInteger(), nullable=False),
        sa.Column("conversions", sa.BigInteger(), nullable=False),
        sa.Column("value_high", sa.BigInteger(), nullable=False),
        sa.Column("value_middle", sa.BigInteger(), nullable=False),
        sa.Column("value_low", sa.BigInteger(), nullable=False),
        sa.Column("converted", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "property_id",
            "interval",
            "first_day",
            "channel",
            "period",
            "conversion_name",
            "currency_code",
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_person_events_property_conversion_time",
        "person_events",
        ["property_id", "occurred_us"],
        sqlite_where=sa.text("kind = 'conversion' AND valid_to IS NULL"),
        postgresql_where=sa.text("(kind)::text = 'conversion'::text AND valid_to IS NULL"),
    )
    op.create_table(
        "cohort_zones",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("time_zone", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("property_id"),
    )


def downgrade() -> None:
    op.drop_index("ix_person_events_property_conversion_time", table_name="person_events")
    op.drop_table("cohort_zones")
    op.drop_table("cohort_totals")
    op.drop_table("cohort_conversions")
    op.drop_index("ix_cohort_persons_property_first", table_name="cohort_persons")
    op.drop_table("cohort_persons")
