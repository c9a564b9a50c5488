"""A real ``chat serve`` process for integration tests: start, wait until ready, kill -9, restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import httpx2

# Rate limits lifted the way a load test does it (docs/operations.md); 0 disables a limit.
LOAD_TEST_ENV = {
    "CHAT_LOGIN_LIMIT_PER_ACCOUNT": "0",
    "CHAT_LOGIN_LIMIT_PER_ADDRESS": "0",
    "CHAT_REGISTER_LIMIT_PER_ADDRESS": "0",
    "CHAT_POST_LIMIT_PER_USER": "0",
    "CHAT_WS_MAX_PER_ADDRESS": "0",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        # registration open: the tests register people freely (the default is "invite")
        self.env = {**os.environ, "CHAT_ARGON2_PROFILE": "fast", "CHAT_REGISTRATION_MODE": "open", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.log_path = log_path or data_dir / "server.log"  # keep it off a volume a test fills

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws"

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._close_log()
        self._log = log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 - our own CLI with fixed arguments
            [sys.executable, "-m", "chat.cli", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx2.get(f"{self.base_url}/api/v1/openapi.json", timeout=1).status_code == 200:
                    return
            except httpx2.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log_path.read_text()[-3000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close_log()

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx2.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        kwargs.setdefault("timeout", 10)
        return httpx2.request(method, f"{self.base_url}/api/v1{path}", headers=headers, **kwargs)

    def user_with_token(self, username: str) -> tuple[int, str]:
        """Register ``username`` (the first becomes admin) and return (user id, API token)."""
        password = f"{username}-secret-pw"
        r = self.api("POST", "/users", json={"username": username, "password": password})
        assert r.status_code == 201, r.text
        user_id = int(r.json()["id"])
        with httpx2.Client(base_url=self.base_url, timeout=10) as client:
            r = client.post("/api/v1/session", json={"username": username, "password": password})
            assert r.status_code == 200, r.text
            r = client.post("/api/v1/tokens", json={"name": "test"}, headers={"Origin": self.base_url})
            assert r.status_code == 201, r.text
            return user_id, str(r.json()["token"])
