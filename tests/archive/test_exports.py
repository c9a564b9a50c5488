"""Conversation exports: JSONL, CSV and the verifiable HTML zip; who may export; the export event;
the bundled verifier (and ``chat audit verify --export``) against a fresh bundle and tampered copies."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import httpx2
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from starlette.applications import Starlette

from chat.archive import verifier
from chat.channels.retention import redact_messages
from chat.cli import main
from chat.store import models
from chat.store.db import Database
from tests.archive.test_replay import History, build_history
from tests.channels.messaging_support import channel, count_queries, post
from tests.factories import Cast
from tests.web.authhelp import as_user

API = "/api/v1"


async def history(db: Database, cast: Cast) -> History:
    """The replay test's history; its erased body is then erased as retention does it (row, revisions, events)."""
    h = await build_history(db, cast)
    async with db.transaction() as s:
        erased = (await s.scalars(select(models.Event).where(models.Event.redacted.is_(True)))).one()
        assert erased.message_id is not None
        await redact_messages(s, [erased.message_id], models.utcnow())
    return h


async def export(
    client: httpx2.AsyncClient, app: Starlette, actor: object, conversation: int, fmt: str, **params: str
) -> httpx2.Response:
    headers = await as_user(client, app, actor)  # type: ignore[arg-type]
    return await client.get(
        f"{API}/conversations/{conversation}/export", params={"format": fmt, **params}, headers=headers
    )


async def asgi_get(app: Starlette, path: str, headers: dict[str, str]) -> tuple[dict[str, Any], list[bytes]]:
    """GET through the raw ASGI interface: the response start and every body message as sent."""
    target, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": target,
        "raw_path": target.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), *((k.lower().encode(), v.encode()) for k, v in headers.items())],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    asked: list[bool] = []

    async def receive() -> dict[str, Any]:
        if asked:  # the request was read: the client stays connected until the response ends
            await asyncio.Event().wait()
        asked.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0], [m.get("body", b"") for m in sent[1:] if m["type"] == "http.response.body"]


def lines(response: httpx2.Response) -> list[dict[str, object]]:
    return [json.loads(line) for line in response.text.splitlines()]


