from __future__ import annotations

import ipaddress
import logging

import pytest

from guardgate.cli import main
from guardgate.model import Mode, ReasoningPolicy, Tier
from guardgate.settings import SettingsError, load_settings


def test_defaults_without_environment() -> None:
    settings = load_settings()
    assert settings.redis_url is None
    assert settings.mode is Mode.ENFORCE
    assert settings.trusted_proxies == []
    assert settings.reasoning_policy_for(Tier.NORMAL) is ReasoningPolicy.PASS
    assert settings.reasoning_policy_for(Tier.SUSPECT) is ReasoningPolicy.SUMMARISE
    assert settings.reasoning_policy_for(Tier.EXTRACTOR) is ReasoningPolicy.STRIP


def test_values_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDGATE_UPSTREAM_URL", "http://upstream:9000/")
    monkeypatch.setenv("GUARDGATE_REDIS_URL", "redis://r:6379/0")
    monkeypatch.setenv("GUARDGATE_TRUSTED_PROXIES", "10.0.0.0/8, 2001:db8::/32")
    monkeypatch.setenv("GUARDGATE_MODE", "shadow")
    monkeypatch.setenv("GUARDGATE_ADMIN_TOKEN", "tok")
    monkeypatch.setenv("GUARDGATE_PATH_PREFIX", "/openai/")
    settings = load_settings()
    assert settings.upstream_url == "http://upstream:9000"
    assert settings.redis_url == "redis://r:6379/0"
    assert settings.trusted_proxies == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("2001:db8::/32"),
    ]
    assert settings.mode is Mode.SHADOW
    assert settings.admin_token is not None and settings.admin_token.get_secret_value() == "tok"
    assert settings.path_prefix == "/openai"


def test_empty_redis_url_means_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDGATE_REDIS_URL", "")
    assert load_settings().redis_url is None


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("GUARDGATE_MODE", "loud", "GUARDGATE_MODE"),
        ("GUARDGATE_TRUSTED_PROXIES", "10.0.0.0/8,not-a-cidr", "GUARDGATE_TRUSTED_PROXIES"),
        ("GUARDGATE_UPSTREAM_URL", "ftp://x", "GUARDGATE_UPSTREAM_URL"),
        ("GUARDGATE_REDIS_URL", "mysql://x", "GUARDGATE_REDIS_URL"),
        ("GUARDGATE_REASONING_POLICY_NORMAL", "hide", "GUARDGATE_REASONING_POLICY_NORMAL"),
        ("GUARDGATE_MAX_BODY_BYTES", "lots", "GUARDGATE_MAX_BODY_BYTES"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert expected in str(info.value)


def test_allowed_values_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDGATE_MODE", "loud")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "'enforce'" in str(info.value) and "'shadow'" in str(info.value)


def test_secret_value_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDGATE_MODE", "loud")
    monkeypatch.setenv("GUARDGATE_ADMIN_TOKEN", "")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "test-secret" not in str(info.value)


def test_missing_secret_warns_and_is_random(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("GUARDGATE_SECRET")
    with caplog.at_level(logging.WARNING, logger="guardgate"):
        first = load_settings()
        second = load_settings()
    assert "GUARDGATE_SECRET is not set" in caplog.text
    assert first.secret_bytes != second.secret_bytes
    assert len(first.secret_bytes) >= 32


def test_cli_reports_bad_settings_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GUARDGATE_MODE", "loud")
    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "GUARDGATE_MODE" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("GUARDGATE_SCORING_WEIGHTS", "harvset=2", "GUARDGATE_SCORING_WEIGHTS"),
        ("GUARDGATE_SCORING_WEIGHTS", "harvest=lots", "GUARDGATE_SCORING_WEIGHTS"),
        ("GUARDGATE_SCORING_SUSPECT_EXIT", "0.9", "GUARDGATE_SCORING_SUSPECT_EXIT"),
        ("GUARDGATE_SCORING_EXTRACTOR_ENTER", "0.5", "GUARDGATE_SCORING_EXTRACTOR_ENTER"),
        ("GUARDGATE_METRICS_PATH", "metrics", "GUARDGATE_METRICS_PATH"),
    ],
)
def test_cli_reports_inconsistent_settings_in_one_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    named: str,
) -> None:
    monkeypatch.setenv(name, value)
    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_misspelt_weight_gets_the_closest_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDGATE_SCORING_WEIGHTS", "harvset=2")
    with pytest.raises(SettingsError, match="did you mean 'harvest'"):
        load_settings()


def test_valid_weights_and_ordered_thresholds_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDGATE_SCORING_WEIGHTS", "harvest=2, elicit=0.5")
    monkeypatch.setenv("GUARDGATE_SCORING_SUSPECT_ENTER", "0.7")
    monkeypatch.setenv("GUARDGATE_SCORING_SUSPECT_EXIT", "0.5")
    monkeypatch.setenv("GUARDGATE_METRICS_PATH", "/metrics")
    settings = load_settings()
    assert settings.scoring_suspect_exit == 0.5
    assert settings.metrics_path == "/metrics"


def test_unknown_variable_is_named_with_the_closest_setting(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GUARDGATE_MODOE", "shadow")
    monkeypatch.setenv("GUARDGATE_NOTHING_LIKE_IT", "1")
    with caplog.at_level(logging.WARNING, logger="guardgate"):
        settings = load_settings()
    assert settings.mode is Mode.ENFORCE
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("GUARDGATE_MODOE" in w and "GUARDGATE_MODE" in w.split("mean")[-1] for w in warnings)
    assert any("GUARDGATE_NOTHING_LIKE_IT" in w for w in warnings)
    assert not any("GUARDGATE_SECRET" in w for w in warnings)


def test_middleware_raises_settings_error_on_inconsistent_thresholds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from guardgate import GuardgateMiddleware

    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("not reached")

    monkeypatch.setenv("GUARDGATE_SCORING_EXTRACTOR_EXIT", "0.95")
    with pytest.raises(SettingsError, match="GUARDGATE_SCORING_EXTRACTOR_EXIT"):
        GuardgateMiddleware(app)
