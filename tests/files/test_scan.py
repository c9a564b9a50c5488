"""The scan command: run without a shell on the file's path; only a clean exit accepts the file."""

from __future__ import annotations

import sys
from pathlib import Path

from chat.config import Settings
from chat.files.scan import scan_accepts

CHECK = "import sys; sys.exit(1 if b'EICAR' in open(sys.argv[-1], 'rb').read() else 0)"


async def test_the_exit_status_decides(tmp_path: Path) -> None:
    clean, infected = tmp_path / "clean.txt", tmp_path / "bad; rm -rf ~.txt"
    clean.write_bytes(b"hello")
    infected.write_bytes(b"X5O EICAR test")
    argv = [sys.executable, "-c", CHECK]
    assert await scan_accepts(argv, clean, 30) is True
    assert await scan_accepts(argv, infected, 30) is False  # the odd name reaches the command as one argument
    assert await scan_accepts([], infected, 30) is True  # no scan configured
    assert await scan_accepts([str(tmp_path / "no-such-scanner")], clean, 30) is False  # cannot start: refused


def test_the_setting_is_split_like_a_shell_would_without_running_one() -> None:
    settings = Settings(upload_scan_command="clamdscan --no-summary --config-file='/etc/my clam.conf'")
    assert settings.scan_argv == ["clamdscan", "--no-summary", "--config-file=/etc/my clam.conf"]
    assert Settings().scan_argv == []
