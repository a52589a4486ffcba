"""Alembic environment of one generation of reporting's views (run by
services.reporting.schema)."""

from alembic import context

from services.reporting.schema import run_migrations, unqualified_views

run_migrations(context, unqualified_views())
