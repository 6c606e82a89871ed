"""The public surface: exports, and documentation of every setting."""

from __future__ import annotations

from pathlib import Path

import guardgate
from guardgate.settings import GuardgateSettings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_public_exports() -> None:
    assert set(guardgate.__all__) == {
        "ApiKind",
        "Decision",
        "GuardgateMiddleware",
        "GuardgateSettings",
        "Observation",
        "ReasoningPolicy",
        "SettingsError",
        "Tier",
        "Verdict",
        "__version__",
        "load_settings",
    }
    for name in guardgate.__all__:
        assert getattr(guardgate, name) is not None


def test_every_setting_is_documented_in_the_readme() -> None:
    missing = [
        f"GUARDGATE_{name.upper()}"
        for name in GuardgateSettings.model_fields
        if f"`GUARDGATE_{name.upper()}`" not in README
    ]
    assert missing == []


def test_readme_starts_with_the_two_setup_commands() -> None:
    head = README.split("\n```", 2)[1]
    assert "guardgate serve --mock-upstream" in head
    assert "python -m pytest" in head
