"""The distribution's name, and every install line in the docs installs this project."""

from __future__ import annotations

import importlib.metadata
import re
import shlex
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "guardgate-llm"
_PIP_INSTALL = re.compile(r"pip3?\s+install\s+([^\n`#;&|]*)")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _doc_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "pyproject.toml"]
    for folder in ("examples", "docker", "docs", ".ci"):
        files += [p for p in sorted((ROOT / folder).rglob("*")) if p.is_file()]
    return files


def wrong_installs(text: str) -> list[str]:
    """The `pip install` lines of `text` that name the requirement `guardgate` (the unrelated
    PyPI project) rather than `guardgate-llm` or a path."""
    found = []
    for match in _PIP_INSTALL.finditer(text):
        try:
            words = shlex.split(match.group(1))
        except ValueError:
            words = match.group(1).split()
        for word in words:
            if word.startswith("-") or "/" in word or word.startswith("."):
                continue
            name = _NAME.match(word)
            if name and name.group(0).lower().replace("_", "-") == "guardgate":
                found.append(match.group(0).strip())
    return found


def test_the_distribution_is_guardgate_llm() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION
    installed = importlib.metadata.distribution(DISTRIBUTION)
    assert installed.metadata["Name"] == DISTRIBUTION
    scripts = {ep.name: ep.value for ep in installed.entry_points if ep.group == "console_scripts"}
    assert scripts == {"guardgate": "guardgate.cli:main"}


@pytest.mark.parametrize(
    ("line", "wrong"),
    [
        ("pip install guardgate", True),
        ("pip install 'guardgate[test]'", True),
        ("pip install -U guardgate==0.1.0 uvicorn", True),
        ("pip install guardgate-llm", False),
        ("pip install -e .", False),
        ("pip install -e '.[test]'", False),
        ("pip install /path/to/guardgate", False),
        ("pip install --no-cache-dir /wheels/*.whl", False),
    ],
)
def test_the_scan_tells_wrong_install_lines(line: str, wrong: bool) -> None:
    assert bool(wrong_installs(line)) is wrong


def test_every_install_line_in_the_docs_installs_this_project() -> None:
    wrong = {
        str(path.relative_to(ROOT)): lines
        for path in _doc_files()
        if (lines := wrong_installs(path.read_text(errors="replace")))
    }
    assert wrong == {}
