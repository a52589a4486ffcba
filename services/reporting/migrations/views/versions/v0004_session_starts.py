"""Sessions' start times kept per revision (`session_starts`), so that the conversion rate
report can be asked as of a past moment. Sessions of an existing generation start from
position 0.

Revision ID: v0004
Revises: v0003
"""

import sqlalchemy as sa
from alembic import op

revision = "v0004"
down_revision = "v0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_starts",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("visitor", sa.String(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_to", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("property_id", "visitor", "number", "valid_from"),
    )
    with op.batch_alter_table("session_starts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_session_starts_property_start", ["property_id", "started_at"], unique=False
        )
    op.execute(
        "INSERT INTO session_starts (property_id, visitor, number, started_at, valid_from, "
        "valid_to) SELECT property_id, visitor, number, started_at, 0, NULL FROM sessions"
    )


def downgrade() -> None:
    with op.batch_alter_table("session_starts", schema=None) as batch_op:
        batch_op.drop_index("ix_session_starts_property_start")
    op.drop_table("session_starts")
