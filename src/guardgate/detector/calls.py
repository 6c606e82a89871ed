"""The admin reads and actions a server asks of its detector process: one typed message each,
answered with the value the same `Detection` method returns inline."""

from __future__ import annotations

from collections.abc import Sequence

from guardgate.records import record

__all__ = [
    "AccountActivityQuery",
    "ClusterActivityQuery",
    "ClustersQuery",
    "DetectorCall",
    "ForgetCommand",
    "LinksQuery",
    "ReclusterCommand",
]


@record
class ClustersQuery:
    """Every clustered account's cluster id (`dict[str, str]`)."""


@record
class LinksQuery:
    """Links still live after `since` (`list[Link]`)."""

    since: float


@record
class ForgetCommand:
    """Drop what the account's requests left in linking and scoring state (its key was refused
    upstream); answered with whether the account was known (`bool`)."""

    account: str


@record
class ReclusterCommand:
    """Write queued links and rebuild the clusters at request time `now` (None)."""

    now: float


@record
class ClusterActivityQuery:
    """The activity record of these clusters, all when None (`dict[str, ClusterActivity]`)."""

    clusters: Sequence[str] | None = None


@record
class AccountActivityQuery:
    """The activity record of these accounts, the flagged ones when None
    (`dict[str, AccountActivity]`)."""

    accounts: Sequence[str] | None = ()


DetectorCall = (
    ClustersQuery
    | LinksQuery
    | ForgetCommand
    | ReclusterCommand
    | ClusterActivityQuery
    | AccountActivityQuery
)
"""Every call a detector process answers."""
