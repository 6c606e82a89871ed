"""One mock upstream under a real uvicorn server, shared by the tests of this directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from guardgate.testing import ServerThread
from guardgate.testing.mock_upstream import create_mock_upstream


@pytest.fixture(scope="session")
def mock_url() -> Iterator[str]:
    """Base URL (no `/v1`) of a running mock upstream."""
    with ServerThread(create_mock_upstream()) as server:
        yield server.url
