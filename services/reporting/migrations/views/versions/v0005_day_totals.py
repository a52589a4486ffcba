"""Fraction units on the credits and the day totals: each credit's fraction in exact
nano-conversions (`fraction_units`, filled here for every existing row, every revision), and
the tables of live credits summed per local day (`conversion_day_totals`,
`conversion_day_counts`, `day_total_zones`). The day tables start empty: reports read a
property's credits until the projection's next page of that property fills them (or a
rebuild does).

Revision ID: v0005
Revises: v0004
"""

import sqlalchemy as sa
from alembic import op

from services.reporting.fraction_units import fraction_units

revision = "v0005"
down_revision = "v0004"
branch_labels = None
depends_on = None

_FILL_BATCH = 5_000


def _fill_fraction_units() -> None:
    """Sets the fraction units of every stored credit, per conversion, model and revision, a
    batch of whole groups at a time (keyset pages in key order), so that memory stays bounded
    however many credits a generation holds."""
    conn = op.get_bind()
    credits = sa.table(
        "conversion_credits",
        sa.column("property_id"),
        sa.column("conversion_id"),
        sa.column("model"),
        sa.column("valid_from"),
        sa.column("credit_index"),
        sa.column("fraction"),
        sa.column("fraction_units"),
    )
    c = credits.c
    keys = (c.property_id, c.conversion_id, c.model, c.valid_from)
    ordered = sa.select(*keys, c.credit_index, c.fraction).order_by(*keys, c.credit_index)
    statement = (
        sa.update(credits)
        .where(
            c.property_id == sa.bindparam("p"),
            c.conversion_id == sa.bindparam("i"),
            c.model == sa.bindparam("m"),
            c.valid_from == sa.bindparam("f"),
            c.credit_index == sa.bindparam("n"),
        )
        .values(fraction_units=sa.bindparam("u"))
    )
    after: tuple[object, ...] | None = None
    while True:
        page = ordered.limit(_FILL_BATCH)
        if after is not None:
            page = page.where(sa.tuple_(*keys) > sa.tuple_(*after))
        found = [tuple(row) for row in conn.execute(page)]
        if not found:
            return
        if len(found) == _FILL_BATCH:
            last = found[-1][:4]
            whole = [row for row in found if row[:4] != last]
            found = whole or [
                tuple(row)
                for row in conn.execute(
                    ordered.where(*(k == v for k, v in zip(keys, last, strict=True)))
                )
            ]
        updates: list[dict[str, object]] = []
        start = 0
        while start < len(found):
            end = start
            while end < len(found) and found[end][:4] == found[start][:4]:
                end += 1
            group = found[start:end]
            for row, units in zip(group, fraction_units([r[5] for r in group]), strict=True):
                updates.append(dict(zip(("p", "i", "m", "f", "n"), row[:5], strict=True), u=units))
            start = end
        conn.execute(statement, updates)
        after = found[-1][:4]


def upgrade() -> None:
    with op.batch_alter_table("conversion_credits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fraction_units", sa.BigInteger(), nullable=True))
    _fill_fraction_units()
    op.create_table(
        "conversion_day_totals",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("conversion_name", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("dimension", sa.String(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
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
            "day",
            "value",
            "currency_code",
        ),
    )
    op.create_table(
        "conversion_day_counts",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("conversion_name", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("conversions", sa.BigInteger(), nullable=False),
        sa.Column("unconsented", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("property_id", "conversion_name", "model", "day"),
    )
    op.create_table(
        "day_total_zones",
        sa.Column("property_id", sa.String(), nullable=False),
        sa.Column("time_zone", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("property_id"),
    )


def downgrade() -> None:
    op.drop_table("day_total_zones")
    op.drop_table("conversion_day_counts")
    op.drop_table("conversion_day_totals")
    with op.batch_alter_table("conversion_credits", schema=None) as batch_op:
        batch_op.drop_column("fraction_units")
