"""The dashboard in a real headless browser finds the clusters of a simulated attack, the lone
extractor beside them, and why the farm's accounts are linked.

`UPDATE_DASHBOARD_PNG=1` copies the screenshot to `docs/dashboard.png` (the README's)."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from tests.admin.admin_client import PREFIX, TOKEN, admin
from tests.admin.attack_traffic import LONE_KEY, Simulated
from tests.gateway import GG_SECRET

from guardgate.signals.account import AccountHasher

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium package (apt-get install chromium)"
)
TIER_RGB = [(0x4B, 0x8B, 0x3B), (0xD0, 0x8A, 0x00), (0xC0, 0x39, 0x2B), (0x5B, 0x23, 0x33)]
KIND_RGB = [(0x1F, 0x77, 0xB4), (0x8E, 0x44, 0xAD), (0x16, 0xA0, 0x85), (0xE6, 0x7E, 0x22)]
"""The colours of link evidence (network, software, app, content): graph lines and bars."""
SIZE = (1280, 1280)
DOCS_PNG = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
LONE = AccountHasher(GG_SECRET.encode()).hash(b"k:" + LONE_KEY.encode())


class Page(HTMLParser):
    """What the dashboard drew: cluster rows, the selected cluster, graph nodes and edges."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self.flagged: list[str] = []
        self.detail = ""
        self.nodes: list[str] = []
        self.edges = 0
        self.edge_kinds: list[str] = []
        self.in_evidence = False
        self.evidence_rows = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and "cluster-row" in (a.get("class") or ""):
            self.rows.append(a.get("data-cluster") or "")
        elif tag == "tr" and "flagged-row" in (a.get("class") or ""):
            self.flagged.append(a.get("data-account") or "")
        elif tag == "table":
            self.in_evidence = a.get("id") == "evidence"
        elif tag == "tr" and self.in_evidence:
            self.evidence_rows += 1
        elif tag == "section" and a.get("id") == "detail":
            self.detail = a.get("data-cluster") or ""
        elif tag == "circle" and a.get("class") == "node":
            self.nodes.append(a.get("data-account") or "")
        elif tag == "line" and a.get("class") == "edge":
            self.edges += 1
            self.edge_kinds.append(a.get("data-kind") or "")


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
            f"--window-size={SIZE[0]},{SIZE[1]}",
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
    # Every line says which kind of evidence links its two accounts most, and the table of the
    # strongest links is filled (its header row and up to 12 links).
    assert all(kind in ("network", "software", "app", "content") for kind in page.edge_kinds)
    assert page.evidence_rows >= 2
    # An account's view comes before the (folded) member list, not under dozens of rows.
    assert run.stdout.index('id="account"') < run.stdout.index('id="members"')
    assert 'id="members-box"' in run.stdout and 'id="members-box" open' not in run.stdout
    # The lone extractor, in no cluster, is listed among the flagged accounts.
    assert LONE in page.flagged
    assert LONE not in members
    for key in (*sim.keys, LONE_KEY):
        assert key not in run.stdout


def _pixels(png: Path, box: tuple[int, int, int, int], palette: list[tuple[int, int, int]]) -> int:
    """Pixels within `box` of the screenshot close to a colour of `palette`."""
    from PIL import Image

    with Image.open(png) as shot:
        assert shot.size == SIZE
        colours = shot.convert("RGB").crop(box).getcolors(maxcolors=1 << 22) or []
    return sum(
        n
        for n, rgb in colours
        if any(all(abs(c - t) <= 8 for c, t in zip(rgb, ref, strict=True)) for ref in palette)
    )


RIGHT = (SIZE[0] // 2 + 20, 0, SIZE[0], SIZE[1])
"""The cluster panel: the right half of the page."""


def _save_for_docs(png: Path) -> None:
    """Keep the screenshot small for the README: a 256-colour palette loses nothing here."""
    from PIL import Image

    with Image.open(png) as shot:
        small = shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(DOCS_PNG, optimize=True)


def test_screenshot_shows_the_farm_its_links_and_the_lone_extractor(
    attacked: tuple[str, Simulated], tmp_path: Path
) -> None:
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
    # Every node is a disc of radius 4 px or more, in its tier's colour.
    assert _pixels(good, RIGHT, TIER_RGB) > 40 * len(members)
    # The links are drawn in the colour of their evidence, and the evidence table has bars.
    assert _pixels(good, RIGHT, KIND_RGB) > 20 * len(members)
    # The flagged list (left) shows the lone extractor's red tier badge.
    assert _pixels(good, (0, 0, SIZE[0] // 2, SIZE[1] // 3), [TIER_RGB[2]]) > 100
    assert _pixels(bad, (0, 0, *SIZE), TIER_RGB + KIND_RGB) == 0
    if os.environ.get("UPDATE_DASHBOARD_PNG") == "1":
        _save_for_docs(good)
