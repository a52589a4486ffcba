"""Ingest: validates, normalises, enriches and de-duplicates events into an event-sourced log."""
