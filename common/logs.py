"""Logging for convtrack's processes: one key=value line per record, on stderr."""

from __future__ import annotations

import logging
import os


def configure_logging(level: str | None = None) -> None:
    """Structured-ish stdlib logging for the service processes (key=value lines)."""
    logging.basicConfig(
        level=(level or os.environ.get("CONVTRACK_LOG_LEVEL", "INFO")).upper(),
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
    )
