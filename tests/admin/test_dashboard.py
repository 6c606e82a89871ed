"""The dashboard in a real headless browser finds the clusters of a simulated attack."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from tests.admin.admin_client import PREFIX, TOKEN, admin
from tests.admin.attack_traffic import Simulated

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium package (apt-get install chromium)"
)
TIER_RGB = [(0x4B, 0x8B, 0x3B), (0xD0, 0x8A, 0x00), (0xC0, 0x39, 0x2B), (0x5B, 0x23, 0x33)]


class Page(HTMLParser):
    """What the dashboard drew: cluster rows, the selected cluster, graph nodes and edges."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self.detail = ""
        self.nodes: list[str] = []
        self.edges = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and "cluster-row" in (a.get("class") or ""):
            self.rows.append(a.get("data-cluster") or "")
        elif tag == "section" and a.get("id") == "detail":
            self.detail = a.get("data-cluster") or ""
        elif tag == "circle" and a.get("class") == "node":
            self.nodes.append(a.get("data-account") or "")
        elif tag == "line" and a.get("class") == "edge":
            self.edges += 1


def chromium(url: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp / 'profile'}",
            "--window-size=1280,900",
            # Virtual time lets the page's fetches finish before the DOM or screenshot is taken.
            "--virtual-time-budget=8000",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": "disabled:"},
        check=False,
    )


def farm_cluster(url: str, sim: Simulated) -> tuple[str, set[str]]:
    """The listed cluster holding most of the hydra farm's accounts, and its members."""
    farm = sim.members_of("hydra_farm")
    with admin(url) as ops:
        best: tuple[int, str, set[str]] = (0, "", set())
        for summary in ops.get("clusters").json()["clusters"]:
            detail = ops.get(f"clusters/{summary['cluster']}").json()
            members = {m["account"] for m in detail["members"]}
            best = max(best, (len(members & farm), summary["cluster"], members))
    hits, cluster, members = best
    assert hits >= len(farm) // 2, "the farm was not linked into one cluster"
    assert hits > len(members) / 2, "the farm's cluster is mostly other accounts"
    return cluster, members


def test_dashboard_shows_the_attack_clusters(
    attacked: tuple[str, Simulated], tmp_path: Path
) -> None:
    url, sim = attacked
    cluster, members = farm_cluster(url, sim)
    page_url = f"{url}{PREFIX}/#token={TOKEN}&cluster={cluster}"
    run = chromium(page_url, tmp_path, "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    page = Page()
    page.feed(run.stdout)
    assert cluster in page.rows
    assert page.detail == cluster
    assert set(page.nodes) == members
    assert page.edges >= len(members) - 1  # a cluster is connected
    for key in sim.keys:
        assert key not in run.stdout


def _tier_pixels(png: Path) -> int:
    from PIL import Image

    with Image.open(png) as shot:
        assert shot.size == (1280, 900)
        # The graph panel: right half, below the score chart.
        graph = shot.convert("RGB").crop((680, 360, 1280, 800))
        colours = graph.getcolors(maxcolors=1 << 20) or []
    return sum(
        n
        for n, rgb in colours
        if any(all(abs(c - t) <= 8 for c, t in zip(rgb, tier, strict=True)) for tier in TIER_RGB)
    )


def test_screenshot_draws_the_graph(attacked: tuple[str, Simulated], tmp_path: Path) -> None:
    pytest.importorskip("PIL", reason="needs pillow to read the screenshot")
    url, sim = attacked
    cluster, members = farm_cluster(url, sim)
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    run = chromium(
        f"{url}{PREFIX}/#token={TOKEN}&cluster={cluster}", tmp_path, f"--screenshot={good}"
    )
    assert run.returncode == 0, run.stderr[-2000:]
    # The same page with a wrong token draws no graph: the pixels below come from the data.
    run = chromium(f"{url}{PREFIX}/#token=wrong&cluster={cluster}", tmp_path, f"--screenshot={bad}")
    assert run.returncode == 0, run.stderr[-2000:]
    drawn = _tier_pixels(good)
    assert drawn > 40 * len(members)  # every node is a disc of radius 4 px or more
    assert _tier_pixels(bad) == 0
