"""Linking settings with defaults; built from `GuardgateSettings` where it has the field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guardgate.prefixed import prefixed
from guardgate.store import StoreLimits


@dataclass(frozen=True, slots=True)
class LinkingConfig:
    """Thresholds, bounds and timings of hydra-cluster linking.

    Each field can be set by a settings field `linking_<field>` (environment variable
    `GUARDGATE_LINKING_<FIELD>`) once settings define it; until then the defaults apply.
    """

    window: float = 3 * 86400.0
    """Seconds an account's use of a fingerprint, address or template counts as evidence."""
    link_ttl: float = 7 * 86400.0
    """Seconds a link between two accounts lasts unless a later request confirms it again."""
    posting_cap: int = 512
    """Accounts remembered per evidence value; a value seen with more is treated as common."""
    sample: int = 8
    """Other accounts examined per evidence value per request (the most recent)."""
    max_candidates: int = 64
    """Most accounts compared with the sender per request (rarest evidence first)."""
    values_per_account: int = 48
    """Evidence values remembered per account (bounds memory per account)."""
    links_per_account: int = 32
    """Links remembered per account."""
    bands: int = 8
    """Template sketch values posted per request (each one a MinHash of the masked prompt)."""
    min_population: int = 500
    """Rarity is computed against at least this many active accounts, so that weights stay
    steady while a deployment (or a replay) has seen only a few accounts."""
    common_share: float = 0.25
    """A value used by more than this share of active accounts carries no weight of its own."""
    crowd_accounts: int = 20
    """Accounts from which tool schemas are a crowd's, a popular agent's (proportionally fewer
    while fewer than `min_population` accounts are active). An account runs such an agent when
    every request of it has carried tool schemas and this one a system prompt too (an agent
    sends both at every step; a person or a script sends requests with and without tools).
    When either account of a pair runs a crowd's agent, the pair is judged on what the agent
    does not fix for all its users: like content counts only beside a shared address (an agent
    writes part of its users' requests, and they all ask it for the same kind of work), and a
    client build shared beside the agent's system prompt and tools is part of one fact, not a
    second kind of evidence. A farm posing as the agent is still linked by its hosts. On
    tuning seeds 1-3 the farm posing as the popular agent shared a cluster with 51-74 of the
    agent's users at 0 (off) and with none at 20."""
    rare_weight: float = 0.35
    """Weight from which one kind of evidence counts as rare (strong) on its own."""
    min_kinds: int = 2
    """Independent kinds of evidence two accounts must share to be linked."""
    min_rare_kinds: int = 1
    """Of which this many must be rare: widely shared values count only next to rare ones."""
    threshold: float = 1.0
    """Sum of evidence weights from which two accounts are linked."""
    min_confirmations: int = 2
    """Requests that must each find a pair linked before the link is recorded."""
    min_shared_bands: int = 3
    """Template sketch values two accounts must share before their content counts as alike."""
    app_content_bands: int = 0
    """Extra shared sketch values needed when the two accounts also share an application
    (system prompt or tools), whose own wording is in every prompt it sends."""
    full_content_bands: int = 4
    """Shared template sketch values at which content evidence gets its full rarity weight;
    fewer shared values weigh proportionally less (a shared wrapper is not a shared template)."""
    content_alone: float = 0.75
    """Content weight from which two accounts that share no application (system prompt, tools)
    may be linked on content alone: a farm that varies its address, software and parameters per
    account still sends its own phrasings of its templates. 0 disables such links. On the
    simulated week, benchmark runners and farms sharing a problem's wording reach about 0.72;
    at 0.7 one evaluator joined a farm for a while and was flagged."""
    content_alone_bands: int = 5
    """Template sketch values two accounts must share for a content-only link: more than a
    shared payload (one benchmark's problem wording) gives, as a shared template does."""
    content_alone_confirmations: int = 3
    """Requests that must each find such a content-only link before it is recorded: strangers
    meet on one popular question now and then, one actor's accounts meet again and again."""
    min_link_support: float = 0.4
    """Structural similarity a link needs to join two clusters (shared neighbours over the
    geometric mean of both neighbourhoods); 0 makes clusters plain connected components."""
    recluster_interval: float = 60.0
    """Seconds (of request time) between background re-clusterings."""
    lock_ttl: float = 120.0
    """Seconds a replica holds the re-clustering lock at most."""

    @classmethod
    def from_settings(cls, settings: Any) -> LinkingConfig:
        """Defaults, overridden by `settings.linking_<field>` where such a field exists."""
        return cls(**prefixed(cls, settings, "linking"))

    @property
    def limits(self) -> StoreLimits:
        """The store bounds these settings imply."""
        return StoreLimits(
            window=self.window,
            posting_cap=self.posting_cap,
            sample=self.sample,
            values_per_account=self.values_per_account,
            link_ttl=self.link_ttl,
            links_per_account=self.links_per_account,
        )
