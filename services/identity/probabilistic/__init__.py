"""Probabilistic identity linkage: a Fellegi-Sunter model over weak signals, trained by EM."""

from services.identity.probabilistic.blocking import BlockingRule, block
from services.identity.probabilistic.comparisons import IP_DEVICE_LEVELS, NULL_LEVEL
from services.identity.probabilistic.config import LinkerConfig
from services.identity.probabilistic.em import (
    FellegiSunterParams,
    ProbabilisticModelError,
    expectation_maximisation,
)
from services.identity.probabilistic.linker import ProbabilisticLinker
from services.identity.probabilistic.profiles import IdentifierProfile, build_profiles
from services.identity.probabilistic.signals import device_build, ip_network, parse_user_agent
from services.identity.probabilistic.strings import (
    jaro_winkler,
    postcode_district,
    same_given_name,
    soundex,
)

__all__ = [
    "IP_DEVICE_LEVELS",
    "NULL_LEVEL",
    "BlockingRule",
    "FellegiSunterParams",
    "IdentifierProfile",
    "LinkerConfig",
    "ProbabilisticLinker",
    "ProbabilisticModelError",
    "block",
    "build_profiles",
    "device_build",
    "expectation_maximisation",
    "ip_network",
    "jaro_winkler",
    "parse_user_agent",
    "postcode_district",
    "same_given_name",
    "soundex",
]
