"""Personal data taken out of URLs before ingest stores them: PII query parameters, emails."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote_plus, urlsplit, urlunsplit

REDACTED = "(redacted)"
DEFAULT_PII_QUERY_PARAMS: tuple[str, ...] = (
    "email",
    "e-mail",
    "e_mail",
    "mail",
    "email_address",
    "emailaddress",
    "phone",
    "phone_number",
    "mobile",
    "tel",
    "telephone",
    "name",
    "first_name",
    "firstname",
    "fname",
    "last_name",
    "lastname",
    "lname",
    "surname",
    "full_name",
    "fullname",
    "address",
    "street",
    "postcode",
    "postal_code",
    "zip",
    "zipcode",
    "birthdate",
    "birthday",
    "dob",
    "password",
    "passwd",
    "pwd",
    "ssn",
)

# Bounded repeats (local part at most 64 characters, labels at most 63, RFC 5321) keep a
# search linear in the text's length: URLs can be 32 KiB long.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@" + _LABEL + r"(?:\." + _LABEL + r"){0,8}"
    r"\.[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]"
)
_NAME_SEPARATORS = re.compile(r"[\[\].]+")


def holds_email(text: str) -> bool:
    """True when the text, or the text percent-decoded once or twice, holds anything that
    looks like an email address."""
    if "@" not in text and "%" not in text:
        return False
    once = unquote_plus(text)
    return any("@" in form and _EMAIL.search(form) for form in (text, once, unquote_plus(once)))


class UrlScrubber:
    """Takes personal data out of URLs: the value of every query parameter named like
    personal data (`email`, `phone`, `first_name`, ...; `user[email]` counts as `email`)
    and of every parameter, path segment or fragment part holding an email address becomes
    "(redacted)"; user names and passwords before the host are dropped. The rest of the URL
    is kept exactly as sent."""

    def __init__(self, pii_query_params: Iterable[str] = DEFAULT_PII_QUERY_PARAMS) -> None:
        self._names = frozenset(name.strip().lower() for name in pii_query_params if name.strip())

    def url(self, url: str) -> str:
        """The URL without personal data (unchanged when it holds none)."""
        if "?" not in url and "#" not in url and "@" not in url and "%" not in url:
            return url
        try:
            parts = urlsplit(url)
        except ValueError:
            return REDACTED if holds_email(url) else url
        netloc = parts.netloc.rpartition("@")[2]
        path = "/".join(REDACTED if holds_email(s) else s for s in parts.path.split("/"))
        query = self._query(parts.query)
        fragment = self._query(parts.fragment) if "=" in parts.fragment else parts.fragment
        if holds_email(fragment):
            fragment = REDACTED
        if (netloc, path, query, fragment) == (
            parts.netloc,
            parts.path,
            parts.query,
            parts.fragment,
        ):
            return url
        return urlunsplit((parts.scheme, netloc, path, query, fragment))

    def value(self, text: str) -> str:
        """A free-text value (a campaign tag, say), or "(redacted)" when it holds an email."""
        return REDACTED if holds_email(text) else text

    def _query(self, query: str) -> str:
        if not query:
            return query
        pairs = []
        for pair in query.split("&"):
            name, equals, _ = pair.partition("=")
            if self._is_pii_name(name) or holds_email(pair):
                pairs.append(f"{name}={REDACTED}" if equals and not holds_email(name) else REDACTED)
            else:
                pairs.append(pair)
        return "&".join(pairs)

    def _is_pii_name(self, name: str) -> bool:
        decoded = unquote_plus(name).strip().lower()
        if decoded in self._names:
            return True
        segments = [s for s in _NAME_SEPARATORS.split(decoded) if s]
        return bool(segments) and segments[-1] in self._names


__all__ = ["DEFAULT_PII_QUERY_PARAMS", "REDACTED", "UrlScrubber", "holds_email"]
