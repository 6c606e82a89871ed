"""Test and demo support: a mock LLM upstream and a real-server runner."""

from guardgate.testing.mock_upstream import (
    create_mock_upstream,
    mock_answer_text,
    mock_reasoning_text,
    mock_summary_text,
    mock_tool_arguments,
)
from guardgate.testing.server import ServerThread, free_port

__all__ = [
    "ServerThread",
    "create_mock_upstream",
    "free_port",
    "mock_answer_text",
    "mock_reasoning_text",
    "mock_summary_text",
    "mock_tool_arguments",
]
