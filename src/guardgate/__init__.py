"""guardgate: protects LLM APIs from distillation farms.

Mount `GuardgateMiddleware` in an ASGI app, or run `guardgate serve` as a sidecar in front of one.
"""

from guardgate.middleware import GuardgateMiddleware
from guardgate.model import (
    ApiKind,
    Decision,
    Observation,
    ReasoningPolicy,
    Tier,
    Verdict,
)
from guardgate.settings import GuardgateSettings, SettingsError, load_settings

__version__ = "0.1.0"

__all__ = [
    "ApiKind",
    "Decision",
    "GuardgateMiddleware",
    "GuardgateSettings",
    "Observation",
    "ReasoningPolicy",
    "SettingsError",
    "Tier",
    "Verdict",
    "__version__",
    "load_settings",
]
