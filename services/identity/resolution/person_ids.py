"""Person ids derived from identifiers, so that replaying a log gives the same ids."""

from __future__ import annotations

from uuid import NAMESPACE_URL, uuid5

PERSON_NAMESPACE = uuid5(NAMESPACE_URL, "https://convtrack.dev/ns/person")
SHARED_NAMESPACE = uuid5(NAMESPACE_URL, "https://convtrack.dev/ns/shared-identifier")


def person_id_for(property_id: str, first_identifier: str) -> str:
    """A new person's id, from the identifier it was first seen with (same as the service)."""
    return str(uuid5(PERSON_NAMESPACE, f"{property_id}\x1f{first_identifier}"))


def split_person_id(property_id: str, first_identifier: str, obs_id: str) -> str:
    """The id of a part split off a person, from its oldest identifier and the observation."""
    return str(uuid5(PERSON_NAMESPACE, f"{property_id}\x1f{first_identifier}\x1fsplit\x1f{obs_id}"))


def shared_person_id(property_id: str, identifier: str) -> str:
    """The id a shared identifier resolves to once detached from the person it joined."""
    return str(uuid5(SHARED_NAMESPACE, f"{property_id}\x1f{identifier}"))


__all__ = ["person_id_for", "shared_person_id", "split_person_id"]
