"""Pair evidence: is the sender of this request the same actor as the accounts it shares
evidence with? Work per request is bounded: at most `sample` accounts per value are looked at,
at most `max_candidates` accounts are compared, rarest evidence first.

Weights follow rarity: a value shared by two accounts out of thousands weighs 1, a value shared by
a quarter of all active accounts (a carrier NAT, the most popular SDK build, a public app's system
prompt) weighs nothing by itself. Kinds of evidence are counted, not values, and a link needs
`min_kinds` kinds of which `min_rare_kinds` rare: so a widely shared value adds to a link only when
the two accounts are also alike in another, rarer, respect. The one exception is content alone:
accounts that share no application but many rare template sketch values, request after request
(`LinkingConfig.content_alone`), as a farm's accounts do when each has its own address, software
and parameters but all use the farm's own phrasings.

A popular agent's crowd is the other exception (`LinkingConfig.crowd_accounts`): its users share
the agent's system prompt, tool schemas and client builds, and ask it for the same kind of work,
so a value of theirs can look rare in a small deployment and still say nothing about who sent
it. When either account of a pair runs a crowd's agent, like content needs a shared address
beside it, and a shared build counts as part of the agent, not as a second kind.
"""

from __future__ import annotations

import math
from collections.abc import Container

from guardgate.linking.config import LinkingConfig
from guardgate.linking.evidence import Kind
from guardgate.records import record
from guardgate.store import Touch

# Slots of the per-candidate accumulator.
_IP, _NET, _SOFT, _APP, _TPL, _BSUM, _BN, _PRESENT = range(8)
_ROLE = {"ip": _IP, "net": _NET, "tls": _SOFT, "cli": _SOFT, "par": _SOFT, "sys": _APP}
_ROLE.update({"tool": _APP, "tpl": _TPL, "b": _BSUM})
_PRESENT_BIT = {
    _IP: 1 << Kind.NETWORK,
    _NET: 1 << Kind.NETWORK,
    _SOFT: 1 << Kind.SOFTWARE,
    _APP: 1 << Kind.APP,
    _TPL: 1 << Kind.CONTENT,
}

_APP_BIT = 1 << Kind.APP
_SOFT_BIT = 1 << Kind.SOFTWARE
_KINDS_IN = [bin(mask).count("1") for mask in range(1 << len(Kind))]


@record
class PairEvidence:
    """Why two accounts are (or are not) linked: weight per kind, and the verdict."""

    other: str
    weights: tuple[float, float, float, float]
    """Weight of each `Kind`, in `Kind` order."""
    kinds: int
    """Kinds present (common ones included)."""
    rare_kinds: int
    linked: bool
    content_only: bool = False
    """Linked on like content alone (see `LinkingConfig.content_alone`), which needs more
    confirmations than a link of independent kinds."""

    @property
    def score(self) -> float:
        """Sum of the kind weights."""
        return sum(self.weights)


