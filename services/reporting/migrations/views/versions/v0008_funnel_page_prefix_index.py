"""The person events' (property, kind, name, time) index orders names by code point on
PostgreSQL (text_pattern_ops), so that a funnel's page step seeks the names under its prefix
(`LIKE 'prefix%'`) instead of reading every page view and touchpoint of the property; exact
names use it as before. SQLite's index already orders names so (BINARY): it is left as it is.

Revision ID: v0008
Revises: v0007
"""

from alembic import op

revision = "v0008"
down_revision = "v0007"
branch_labels = None
depends_on = None

_INDEX = "ix_person_events_property_kind_name_time"
_COLUMNS = ["property_id", "kind", "name", "occurred_us"]


def _recreate(ops: dict[str, str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(_INDEX, table_name="person_events")
    op.create_index(_INDEX, "person_events", _COLUMNS, unique=False, postgresql_ops=ops)


def upgrade() -> None:
    _recreate({"name": "text_pattern_ops"})


def downgrade() -> None:
    _recreate({})
