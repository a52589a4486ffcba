"""The convtrack services (ingest, identity, attribution, reporting) and the CLI that runs them."""
