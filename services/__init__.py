"""The convtrack services (ingest, identity, attribution, reporting) and the CLI that runs them."""

SERVICES = ("ingest", "identity", "attribution", "reporting")
"""The services by name, in the order they start: upstream first."""
