"""Personal data taken out of URLs before ingest stores them: PII query parameters, emails."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from services.ingest.memo import BoundedMemo

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

# Bounded repeats (local part at most 64 characters, labels at most 63 and at most 127 of
# them, RFC 5321/1034) and an atomic domain group keep a search linear in the text's length:
# URLs can be 32 KiB long. The domain's top-level label is checked in Python (see
# `_has_top_level_label`), as a pattern for it would backtrack over the whole domain.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@(?P<domain>(?>"
    + _LABEL
    + r"(?:\."
    + _LABEL
    + r"){1,126}))"
)
_TOP_LEVEL_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]")


def _has_top_level_label(domain: str) -> bool:
    """Whether a label after the first could end an address's domain (a letter, then at
    least one more character): "a@b.com" and "a@b.com.1" do, "a@1.2.3.4" does not."""
    return any(_TOP_LEVEL_LABEL.fullmatch(label) for label in domain.split(".")[1:])


def _looks_like_email(text: str) -> bool:
    return any(_has_top_level_label(m.group("domain")) for m in _EMAIL.finditer(text))


_NAME_SEPARATORS = re.compile(r"[\[\].]+")
URL_CACHE_SIZE = 4096
MAX_CACHED_URL_LENGTH = 2048


def holds_email(text: str) -> bool:
    """True when the text, or the text percent-decoded once or twice, holds anything that
    looks like an email address."""
    if "@" not in text and "%" not in text:
        return False
    once = unquote_plus(text)
    return any("@" in form and _looks_like_email(form) for form in (text, once, unquote_plus(once)))


class UrlScrubber:
    """Takes personal data out of URLs: the value of every query parameter named like
    personal data (`email`, `phone`, `first_name`, ...; `user[email]` counts as `email`)
    and of every parameter, path segment or fragment part holding an email address becomes
    "(redacted)"; user names and passwords before the host are dropped. The rest of the URL
    is kept exactly as sent."""

    def __init__(self, pii_query_params: Iterable[str] = DEFAULT_PII_QUERY_PARAMS) -> None:
        self._names = frozenset(name.strip().lower() for name in pii_query_params if name.strip())
        # Answers by input, bounded: pages, landing pages and parameter names repeat across
        # events, and scrubbing a URL with a query costs ~20x a lookup.
        self._urls = BoundedMemo(self._scrubbed_url, URL_CACHE_SIZE)
        self._pii_names = BoundedMemo(self._reads_as_pii_name, URL_CACHE_SIZE)

    def forget_remembered(self) -> None:
        """Forgets the URLs and parameter names remembered so far (URLs as sent may hold
        personal data until scrubbed)."""
        self._urls.clear()
        self._pii_names.clear()

    def remembered(self) -> int:
        """How many URLs and parameter names are remembered now."""
        return len(self._urls) + len(self._pii_names)

    def url(self, url: str) -> str:
        """The URL without personal data (unchanged when it holds none)."""
        if "?" not in url and "#" not in url and "@" not in url and "%" not in url:
            return url
        if len(url) > MAX_CACHED_URL_LENGTH:
            return self._scrubbed_url(url)
        return self._urls(url)

    def _scrubbed_url(self, url: str) -> str:
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
            if self._pii_names(name) or holds_email(pair):
                pairs.append(f"{name}={REDACTED}" if equals and not holds_email(name) else REDACTED)
            else:
                pairs.append(pair)
        return "&".join(pairs)

    def _reads_as_pii_name(self, name: str) -> bool:
        decoded = unquote_plus(name).strip().lower()
        if decoded in self._names:
            return True
        segments = [s for s in _NAME_SEPARATORS.split(decoded) if s]
        return bool(segments) and segments[-1] in self._names


__all__ = ["DEFAULT_PII_QUERY_PARAMS", "REDACTED", "UrlScrubber", "holds_email"]
