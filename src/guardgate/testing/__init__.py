"""Test and demo support: a mock LLM upstream, a real-server runner and a throwaway Redis."""

from guardgate.testing.mock_upstream import (
    create_mock_upstream,
    mock_answer_text,
    mock_reasoning_text,
    mock_summary_text,
    mock_tool_arguments,
)
from guardgate.testing.redis_server import RedisServer, running_redis
from guardgate.testing.server import ServerThread, free_port

__all__ = [
    "RedisServer",
    "ServerThread",
    "create_mock_upstream",
    "free_port",
    "mock_answer_text",
    "mock_reasoning_text",
    "mock_summary_text",
    "mock_tool_arguments",
    "running_redis",
]
