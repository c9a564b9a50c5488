"""``chat create-admin``, ``chat create-bot`` and the setup token of ``chat serve``, on a fresh SQLite data dir."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx2
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from chat.accounts.commands import Login
from chat.accounts.sessions import check_credentials
from chat.accounts.tokens import actor_for_token
from chat.cli import main as chat_cli
from chat.domain.actors import Actor
from chat.store import models
from chat.store.db import Database

SQLITE_ONLY = {"CHAT_DATABASE_URL": ""}  # the data dir's SQLite file, whatever the environment says


def run(data_dir: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(chat_cli, [*args, "--data-dir", str(data_dir)], input=input, env=SQLITE_ONLY)


def database(data_dir: Path) -> Database:
    return Database(f"sqlite+aiosqlite:///{data_dir.resolve() / 'salon.db'}")


def can_log_in(data_dir: Path, username: str, password: str) -> bool:
    async def attempt() -> bool:
        db = database(data_dir)
        try:
            async with db.read() as s:
                await check_credentials(s, Login(username=username, password=password))
            return True
        except Exception:
            return False
        finally:
            await db.dispose()

    return asyncio.run(attempt())


def users(data_dir: Path) -> list[tuple[str, str, bool]]:
    async def read() -> list[tuple[str, str, bool]]:
        db = database(data_dir)
        try:
            async with db.read() as s:
                rows = await s.execute(select(models.User.username, models.User.role, models.User.is_bot))
                return [(u, r, b) for u, r, b in rows]
        finally:
            await db.dispose()

    return asyncio.run(read())


def token_owner(data_dir: Path, token: str) -> Actor | None:
    async def read() -> Actor | None:
        db = database(data_dir)
        try:
            async with db.read() as s:
                return await actor_for_token(s, token)
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_create_admin_with_password_stdin(tmp_path: Path) -> None:
    result = run(tmp_path, "create-admin", "Root", "--password-stdin", input="correct horse battery\n")
    assert result.exit_code == 0, result.output
    assert "administrator root created" in result.output
    assert "correct horse" not in result.output
    assert users(tmp_path) == [("root", "admin", False)]
    assert can_log_in(tmp_path, "root", "correct horse battery")
    assert not can_log_in(tmp_path, "root", "wrong password")


def test_create_admin_prompts_twice(tmp_path: Path) -> None:
    result = run(tmp_path, "create-admin", "root", input="first-password\nother-password\nsecond-pw-1\nsecond-pw-1\n")
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert "second-pw-1" not in result.output  # hidden input is not echoed
    assert can_log_in(tmp_path, "root", "second-pw-1")


def test_create_admin_refuses_bad_input_and_changes_nothing(tmp_path: Path) -> None:
    assert run(tmp_path, "create-admin", "root", "--password-stdin", input="a-long-password\n").exit_code == 0
    for username, password, message in (
        ("ROOT", "a-long-password", "username_taken"),
        ("second", "short", "password_too_short"),
        ("bad name", "a-long-password", "bad_format"),
        ("second", "p" * 1_000_000, "password_too_long"),
    ):
        result = run(tmp_path, "create-admin", username, "--password-stdin", input=password + "\n")
        assert result.exit_code == 1 and message in result.output, result.output
    assert users(tmp_path) == [("root", "admin", False)]


def test_create_bot_prints_its_token_once(tmp_path: Path) -> None:
    run(tmp_path, "create-admin", "root", "--password-stdin", input="a-long-password\n")
    result = run(tmp_path, "create-bot", "deploy-bot", "--owner", "root")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("salon_") and "\n" not in token
    owner = token_owner(tmp_path, token)
    assert owner is not None and owner.username == "deploy-bot" and owner.is_bot
    assert ("deploy-bot", "member", True) in users(tmp_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create-bot", "helper", "--owner", "ghost"), "user_not_found"),
        (("create-bot", "root", "--owner", "root"), "username_taken"),
        (("create-bot", "x", "--owner", "root"), "too_short"),
    ],
)
def test_create_bot_refuses_bad_input(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    run(tmp_path, "create-admin", "root", "--password-stdin", input="a-long-password\n")
    result = run(tmp_path, *args)
    assert result.exit_code == 1 and message in result.output, result.output
    assert users(tmp_path) == [("root", "admin", False)]


def test_create_bot_needs_an_owner(tmp_path: Path) -> None:
    result = run(tmp_path, "create-bot", "helper")
    assert result.exit_code == 2 and "--owner" in result.output


@pytest.mark.parametrize("command", ["create-admin", "create-bot"])
def test_help(command: str) -> None:
    result = CliRunner().invoke(chat_cli, [command, "--help"])
    assert result.exit_code == 0 and "--data-dir" in result.output


# --- chat serve: the setup token of a server others can reach --------------------------------------


def serve_without_serving(data_dir: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[Result, Any]:
    """Run ``chat serve ARGS`` up to the point uvicorn would start; return the result and the app."""
    import uvicorn

    started: list[Any] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, *a, **k: started.append(self.config.app))
    result = run(data_dir, "serve", *args)
    assert result.exit_code == 0, result.output
    return result, started[0]


def register_first(app: Any, **body: str) -> tuple[int, dict[str, Any]]:
    async def post() -> tuple[int, dict[str, Any]]:
        transport = httpx2.ASGITransport(app=app)
        try:
            async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
                response = await client.post("/api/v1/users", json={"password": "a-long-password", **body})
                return response.status_code, response.json()
        finally:
            await app.state.services.db.dispose()

    return asyncio.run(post())


def test_serve_on_an_exposed_address_prints_a_one_time_setup_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, app = serve_without_serving(tmp_path, monkeypatch, "--host", "0.0.0.0", "--port", "8123")  # noqa: S104
    found = re.search(r"/setup\?token=(\S+)", result.output)
    assert found, result.output
    token = found.group(1)
    assert f"setup token {token}" in result.output and "chat create-admin" in result.output
    assert register_first(app, username="mallory")[1]["error"]["code"] == "setup_token_required"
    status, body = register_first(app, username="founder", setup_token=token)
    assert (status, body["role"]) == (201, "admin")
    # with an account, a restart prints no token
    again, _ = serve_without_serving(tmp_path, monkeypatch, "--host", "0.0.0.0")  # noqa: S104
    assert "token" not in again.output


def test_serve_on_loopback_prints_no_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(tmp_path, "migrate").exit_code == 0  # serve migrates in its lifespan, which does not run here
    result, app = serve_without_serving(tmp_path, monkeypatch)
    assert "token" not in result.output
    status, body = register_first(app, username="founder")
    assert (status, body["role"]) == (201, "admin")
