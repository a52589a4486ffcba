"""The generations of the report views, and which one is live (the pointer).

Revision ID: s0002
Revises: s0001
"""

import sqlalchemy as sa
from alembic import op

revision = "s0002"
down_revision = "s0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "view_generations",
        sa.Column("generation", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("swapped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("generation"),
    )


def downgrade() -> None:
    op.drop_table("view_generations")
