"""The guarded identity resolver: rules, decisions, the state they fold into, the decider."""

from services.identity.resolution.decider import (
    decide,
    decide_forget,
    decide_split,
    decide_unlink,
)
from services.identity.resolution.decisions import (
    Decision,
    Evidence,
    IdentifierMarkedShared,
    IdentifiersLinked,
    MergeRefused,
    ObservationIgnored,
    PersonCreated,
    PersonForgotten,
    PersonsMerged,
    PersonSplit,
    ProbabilisticLinkAdded,
    ProbabilisticLinkRemoved,
    decision_from_dict,
    decision_to_dict,
)
from services.identity.resolution.errors import ResolutionError
from services.identity.resolution.person_ids import shared_person_id
from services.identity.resolution.probabilistic_links import (
    accepted_links,
    blended_identifiers,
    decide_matching,
    decide_revalidation,
    probabilistic_clusters,
)
from services.identity.resolution.rules import (
    DEFAULT_KINDS,
    IdentityRules,
    KindRule,
    kind_of,
    rules_from_dict,
    rules_to_dict,
)
from services.identity.resolution.state import ResolutionState

__all__ = [
    "DEFAULT_KINDS",
    "Decision",
    "Evidence",
    "IdentifierMarkedShared",
    "IdentifiersLinked",
    "IdentityRules",
    "KindRule",
    "MergeRefused",
    "ObservationIgnored",
    "PersonCreated",
    "PersonForgotten",
    "PersonSplit",
    "PersonsMerged",
    "ProbabilisticLinkAdded",
    "ProbabilisticLinkRemoved",
    "ResolutionError",
    "ResolutionState",
    "accepted_links",
    "blended_identifiers",
    "decide",
    "decide_forget",
    "decide_matching",
    "decide_revalidation",
    "decide_split",
    "decide_unlink",
    "decision_from_dict",
    "decision_to_dict",
    "kind_of",
    "probabilistic_clusters",
    "rules_from_dict",
    "rules_to_dict",
    "shared_person_id",
]
