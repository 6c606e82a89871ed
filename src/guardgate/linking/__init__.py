"""Hydra-cluster linking: many accounts, one actor."""

from guardgate.linking.clusters import assign, components
from guardgate.linking.config import LinkingConfig
from guardgate.linking.evidence import Kind, evidence_values
from guardgate.linking.linker import Linker, Membership, ReclusterResult
from guardgate.linking.pairs import PairEvidence, PairScorer

__all__ = [
    "Kind",
    "Linker",
    "LinkingConfig",
    "Membership",
    "PairEvidence",
    "PairScorer",
    "ReclusterResult",
    "assign",
    "components",
    "evidence_values",
]
