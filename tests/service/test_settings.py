"""Service settings from the environment; the token key from env or file; no secret in output."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from fintwin.exceptions import ServiceConfigError
from fintwin.service.settings import (
    DecisionLaneMode,
    DegradedMode,
    ServiceSettings,
    get_settings,
)

KEY = "env-token-key-" + "q" * 32


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env file
    for name in ("TOKEN_KEY", "TOKEN_KEY_FILE", "DB_URL", "REGISTRY", "REGISTRY_DIR"):
        monkeypatch.delenv(f"FINTWIN_{name}", raising=False)


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINTWIN_TOKEN_KEY", KEY)
    monkeypatch.setenv("FINTWIN_DB_URL", "postgresql://u:s3cr3t@h/db")
    monkeypatch.setenv("FINTWIN_DEGRADED_MODE", "fail_open")
    monkeypatch.setenv("FINTWIN_RATE_LIMIT_PER_SECOND", "5.5")
    monkeypatch.setenv("FINTWIN_TOKENISE_FIELDS", '["customer_id"]')
    monkeypatch.setenv("FINTWIN_REGISTRY", "/srv/models")
    monkeypatch.setenv("FINTWIN_DECISION_LANE", "thread")
    monkeypatch.setenv("FINTWIN_ROUND_DELAY_MS", "0.5")
    s = ServiceSettings()
    assert s.decision_lane is DecisionLaneMode.THREAD and s.round_delay_ms == 0.5
    assert s.degraded_mode is DegradedMode.FAIL_OPEN
    assert s.rate_limit_per_second == 5.5
    assert s.tokenise_fields == ("customer_id",)
    assert s.registry_dir == Path("/srv/models")
    assert s.token_key_bytes() == KEY.encode()
    for text in (repr(s), str(s), s.model_dump_json()):
        assert KEY not in text and "s3cr3t" not in text


def test_token_key_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "key"
    f.write_text(KEY + "\n")
    monkeypatch.setenv("FINTWIN_TOKEN_KEY_FILE", str(f))
    s = ServiceSettings()
    assert s.token_key_bytes() == KEY.encode()
    token = s.tokeniser().token("phone", "1")
    monkeypatch.delenv("FINTWIN_TOKEN_KEY_FILE")
    assert token == ServiceSettings(token_key=KEY).tokeniser().token("phone", "1")


def test_token_key_errors_name_the_setting_not_the_value(tmp_path: Path) -> None:
    with pytest.raises(ServiceConfigError, match="no tokenisation key"):
        ServiceSettings().tokeniser()
    with pytest.raises(ServiceConfigError, match=r"FINTWIN_TOKEN_KEY: .*at least 32") as exc:
        ServiceSettings(token_key="tiny-secret").tokeniser()
    assert "tiny-secret" not in str(exc.value)
    with pytest.raises(ServiceConfigError, match="cannot be read"):
        ServiceSettings(token_key_file=tmp_path / "none").tokeniser()
    with pytest.raises(ServiceConfigError, match="not both") as exc:
        ServiceSettings(token_key=KEY, token_key_file=tmp_path / "k").tokeniser()
    assert KEY[:8] not in str(exc.value)


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINTWIN_DEGRADED_MODE", "fail_closed")
    with pytest.raises(ValidationError, match="degraded_mode"):
        ServiceSettings()
    monkeypatch.delenv("FINTWIN_DEGRADED_MODE")
    with pytest.raises(ValidationError, match="max_body_bytes"):
        ServiceSettings(max_body_bytes=10)
    with pytest.raises(ValidationError, match=r"\['card'\] are not among customer_id"):
        ServiceSettings(tokenise_fields=["card"])
    with pytest.raises(ValidationError, match="decision_lane"):
        ServiceSettings(decision_lane="threads")
    with pytest.raises(ValidationError, match="round_delay_ms"):
        ServiceSettings(round_delay_ms=-1)


def test_get_settings_names_the_variable_and_not_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINTWIN_DECISION_LANE", "threads-s3cr3t")
    monkeypatch.setenv("FINTWIN_RATE_LIMIT_BURST", "0")
    get_settings.cache_clear()
    try:
        with pytest.raises(ServiceConfigError) as caught:
            get_settings()
    finally:
        get_settings.cache_clear()
    message = str(caught.value)
    assert "FINTWIN_DECISION_LANE: Input should be 'auto', 'event_loop' or 'thread'" in message
    assert "FINTWIN_RATE_LIMIT_BURST: Input should be greater than or equal to 1" in message
    assert "s3cr3t" not in message