class PairScorer:
    """Scores the accounts a request shares evidence with; pure, no I/O."""

    def __init__(self, config: LinkingConfig) -> None:
        self.config = config

    def rarity(self, count: int, active: int) -> float:
        """Weight of a value used by `count` accounts among `active`: 1 for a pair, falling
        with the log of its share, 0 from `common_share` or when its posting is full."""
        cfg = self.config
        if count < 2 or count >= cfg.posting_cap:
            return 0.0
        population = max(active, cfg.min_population)
        if count > cfg.common_share * population:
            return 0.0
        return min(1.0, math.log(population / count) / math.log(population / 2))

    def crowd_tools(self, touch: Touch) -> bool:
        """Whether the request's tool schemas are a crowd's (a popular agent's): used by
        `crowd_accounts` accounts or more, however small a share of the active ones. While
        fewer than `min_population` accounts are active, a proportional number suffices: a
        young deployment (or a replay's first hours) has not met the agent's crowd yet."""
        cfg = self.config
        if cfg.crowd_accounts <= 0:
            return False
        active = touch.active
        needed = max(2.0, cfg.crowd_accounts * min(1.0, active / cfg.min_population))
        return any(p.count >= needed for p in touch.postings if p.value.startswith("tool:"))

    def evaluate(
        self,
        touch: Touch,
        *,
        linked_only: bool = True,
        crowd_agent: bool = False,
        crowd: Container[str] = (),
        content: bool = True,
    ) -> list[PairEvidence]:
        """Evidence for the candidate accounts of this request (only the linked ones unless
        `linked_only` is false), strongest first. `crowd_agent`: the sender runs a crowd's
        agent (see `LinkingConfig.crowd_accounts`); `content`: false when the request's prompt
        is a public one (see `Linker`), whose wording is not compared."""
        cfg = self.config
        active = touch.active
        ranked = sorted((p for p in touch.postings if p.members), key=lambda p: (p.count, p.value))
        acc: dict[str, list[float]] = {}
        cap = cfg.max_candidates
        for posting in ranked:
            value = posting.value
            role = _ROLE[value[: value.index(":")]]
            if not content and role in (_TPL, _BSUM):
                continue
            weight = self.rarity(posting.count, active)
            for member in posting.members:
                slots = acc.get(member)
                if slots is None:
                    if len(acc) >= cap:
                        continue
                    slots = acc[member] = [0.0] * 8
                if role == _BSUM:
                    slots[_BSUM] += weight
                    slots[_BN] += 1
                else:
                    if weight > slots[role]:
                        slots[role] = weight
                    slots[_PRESENT] = float(int(slots[_PRESENT]) | _PRESENT_BIT[role])
        need = cfg.min_kinds
        min_bands = cfg.min_shared_bands
        alone_bands = cfg.content_alone_bands if cfg.content_alone > 0 else 1 << 30
        out = []
        for member, slots in acc.items():
            present = _KINDS_IN[int(slots[_PRESENT])] + (slots[_BN] >= min_bands)
            if present < need and linked_only and slots[_BN] < alone_bands:
                continue  # cheap exit: most candidates share one kind only, and little content
            evidence = self._judge(member, slots, crowd_agent or member in crowd)
            if evidence.linked or not linked_only:
                out.append(evidence)
        out.sort(key=lambda e: (-e.score, e.other))
        return out

    def _judge(self, other: str, s: list[float], crowd_agent: bool = False) -> PairEvidence:
        cfg = self.config
        present = int(s[_PRESENT])
        content = s[_TPL]
        shared_bands = int(s[_BN])
        # An application writes part of its prompts itself (wrappers, tool instructions): when
        # two accounts share the application, like content must go beyond that shared part.
        needed = cfg.min_shared_bands + (cfg.app_content_bands if s[_APP] > 0 else 0)
        if shared_bands >= needed:
            present |= 1 << Kind.CONTENT
            full = cfg.full_content_bands
            content = max(content, s[_BSUM] / shared_bands * min(1.0, shared_bands / full))
        network = max(s[_IP], 0.5 * s[_NET])
        if crowd_agent and not network:
            # A crowd's agent writes part of its users' requests, and they all ask it for the
            # same kind of work: like content between them says nothing without an address.
            present &= ~(1 << Kind.CONTENT)
            content = 0.0
        weights = (network, s[_SOFT], s[_APP], content)
        if crowd_agent and present & _APP_BIT and present & _SOFT_BIT:
            present &= ~_SOFT_BIT  # one kind: a crowd's agent ships its client build
        kinds = bin(present).count("1")
        rare = sum(1 for w in weights if w >= cfg.rare_weight)
        linked = (
            kinds >= cfg.min_kinds and rare >= cfg.min_rare_kinds and sum(weights) >= cfg.threshold
        )
        # Two accounts of one application write alike because the application does: content
        # alone links only accounts that share no application.
        content_only = (
            not linked
            and cfg.content_alone > 0
            and content >= cfg.content_alone
            and shared_bands >= cfg.content_alone_bands
            and not present & (1 << Kind.APP)
        )
        return PairEvidence(other, weights, kinds, rare, linked or content_only, content_only)
