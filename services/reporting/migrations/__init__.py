"""Reporting's Alembic migrations: `settings` (the service's own tables) and `views` (the
tables of each generation of the report views, versioned in each generation)."""
