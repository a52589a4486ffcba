"""Clusters (a journey's visitors) found while one upstream page is processed, kept until
something could change who belongs to them."""

from __future__ import annotations

from services.attribution.domainmodel import Visitor

ClusterKey = tuple[str, tuple[str, ...]]


class PageClusters:
    """The clusters looked up during one page, by (property, identifiers looked up).

    A cluster stays valid while no visitor is linked, no person's identifiers change and no
    probable match is added or removed (the caller forgets everything then, `clear`), and
    while no visitor is created for an identifier that was walked without one
    (`visitor_created` forgets those clusters). Touchpoints and conversions added to a
    cluster's visitors need no forgetting: they are read from the visitors themselves.
    """

    def __init__(self) -> None:
        self._found: dict[ClusterKey, list[Visitor]] = {}
        self._waiting: dict[tuple[str, str], list[ClusterKey]] = {}

    def get(self, property_id: str, identifiers: tuple[str, ...]) -> list[Visitor] | None:
        """The cluster found for these identifiers, if it is still valid."""
        return self._found.get((property_id, identifiers))

    def put(
        self,
        property_id: str,
        identifiers: tuple[str, ...],
        visitors: list[Visitor],
        without_visitor: list[str],
    ) -> None:
        """Keeps a cluster; `without_visitor` are the identifiers walked that had none."""
        key = (property_id, identifiers)
        self._found[key] = visitors
        for identifier in without_visitor:
            self._waiting.setdefault((property_id, identifier), []).append(key)

    def visitor_created(self, property_id: str, identifier: str) -> None:
        """Forgets the clusters that walked this identifier when it had no visitor."""
        for key in self._waiting.pop((property_id, identifier), ()):
            self._found.pop(key, None)

    def clear(self) -> None:
        """Forgets every cluster (membership may have changed)."""
        self._found.clear()
        self._waiting.clear()
