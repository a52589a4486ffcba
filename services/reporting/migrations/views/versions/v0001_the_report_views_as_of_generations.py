"""The report views as they were when generations began: credits, unconsented conversions,
configured models, paths and path channels and spend with every revision (`valid_from`,
`valid_to`; partial indexes of the current and of the superseded rows), the log clock,
outcome stages, sessions, the person views funnels and cohorts count (events, first
touches, retracted conversions, identity links) and the projections' positions. No release
shipped an earlier revision, so this one is the whole schema of that time.

Revision ID: v0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "v0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "configured_models",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("models", sa.JSON(), nullable=True),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_to", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("property_id", "valid_from"),
    )
    op.create_table(
        "conversion_credits",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("conversion_id", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("credit_index", sa.Integer(), nullable=False),
        sa.Column("conversion_name", sa.String(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("medium", sa.String(), nullable=False),
        sa.Column("campaign", sa.String(), nullable=False),
        sa.Column("term", sa.String(), server_default="", nullable=False),
        sa.Column("content", sa.String(), server_default="", nullable=False),
        sa.Column("device_type", sa.String(), server_default="", nullable=False),
        sa.Column("browser", sa.String(), server_default="", nullable=False),
        sa.Column("country", sa.String(), server_default="", nullable=False),
        sa.Column("landing_page", sa.String(), server_default="", nullable=False),
        sa.Column("fraction", sa.Float(), nullable=False),
        sa.Column("value_micros", sa.BigInteger(), nullable=False),
        sa.Column("currency_code", sa.String(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_to", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint(
            "property_id", "conversion_id", "model", "credit_index", "valid_from"
        ),
    )
    with op.batch_alter_table("conversion_credits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversion_credits_history",
            ["property_id", "conversion_name", "model", "occurred_at"],
            unique=False,
            sqlite_where=sa.text("valid_to IS NOT NULL"),
            postgresql_where=sa.text("valid_to IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_conversion_credits_property_model_time",
            ["property_id", "model", "occurred_at"],
            unique=False,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.create_index(
            "ix_conversion_credits_property_name_model_time",
            ["property_id", "conversion_name", "model", "occurred_at"],
            unique=False,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        # Last: without planner statistics PostgreSQL breaks equal index costs by the
        # index created later, and ending a conversion's current rows must use this one.
        batch_op.create_index(
            "ix_conversion_credits_live_conversion",
            ["property_id", "conversion_id"],
            unique=False,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )

    op.create_table(
        "conversion_path_channels",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("conversion_id", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("conversion_name", sa.String(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value_micros", sa.BigInteger(), nullable=False),
        sa.Column("last_touch", sa.Boolean(), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_to", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("property_id", "conversion_id", "channel", "valid_from"),
    )
    with op.batch_alter_table("conversion_path_channels", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversion_path_channels_history",
            ["property_id", "conversion_name", "occurred_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_conversion_path_channels_property_name_time",
            ["property_id", "conversion_name", "occurred_at"],
            unique=False,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        # Last: without planner statistics PostgreSQL breaks equal index costs by the
        # index created later, and ending a conversion's current rows must use this one.
        batch_op.create_index(
            "ix_conversion_path_channels_live_conversion",
            ["property_id", "conversion_id"],
            unique=False,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )

    op.create_table(
        "conversion_paths",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("conversion_id", sa.String(), nullable=False),
        sa.Column("conversion_name", sa.String(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value_micros", sa.BigInteger(), nullable=False),
        sa.Column("currency_code", sa.String(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("steps", sa.String(), nullable=False),
        sa.Column("collapsed_steps", sa.String(), nullable=False),
        sa.Column("touchpoints", sa.Integer(), nullable=False),
        sa.Column("first_touch_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lag_days", sa.Integer(), nullable=True),
        sa.Column("last_non_direct_channel", sa.String(), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_to", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("property_id", "conversion_id", "valid_from"),
    )
    with op.batch_alter_table("conversion_paths", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversion_paths_history",
            ["property_id", "conversion_name", "occurred_at"],
            unique=False,
            sqlite_where=sa.text("valid_to IS NOT NULL"),
            postgresql_where=sa.text("valid_to IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_conversion_paths_property_name_time",
            ["property_id", "conversion_name", "occurred_at"],
            unique=False,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        # Last: without planner statistics PostgreSQL breaks equal index costs by the
        # index created later, and ending a conversion's current rows must use this one.
        batch_op.create_index(
            "ix_conversion_paths_live_conversion",
            ["property_id", "conversion_id"],
            unique=False,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )

    op.create_table(
        "conversion_stages",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("conversion_id", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("conversion_name", sa.String(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("value_micros", sa.BigInteger(), nullable=False),
        sa.Column("currency_code", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("property_id", "conversion_id", "stage"),
    )
    with op.batch_alter_table("conversion_stages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversion_stages_property_name_time",
            ["property_id", "conversion_name", "occurred_at"],
            unique=False,
        )

    op.create_table(
        "identity_links",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("identifier", sa.String(), nullable=False),
        sa.Column("person_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("property_id", "identifier"),
    )
    with op.batch_alter_table("identity_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_identity_links_property_person", ["property_id", "person_id"], unique=False
        )

    op.create_table(
        "log_clock",
        sa.Column("upstream", sa.String(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("upstream", "position"),
    )
    with op.batch_alter_table("log_clock", schema=None) as batch_op:
        batch_op.create_index(
            "ix_log_clock_upstream_time", ["upstream", "recorded_at"], unique=False
        )

    op.create_table(
        "person_events",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("record_id", sa.String(), nullable=False),
        sa.Column("visitor", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("occurred_us", sa.BigInteger(), nullable=False),
        sa.Column("value_micros", sa.BigInteger(), nullable=False),
        sa.Column("currency_code", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("property_id", "record_id"),
    )
    with op.batch_alter_table("person_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_person_events_property_kind_name_time",
            ["property_id", "kind", "name", "occurred_us"],
            unique=False,
        )
        batch_op.create_index(
            "ix_person_events_property_visitor_kind",
            ["property_id", "visitor", "kind"],
            unique=False,
        )

    op.create_table(
        "projection_positions",
        sa.Column("consumer", sa.String(), nullable=False),
        sa.Column("upstream", sa.String(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "upstream"),
    )
    op.create_table(
        "retracted_conversions",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("conversion_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("property_id", "conversion_id"),
    )
    op.create_table(
        "session_visitors",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("visitor", sa.String(), nullable=False),
        sa.Column("current_number", sa.Integer(), nullable=False),
        sa.Column("session_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("property_id", "visitor"),
    )
    op.create_table(
        "sessions",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("visitor", sa.String(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("medium", sa.String(), nullable=False),
        sa.Column("campaign", sa.String(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("property_id", "visitor", "number"),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sessions_property_start", ["property_id", "started_at"], unique=False
        )

    op.create_table(
        "spend",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("day", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("medium", sa.String(), nullable=False),
        sa.Column("campaign", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("currency_code", sa.String(), nullable=False),
        sa.Column("original_cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("original_currency_code", sa.String(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_to", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("property_id", "day", "source", "medium", "campaign", "valid_from"),
    )
    op.create_table(
        "unconsented_conversions",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("conversion_id", sa.String(), nullable=False),
        sa.Column("conversion_name", sa.String(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_to", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("property_id", "conversion_id", "valid_from"),
    )
    op.create_table(
        "visitor_first_touches",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("visitor", sa.String(), nullable=False),
        sa.Column("occurred_us", sa.BigInteger(), nullable=False),
        sa.Column("record_id", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("property_id", "visitor"),
    )
    with op.batch_alter_table("visitor_first_touches", schema=None) as batch_op:
        batch_op.create_index(
            "ix_visitor_first_touches_property_time", ["property_id", "occurred_us"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("visitor_first_touches", schema=None) as batch_op:
        batch_op.drop_index("ix_visitor_first_touches_property_time")

    op.drop_table("visitor_first_touches")
    op.drop_table("unconsented_conversions")
    op.drop_table("spend")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_property_start")

    op.drop_table("sessions")
    op.drop_table("session_visitors")
    op.drop_table("retracted_conversions")
    op.drop_table("projection_positions")
    with op.batch_alter_table("person_events", schema=None) as batch_op:
        batch_op.drop_index("ix_person_events_property_visitor_kind")
        batch_op.drop_index("ix_person_events_property_kind_name_time")

    op.drop_table("person_events")
    with op.batch_alter_table("log_clock", schema=None) as batch_op:
        batch_op.drop_index("ix_log_clock_upstream_time")

    op.drop_table("log_clock")
    with op.batch_alter_table("identity_links", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_links_property_person")

    op.drop_table("identity_links")
    with op.batch_alter_table("conversion_stages", schema=None) as batch_op:
        batch_op.drop_index("ix_conversion_stages_property_name_time")

    op.drop_table("conversion_stages")
    with op.batch_alter_table("conversion_paths", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_conversion_paths_property_name_time",
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.drop_index(
            "ix_conversion_paths_live_conversion",
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.drop_index(
            "ix_conversion_paths_history",
            sqlite_where=sa.text("valid_to IS NOT NULL"),
            postgresql_where=sa.text("valid_to IS NOT NULL"),
        )

    op.drop_table("conversion_paths")
    with op.batch_alter_table("conversion_path_channels", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_conversion_path_channels_property_name_time",
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.drop_index(
            "ix_conversion_path_channels_live_conversion",
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.drop_index("ix_conversion_path_channels_history")

    op.drop_table("conversion_path_channels")
    with op.batch_alter_table("conversion_credits", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_conversion_credits_property_name_model_time",
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.drop_index(
            "ix_conversion_credits_property_model_time",
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.drop_index(
            "ix_conversion_credits_live_conversion",
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.drop_index(
            "ix_conversion_credits_history",
            sqlite_where=sa.text("valid_to IS NOT NULL"),
            postgresql_where=sa.text("valid_to IS NOT NULL"),
        )

    op.drop_table("conversion_credits")
    op.drop_table("configured_models")
