"""Code shared by the convtrack services: storage, logs, servers, settings, telemetry."""
