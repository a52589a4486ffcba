"""The convtrack services: ingest, identity, attribution and reporting, and the CLI that runs them."""
