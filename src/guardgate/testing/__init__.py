"""Test and demo support: a mock LLM upstream and a real-server runner."""

from guardgate.testing.server import ServerThread, free_port

__all__ = ["ServerThread", "free_port"]
