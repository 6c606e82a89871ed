"""Test servers on a port another worker took between the pick and the bind (tests run in
parallel workers): they move to another free port instead of failing, or of answering from the
other worker's server."""

from __future__ import annotations

import httpx
import pytest

from guardgate.testing import ServerThread
from guardgate.testing.mock_upstream import create_mock_upstream
from guardgate.testing.redis_server import RedisServer


def test_a_redis_server_whose_port_is_taken_starts_on_another() -> None:
    first = RedisServer()
    first.start()
    try:
        second = RedisServer()
        second.port = first.port  # the race: its pick was bound by another worker meanwhile
        second.start()
        try:
            assert second.port != first.port
            assert second.command(b"SET", b"k", b"2") == b"+OK"
            assert first.command(b"GET", b"k") == b"$-1"  # not the other worker's server
            # A restart after an outage keeps the port it got.
            port = second.port
            second.stop()
            second.start()
            assert second.port == port and second.command(b"GET", b"k") == b"$-1"
        finally:
            second.stop()
    finally:
        first.stop()


def test_a_server_thread_whose_port_is_taken_starts_on_another() -> None:
    with ServerThread(create_mock_upstream()) as first:
        second = ServerThread(create_mock_upstream())
        second._prepare(first.port)  # the race, as above
        with second:
            assert second.port != first.port
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            assert httpx.post(second.url + "/v1/chat/completions", json=body).status_code == 200


def test_a_redis_server_on_a_port_given_does_not_move() -> None:
    first = RedisServer()
    first.start()
    try:
        fixed = RedisServer(port=first.port)
        with pytest.raises(RuntimeError):
            fixed.start()
        assert fixed.port == first.port
    finally:
        first.stop()
