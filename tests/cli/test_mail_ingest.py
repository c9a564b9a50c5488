"""``chat mail-ingest`` as Postfix runs it: a subprocess, the mail on standard input, the envelope
as arguments (or read from the headers), and sysexits.h exit codes with the reason on stderr."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from email import policy
from pathlib import Path

import pytest

from tests.mail.inbound.support import DOMAIN, MX, Mailroom, authentication_results, mail, mail_settings, running

BOB = "bob@example.org"
AUTH = f"Authentication-Results: {authentication_results(BOB)}\r\n"


@pytest.fixture
async def room(database_url: str, tmp_path: Path) -> AsyncIterator[Mailroom]:
    settings = mail_settings(database_url, tmp_path, smtp_listen="", mail_limit_per_sender=2)
    async with running(settings) as mailroom:
        yield mailroom


async def ingest(room: Mailroom, raw: bytes, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    environment = {
        **os.environ,
        "CHAT_DATABASE_URL": room.settings.database_url,
        "CHAT_DATA_DIR": str(room.settings.data_dir),
        "CHAT_MAIL_DOMAIN": DOMAIN,
        "CHAT_MAIL_LIMIT_PER_SENDER": "2",
        "CHAT_MAIL_TRUSTED_AUTHSERV_ID": MX,
        **(env or {}),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chat.cli",
        "mail-ingest",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(raw), 60)
    assert proc.returncode is not None
    return proc.returncode, stderr.decode()


async def test_mail_ingest_delivers_and_answers_with_sysexits_codes(room: Mailroom) -> None:
    cast = room.cast
    await room.verify(cast.bob, BOB)
    conversation = await room.channel(cast.alice, "sales", cast.bob)
    message = await room.post(cast.alice, conversation, "Q3 tender", "Numbers?")
    to = await room.reply_to(cast.bob, message)

    def raw(text: str, sender: str = f"Bob <{BOB}>", **headers: str) -> bytes:
        return mail(sender, to, "Re: Q3 tender", text, **headers).as_bytes(policy=policy.SMTP)

    empty = await room.snapshot()
    code, err = await ingest(
        room, f"{AUTH}From: {BOB}\r\nContent-Type: multipart/mixed\r\n\r\nx\r\n".encode(), "--recipient", to
    )
    assert code == 65 and "malformed" in err  # before the limits are reached: they are checked first
    assert await room.snapshot() == empty

    code, err = await ingest(room, raw("Attached below.\n\n> Numbers?\n"), "--sender", BOB, "--recipient", to)
    assert (code, err) == (0, "")
    code, _ = await ingest(room, raw("From the headers alone."))  # envelope read from From and To
    assert code == 0
    assert [m.body for m in await room.messages(conversation)] == [
        "Numbers?",
        "Attached below.",
        "From the headers alone.",
    ]
    before = await room.snapshot()

    forged = to.replace(f"r.{cast.bob.id}.", f"r.{cast.carol.id}.")
    code, err = await ingest(room, raw("x"), "--sender", BOB, "--recipient", forged)
    assert code == 67 and "signature does not match" in err
    code, err = await ingest(room, raw("x", "eve@example.net"), "--sender", "eve@example.net", "--recipient", to)
    assert code == 67 and "belongs to another account" in err
    code, err = await ingest(room, raw("x" * 5000), "--recipient", to, env={"CHAT_MAIL_MAX_BYTES": "2000"})
    assert code == 65 and "larger than 2000 bytes" in err
    code, err = await ingest(room, raw("away", Auto_Submitted="auto-replied"), "--sender", BOB, "--recipient", to)
    assert code == 0 and "dropped" in err
    code, err = await ingest(room, raw("third mail in the window"), "--sender", BOB, "--recipient", to)
    assert code == 75 and "try again later" in err  # two per sender: counted across processes
    assert await room.snapshot() == before


async def test_mail_ingest_asks_to_retry_when_the_database_is_down(room: Mailroom) -> None:
    raw = mail(BOB, f"c.abcdefgh12@{DOMAIN}", "hello", "hi").as_bytes(policy=policy.SMTP)
    down = {"CHAT_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"}
    code, err = await ingest(room, raw, "--sender", BOB, "--recipient", f"c.abcdefgh12@{DOMAIN}", env=down)
    assert code == 75 and "try again later" in err
