"""The day and month totals on PostgreSQL: their key's text columns compared by code point
(`COLLATE "C"`, as SQLite compares them) and each page left 30% free (`fillfactor` 70), so
that the projection's upserts compare keys with memcmp instead of the database's locale and
add to a row in place (a HOT update: only the sums change, no new entry in the 7-column
key's index). The tables are rewritten; SQLite is left as it is.

Revision ID: v0010
Revises: v0009
"""

from alembic import op

revision = "v0010"
down_revision = "v0009"
branch_labels = None
depends_on = None

_TABLES = ("conversion_day_totals", "conversion_month_totals")
_KEY_TEXT = ("property_id", "conversion_name", "model", "dimension", "value", "currency_code")
FILLFACTOR = 70


def _alter(collation: str, storage: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        # The storage parameter first: the rewrite of the type change then honours it.
        op.execute(f"ALTER TABLE {table} {storage}")
        columns = ", ".join(f"ALTER COLUMN {c} TYPE VARCHAR COLLATE {collation}" for c in _KEY_TEXT)
        op.execute(f"ALTER TABLE {table} {columns}")


def upgrade() -> None:
    _alter('"C"', f"SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    _alter('"default"', "RESET (fillfactor)")
