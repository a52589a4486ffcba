"""Alembic environment of reporting's settings tables (run by services.reporting.schema)."""

from alembic import context

from services.reporting.schema import run_migrations
from services.reporting.views import settings_metadata

run_migrations(context, settings_metadata)
