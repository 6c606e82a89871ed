"""Per-request signals: who sent a request, from where, with what software, asking what."""

from guardgate.signals.account import AccountHasher
from guardgate.signals.network import ClientAddress, ip_prefix
from guardgate.signals.observe import Observer

__all__ = ["AccountHasher", "ClientAddress", "Observer", "ip_prefix"]
