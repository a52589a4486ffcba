"""Formats of fields that several services accept: property ids, names, identifier lengths."""

from __future__ import annotations

import re

PROPERTY_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
PROPERTY_ID_RULE = "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
NAME_RULE = "must be 1-64 lower-case letters, digits or '_', starting with a letter"
MAX_IDENTIFIER_LENGTH = 256