def unpack(data: bytes, target: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        z.extractall(target)
    return target


def verify(path: Path) -> tuple[int, str]:
    done = subprocess.run(  # noqa: S603 - our own script, run as an auditor would
        [sys.executable, "verify.py"] if path.is_dir() else [sys.executable, "-c", "0"],
        cwd=path,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, done.stdout


async def test_jsonl_has_history_tombstones_and_redactions(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    h = await history(db, cast)
    response = await export(client, app, cast.bob, h.general, "jsonl")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    records = {r["id"]: r for r in lines(response)}
    assert response.headers["x-salon-message-count"] == str(len(records))
    edited = records[h.edited]
    assert edited["body"] == "final draft" and edited["edited_at"]
    assert [r["body"] for r in edited["revisions"]] == [
        "first draft",
        "second draft",
        "final draft",
        "final draft",
        "final draft",
    ]  # type: ignore[index]
    (gone,) = [r for r in records.values() if r["deleted"]]
    assert gone["body"] == "" and gone["revisions"] == [] and gone["deleted"]["reason"] == "typo"  # type: ignore[index]
    (erased,) = [r for r in records.values() if r["redacted"]]
    assert erased["body"] == "" and erased["html"] == ""
    assert h.moved not in records  # moved to the private group


async def test_csv_has_one_row_per_message_and_no_formulas(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    await post(db, cast.bob, general, "=HYPERLINK(1)", topic="sums")
    await post(db, cast.bob, general, 'two\nlines, with "quotes"', topic="sums")
    response = await export(client, app, cast.bob, general, "csv", topic="SUMS")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["body"] for r in rows] == ["'=HYPERLINK(1)", 'two\nlines, with "quotes"']
    assert {r["topic"] for r in rows} == {"sums"} and rows[0]["author"] == "bob"


async def test_who_may_export(client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast) -> None:
    h = await history(db, cast)
    assert (await export(client, app, cast.carol, h.ops, "jsonl")).status_code == 404  # not in the group
    assert (await export(client, app, cast.gus, h.general, "jsonl")).status_code == 404  # a guest outside it
    assert (await export(client, app, cast.maya, h.ops, "jsonl")).status_code == 200  # its member
    assert (await export(client, app, cast.alice, h.ops, "jsonl")).status_code == 200  # admin, any conversation
    guests = await channel(db, cast.alice, "partners", members=[cast.gus])
    await post(db, cast.gus, guests, "hello", topic="intro")
    assert (await export(client, app, cast.gus, guests, "csv")).status_code == 200
    missing = await export(client, app, cast.alice, 999_999, "jsonl")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "conversation_not_found")
    wrong = await export(client, app, cast.bob, h.general, "pdf")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (422, "wrong_value")
    assert (await client.get(f"{API}/conversations/{h.general}/export")).status_code == 401


async def test_every_export_writes_an_event(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    h = await history(db, cast)
    await export(client, app, cast.bob, h.general, "csv", topic="other")
    response = await export(client, app, cast.alice, h.general, "html")
    assert response.status_code == 200
    async with db.read() as s:
        events = (await s.scalars(select(models.Event).where(models.Event.kind == "archive.exported"))).all()
    assert [(e.chain, e.audience, e.actor_id, e.payload["format"]) for e in events] == [
        ("system", "admins", cast.bob.id, "csv"),
        ("system", "admins", cast.alice.id, "html"),
    ]
    assert events[0].payload["topic"] == "other" and events[0].payload["conversations"] == [h.general]
    files = zipfile.ZipFile(io.BytesIO(response.content))
    assert events[1].payload["manifest_sha256"] == verifier.sha256_hex(files.read("manifest.json"))


async def test_exports_stream_in_keyset_batches(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast
) -> None:
    from bench.bulk import load_posts

    general = await channel(db, cast.alice, "general", members=[cast.bob])
    async with db.transaction() as s:
        await load_posts(s, general, [(cast.bob.id, f"t{n % 3}", f"message {n} " + "x" * 60) for n in range(5000)], {})
    headers = await as_user(client, app, cast.bob)
    with count_queries(db, threaded=True) as queries:
        start, bodies = await asgi_get(app, f"{API}/conversations/{general}/export?format=jsonl", headers)
    assert (start["status"], dict(start["headers"])[b"x-salon-message-count"]) == (200, b"5000")
    received = b"".join(bodies)
    chunks = len([b for b in bodies if b])
    ids = [json.loads(line)["id"] for line in received.splitlines()]
    assert len(ids) == 5000 and len(set(ids)) == 5000
    assert chunks > 1  # sent as it is read, not built whole
    message_reads = [  # the batches (not the count, the revisions, or the one look for messages moved away)
        q
        for q in queries
        if "FROM messages" in q and not any(w in q for w in ("count(", "message_revisions", "DISTINCT"))
    ]
    assert len(message_reads) == 12  # 3 topics of about 1,667 messages, 500 a batch: 4 batches each
    assert all("id >" in q or "id>" in q for q in message_reads)  # each batch seeks past the last one


async def test_the_bundle_opens_offline_and_verifies(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, tmp_path: Path
) -> None:
    h = await history(db, cast)
    response = await export(client, app, cast.alice, h.general, "html")
    assert response.headers["content-type"] == "application/zip"
    root = unpack(response.content, tmp_path / "bundle")
    assert {"index.html", "style.css", "messages.jsonl", "events.jsonl", "verify.py", "manifest.json"} <= {
        p.name for p in root.iterdir()
    }
    assert (root / "verify.py").read_bytes() == verifier_source()
    for page in root.rglob("*.html"):
        text = page.read_text()
        assert "default-src 'none'" in text and "<script" not in text and "style=" not in text
        assert "src=" not in text and "http://" not in text and "https://" not in text
    pages = "".join(p.read_text() for p in root.rglob("*.html"))
    assert "final draft" in pages and "typo" in pages
    code, out = verify(root)
    assert (code, out.splitlines()[0][:3]) == (0, "OK:"), out


async def test_a_guest_bundle_carries_no_deleted_text(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, tmp_path: Path
) -> None:
    h = await history(db, cast)
    response = await export(client, app, cast.bob, h.general, "html")
    root = unpack(response.content, tmp_path / "bundle")
    assert "oops" not in (root / "events.jsonl").read_text()  # carol's deleted message
    assert verify(root)[0] == 0


def files_of(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def verifier_source() -> bytes:
    return Path(verifier.__file__).read_bytes()


def _reseal(root: Path, changed: str) -> None:
    """Update the manifest for a changed file, as a forger would."""
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"][changed] = verifier.sha256_hex((root / changed).read_bytes())
    manifest["seal"] = verifier.seal(manifest)
    (root / "manifest.json").write_bytes(verifier.manifest_bytes(manifest))


@pytest.fixture
async def bundle(client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, tmp_path: Path) -> Path:
    h = await history(db, cast)
    response = await export(client, app, cast.alice, h.general, "html")
    return unpack(response.content, tmp_path / "fresh")


def _copy(bundle: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(bundle, target)
    return target


async def test_one_changed_character_in_any_file_fails(bundle: Path, tmp_path: Path) -> None:
    for n, name in enumerate(files_of(bundle)):
        copy = _copy(bundle, tmp_path / f"copy{n}")
        data = bytearray((copy / name).read_bytes())
        at = len(data) // 2
        data[at] = ord("x") if data[at] != ord("x") else ord("y")
        (copy / name).write_bytes(bytes(data))
        code, out = verify(copy) if name != "verify.py" else (verifier.main([str(copy)]), "")
        assert code == 1, (name, out)


async def test_a_removed_message_or_an_edited_event_fails_even_when_resealed(bundle: Path, tmp_path: Path) -> None:
    removed = _copy(bundle, tmp_path / "removed")
    kept = (removed / "messages.jsonl").read_text().splitlines()[1:]
    (removed / "messages.jsonl").write_text("".join(line + "\n" for line in kept))
    _reseal(removed, "messages.jsonl")
    with pytest.raises(verifier.Problem, match=r"missing from messages\.jsonl"):
        verifier.verify_bundle(removed)

    edited = _copy(bundle, tmp_path / "edited")
    events = [json.loads(line) for line in (edited / "events.jsonl").read_text().splitlines()]
    posted = next(e for e in events if e["kind"] == "message.posted")
    posted["created_at"] = posted["created_at"].replace("T", "T0")[:-1]
    (edited / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    _reseal(edited, "events.jsonl")
    with pytest.raises(verifier.Problem, match="a field was altered"):
        verifier.verify_bundle(edited)

    altered = _copy(bundle, tmp_path / "altered")
    text = (altered / "messages.jsonl").read_text().replace("final draft", "final draft!", 1)
    (altered / "messages.jsonl").write_text(text)
    _reseal(altered, "messages.jsonl")
    with pytest.raises(verifier.Problem, match="the text was altered"):
        verifier.verify_bundle(altered)


async def test_chat_audit_verify_export(bundle: Path, tmp_path: Path) -> None:
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in files_of(bundle):
            z.write(bundle / name, name)
    ok = CliRunner().invoke(main, ["audit", "verify", "--export", str(archive)])
    assert (ok.exit_code, ok.output[:3]) == (0, "OK:"), ok.output
    (bundle / "index.html").write_text((bundle / "index.html").read_text().replace("<h1>", "<h1>!", 1))
    bad = CliRunner().invoke(main, ["audit", "verify", "--export", str(bundle)])
    assert bad.exit_code == 1 and "index.html was changed" in bad.output


async def test_events_for_staff_come_sealed_to_members(
    client: httpx2.AsyncClient, app: Starlette, db: Database, cast: Cast, tmp_path: Path
) -> None:
    from chat.domain.events import append_event

    h = await history(db, cast)
    async with db.transaction() as s:  # a staff-only event in the conversation's own chain
        await append_event(
            s,
            kind="test.staff_note",
            actor_id=cast.maya.id,
            conversation_id=h.general,
            audience="staff",
            data={"note": "confidential"},
        )
    member = unpack((await export(client, app, cast.bob, h.general, "html")).content, tmp_path / "member")
    admin = unpack((await export(client, app, cast.alice, h.general, "html")).content, tmp_path / "admin")
    assert "confidential" not in (member / "events.jsonl").read_text()
    assert "confidential" in (admin / "events.jsonl").read_text()
    assert verifier.verify_bundle(member).sealed == 1
    assert verifier.verify_bundle(admin).sealed == 0
    code, out = verify(member)
    assert code == 0 and "1 events sealed" in out, out
