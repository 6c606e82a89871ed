"""The admin API is off without a token, and answers only to the right bearer token."""

from __future__ import annotations

import httpx
import pytest
from tests.admin.admin_client import PREFIX, TOKEN, admin
from tests.gateway import running_mock, running_sidecar


@pytest.fixture(scope="module")
def upstream() -> object:
    with running_mock() as mock:
        yield mock


def test_disabled_without_a_token(upstream: object) -> None:
    with running_sidecar(upstream.url) as gate:  # type: ignore[attr-defined]
        for path in ("/", "/api/clusters", "/static/dashboard.js"):
            res = httpx.get(gate.url + PREFIX + path, headers={"authorization": "Bearer x"})
            assert res.status_code == 404, path
        # Nothing under the prefix reaches the upstream either.
        res = httpx.put(gate.url + PREFIX + "/api/overrides/account/a", json={"tier": "blocked"})
        assert res.status_code == 404


def test_token_required_and_checked(upstream: object) -> None:
    with running_sidecar(upstream.url, admin_token=TOKEN) as gate:  # type: ignore[attr-defined]
        url = gate.url + PREFIX + "/api/clusters"
        missing = httpx.get(url)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith("Bearer")
        for wrong in (
            "Bearer " + "x" * len(TOKEN),
            "Bearer " + TOKEN[:-1],
            TOKEN,
            "Basic " + TOKEN,
        ):
            assert httpx.get(url, headers={"authorization": wrong}).status_code == 401, wrong
        with admin(gate.url) as client:
            ok = client.get("clusters")
        assert ok.status_code == 200
        assert ok.json()["clusters"] == []
        assert ok.headers["cache-control"] == "no-store"


def test_dashboard_served_without_data(upstream: object) -> None:
    with running_sidecar(upstream.url, admin_token=TOKEN) as gate:  # type: ignore[attr-defined]
        page = httpx.get(gate.url + PREFIX + "/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert 'src="static/dashboard.js"' in page.text
        # No external resource: the machine running it may be offline.
        assert "http://" not in page.text.replace("http://www.w3.org", "")
        assert "https://" not in page.text
        bare = httpx.get(gate.url + PREFIX, follow_redirects=True)
        assert bare.url.path == PREFIX + "/"
        script = httpx.get(gate.url + PREFIX + "/static/dashboard.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert "https://" not in script.text
        assert httpx.get(gate.url + PREFIX + "/static/../app.py").status_code == 404
        assert httpx.get(gate.url + PREFIX + "/static/secret.txt").status_code == 404


def test_custom_prefix(upstream: object) -> None:
    with running_sidecar(
        upstream.url,  # type: ignore[attr-defined]
        admin_token=TOKEN,
        admin_prefix="/ops/guard/",
    ) as gate:
        headers = {"authorization": f"Bearer {TOKEN}"}
        assert httpx.get(gate.url + "/ops/guard/api/overrides", headers=headers).json() == {
            "overrides": []
        }
        # The default prefix is now an ordinary path, forwarded to the upstream (which 404s).
        assert httpx.get(gate.url + PREFIX + "/api/overrides", headers=headers).status_code == 404
