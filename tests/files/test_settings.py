"""The file settings: defaults, the environment, and values the server refuses to start with."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.config import Settings, SettingsError


def test_defaults_and_environment(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.upload_max_bytes == 25 * 1024 * 1024 and settings.upload_quota_bytes == 1024**3
    assert settings.upload_path == tmp_path / "uploads"
    env = {
        "CHAT_UPLOAD_MAX_BYTES": "1048576",
        "CHAT_UPLOAD_QUOTA_BYTES": "0",
        "CHAT_UPLOAD_DIR": str(tmp_path / "elsewhere"),
        "CHAT_UPLOAD_SCAN_COMMAND": "clamdscan --no-summary",
    }
    from_env = Settings.from_env(env, data_dir=tmp_path)
    assert (from_env.upload_max_bytes, from_env.upload_quota_bytes) == (1048576, 0)
    assert from_env.upload_path == tmp_path / "elsewhere"
    assert from_env.scan_argv == ["clamdscan", "--no-summary"]


@pytest.mark.parametrize(
    "bad",
    [
        {"upload_max_bytes": 0},
        {"upload_quota_bytes": -1},
        {"upload_scan_timeout_s": 0},
        {"upload_scan_command": "clamdscan 'unclosed"},
    ],
)
def test_bad_values_stop_the_server(bad: dict[str, object]) -> None:
    with pytest.raises(SettingsError):
        Settings(**bad)  # type: ignore[arg-type]
