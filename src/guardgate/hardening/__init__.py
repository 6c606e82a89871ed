"""Response hardening: seal hidden reasoning for multi-turn integrity; summarise reasoning."""

from guardgate.hardening.sealing import Sealer, SealError
from guardgate.hardening.summariser import (
    LLMSummariser,
    LocalSummariser,
    Summariser,
    summariser_from_settings,
)

__all__ = [
    "LLMSummariser",
    "LocalSummariser",
    "SealError",
    "Sealer",
    "Summariser",
    "summariser_from_settings",
]
