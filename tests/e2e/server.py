"""A real ``chat serve`` process for browser tests: a free 127.0.0.1 port, its own data directory.

Used by the fixtures in ``conftest.py`` and by ``make_screenshots.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Rate limits lifted for the test server only (several users register and log in from 127.0.0.1).
TEST_ENV = {
    "CHAT_ARGON2_PROFILE": "fast",
    "CHAT_REGISTER_LIMIT_PER_ADDRESS": "0",
    "CHAT_REGISTRATION_MODE": "open",  # the browser tests register people freely (the default is "invite")
    "CHAT_LOGIN_LIMIT_PER_ADDRESS": "0",
    "CHAT_POST_LIMIT_PER_USER": "0",
}


def chromium_path() -> str:
    return os.environ.get("CHAT_TEST_BROWSER") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chat_command() -> list[str]:
    script = Path(sys.executable).parent / "chat"
    return [str(script)] if script.exists() else [sys.executable, "-m", "chat.cli"]


class Server:
    """``chat serve`` on 127.0.0.1:<free port> with a SQLite database in ``data_dir``."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
        self.env.update(TEST_ENV)
        self.env.update(env or {})
        self.log_path = data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        command = [*chat_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--data-dir", str(self.data_dir)]
        self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chat serve exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base}/login", timeout=2):  # noqa: S310 - our own test server
                    return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"chat serve did not answer within {timeout}s:\n{self.log_tail()}")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def restart(self, *, kill: bool = True, down_for: float = 0.0) -> None:
        self.stop(kill=kill)
        time.sleep(down_for)
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # --- the API, for setting the scene quickly ------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}/api/v1{path}", data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own test server
            raw = response.read()
        return json.loads(raw) if raw else None

    def register(self, username: str, display_name: str | None = None) -> dict[str, Any]:
        body = {
            "username": username,
            "password": password_of(username),
            "display_name": display_name or username.title(),
        }
        user: dict[str, Any] = self.api("POST", "/users", body)
        return user


def password_of(username: str) -> str:
    return f"{username}-e2e-password"


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
