"""``POST /api/v1/uploads`` and posting with attachments: the contract, limits and bad input.

Every refusal leaves the tables (and the store) as they were.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx2
import pytest
from starlette.applications import Starlette

from chat.config import Settings
from chat.store.db import Database
from tests.channels.messaging_support import channel, events_of
from tests.factories import Cast, password_of
from tests.files.support import API, file_counts, png_bytes, png_claiming, upload, upload_id
from tests.web.authhelp import as_user


@pytest.fixture
async def bob(client: httpx2.AsyncClient, app: Starlette, cast: Cast) -> dict[str, str]:
    return await as_user(client, app, cast.bob)


def blob_path(settings: Settings, sha256: str) -> Path:
    return settings.upload_path / sha256[:2] / sha256[2:4] / sha256


async def test_an_upload_is_stored_then_attached_and_shown(
    db: Database, cast: Cast, client: httpx2.AsyncClient, app: Starlette, settings: Settings, bob: dict[str, str]
) -> None:
    data = png_bytes()
    response = await upload(client, bob, data, name="Q3 chart.png", content_type="text/html")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "name", "size", "content_type", "sha256", "url", "thumbnail_url"}
    assert (body["name"], body["size"], body["content_type"]) == ("Q3 chart.png", len(data), "image/png")
    assert body["url"] == f"/files/{body['id']}/Q3%20chart.png"
    assert body["thumbnail_url"] == f"/files/{body['id']}/thumb"
    assert blob_path(settings, body["sha256"]).read_bytes() == data  # on disk when the 201 arrived

    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    posted = await client.post(
        f"{API}/conversations/{sales}/messages",
        json={"topic": "Q3", "body": "", "nonce": "a1", "attachments": [body["id"]]},
        headers=bob,
    )
    assert posted.status_code == 201, posted.text
    (attachment,) = posted.json()["attachments"]
    assert attachment == {
        **{k: body[k] for k in ("id", "name", "size", "content_type", "sha256", "url", "thumbnail_url")},
        "width": 64,
        "height": 48,
        "pages": None,
    }
    carol = await as_user(client, app, cast.carol)
    history = await client.get(f"{API}/conversations/{sales}/messages", headers=carol)
    assert history.json()["messages"][-1]["attachments"] == [attachment]
    fetched = await client.get(attachment["url"], headers=carol)
    assert fetched.status_code == 200 and fetched.content == data
    assert fetched.headers["content-type"] == "image/png"
    assert fetched.headers["content-disposition"].startswith("inline")
    assert fetched.headers["content-security-policy"] == "sandbox; default-src 'none'"
    assert fetched.headers["x-content-type-options"] == "nosniff"
    thumb = await client.get(attachment["thumbnail_url"], headers=carol)
    assert thumb.status_code == 200 and thumb.headers["content-type"] in ("image/png", "image/jpeg")

    outsider = await as_user(client, app, cast.gus)
    hidden = await client.get(attachment["url"], headers=outsider)
    missing = await client.get(f"/files/{attachment['id'] + 1000}/x.png", headers=outsider)
    assert hidden.status_code == missing.status_code == 404 and hidden.content == missing.content


async def test_identical_files_are_stored_once(
    db: Database, client: httpx2.AsyncClient, settings: Settings, bob: dict[str, str]
) -> None:
    data = png_bytes()
    first, second = await upload_id(client, bob, data, "a.png"), await upload_id(client, bob, data, "b.png")
    assert first != second
    root = settings.upload_path
    stored = [p for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != "tmp"]
    assert len(stored) == 2  # the file and its thumbnail, once each
    assert (await file_counts(db))["uploads"] == 2


# --- limits and bad input: each refused, nothing stored ----------------------------------------

SMALL_LIMIT = 8192
REFUSE_EICAR = f'{sys.executable} -c \'import sys; sys.exit(1 if b"EICAR" in open(sys.argv[-1], "rb").read() else 0)\''


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        allowed_hosts=("testserver",),
        upload_max_bytes=SMALL_LIMIT,
        upload_quota_bytes=3 * SMALL_LIMIT,
        upload_scan_command=REFUSE_EICAR,
    )


def stored_files(settings: Settings) -> list[Path]:
    """Every file under the upload directory, temporary ones included."""
    root = settings.upload_path
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def refused(
    db: Database, settings: Settings, call: Callable[[], Awaitable[httpx2.Response]], status: int, code: str
) -> httpx2.Response:
    """``call`` is answered ``status``/``code`` and leaves the tables and the store as they were."""
    rows, files = await file_counts(db), stored_files(settings)
    response = await call()
    assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.text
    assert await file_counts(db) == rows
    assert stored_files(settings) == files
    return response


class Body:
    """A streamed request body that counts how much of it the server pulled."""

    def __init__(self, chunks: int, size: int = 1024) -> None:
        self.chunks, self.size, self.sent = chunks, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.sent += 1
            yield b"x" * self.size


async def test_too_large_is_refused_before_the_body_is_read(
    db: Database, client: httpx2.AsyncClient, settings: Settings, bob: dict[str, str]
) -> None:
    declared = Body(100)
    headers = {**bob, "Content-Type": "application/octet-stream", "Content-Length": str(100 * 1024)}
    response = await refused(
        db,
        settings,
        lambda: client.post(f"{API}/uploads?name=big.bin", content=declared, headers=headers),
        413,
        "file_too_large",
    )
    assert response.json()["error"]["limit"] == SMALL_LIMIT
    assert declared.sent == 0  # refused on the declared length alone
    undeclared = Body(100)  # chunked: no Content-Length, counted while streaming
    raw = {**bob, "Content-Type": "application/octet-stream"}
    await refused(
        db,
        settings,
        lambda: client.post(f"{API}/uploads?name=big.bin", content=undeclared, headers=raw),
        413,
        "file_too_large",
    )
    assert undeclared.sent <= SMALL_LIMIT // 1024 + 2  # cut off just past the limit, not read to the end
    multipart = png_bytes(size=(400, 400), color=(1, 2, 3)) + bytes(SMALL_LIMIT)
    await refused(db, settings, lambda: upload(client, bob, multipart), 413, "file_too_large")


class AfterTheFile(Body):
    """A chunked multipart body whose file part is small and closed, then an endless epilogue."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello\r\n--b--\r\n'
        for _ in range(self.chunks):
            self.sent += 1
            yield b"x" * self.size


async def test_a_multipart_body_is_cut_off_whatever_part_the_bytes_are_in(
    db: Database, client: httpx2.AsyncClient, settings: Settings, bob: dict[str, str]
) -> None:
    """Bytes after the file part (which the parser drops) count too: no upload request stays open for ever."""
    body = AfterTheFile(10_000)
    headers = {**bob, "Content-Type": "multipart/form-data; boundary=b"}
    await refused(
        db, settings, lambda: client.post(f"{API}/uploads", content=body, headers=headers), 413, "file_too_large"
    )
    assert body.sent < 10_000  # stopped reading, not drained to the end


async def test_bad_uploads_are_refused_and_store_nothing(
    db: Database, cast: Cast, client: httpx2.AsyncClient, settings: Settings, bob: dict[str, str]
) -> None:
    post_files = functools.partial(client.post, f"{API}/uploads", headers=bob)
    await refused(db, settings, lambda: upload(client, bob, b""), 422, "empty_file")
    await refused(db, settings, lambda: post_files(files={"other": ("a.txt", b"hello")}), 422, "missing_field")
    five = [(f"f{i}", (None, b"x")) for i in range(4)] + [("file", ("a.txt", b"hello"))]
    await refused(db, settings, lambda: post_files(files=five), 400, "too_many_parts")
    two = [("file", ("a.txt", b"hello")), ("file", ("b.txt", b"world"))]
    await refused(db, settings, lambda: post_files(files=two), 400, "too_many_files")
    await refused(
        db,
        settings,
        lambda: post_files(files=[("note", (None, b"x" * 5000)), ("file", ("a.txt", b"hi"))]),
        400,
        "part_too_large",
    )
    await refused(
        db,
        settings,
        lambda: client.post(
            f"{API}/uploads", content=b"--x\r\nnonsense", headers={**bob, "Content-Type": "multipart/form-data"}
        ),
        400,
        "bad_multipart",
    )
    await refused(
        db, settings, lambda: upload(client, bob, b"X5O!P%@AP EICAR-STANDARD-ANTIVIRUS-TEST"), 422, "file_rejected"
    )
    anonymous = lambda: client.post(f"{API}/uploads", files={"file": ("a.txt", b"hi")})  # noqa: E731
    await refused(db, settings, anonymous, 401, "not_authenticated")


async def test_the_quota_counts_the_sizes_of_ones_uploads(
    db: Database, cast: Cast, client: httpx2.AsyncClient, app: Starlette, settings: Settings, bob: dict[str, str]
) -> None:
    chunk = bytes(range(256)) * 32  # 8192 bytes of octet-stream
    ids = [await upload_id(client, bob, chunk[: 8000 - i], f"part{i}.bin") for i in range(3)]  # 23,997 of 24,576
    more = chunk[:600]
    response = await refused(db, settings, lambda: upload(client, bob, more), 422, "quota_exceeded")
    assert response.json()["error"]["quota"] == 3 * SMALL_LIMIT
    assert (await upload(client, bob, chunk[:500])).status_code == 201  # still fits
    carol = await as_user(client, app, cast.carol)  # the quota is per user
    assert (await upload(client, carol, more)).status_code == 201
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    posted = await client.post(
        f"{API}/conversations/{sales}/messages",
        json={"topic": "t", "body": "", "nonce": "q", "attachments": [ids[0]]},
        headers=bob,
    )
    assert posted.status_code == 201, posted.text
    await refused(db, settings, lambda: upload(client, bob, more), 422, "quota_exceeded")  # attached still counts
    deleted = await client.request("DELETE", f"{API}/messages/{posted.json()['id']}", json={}, headers=bob)
    assert deleted.status_code == 200, deleted.text
    assert (await upload(client, bob, more)).status_code == 201  # a deleted message's file no longer counts


async def test_a_decompression_bomb_is_refused(
    db: Database, client: httpx2.AsyncClient, settings: Settings, bob: dict[str, str], tmp_path: Path
) -> None:
    bomb = png_claiming(60_000, 60_000)  # 3.6 gigapixels announced in 70 bytes
    await refused(db, settings, lambda: upload(client, bob, bomb, "tiny.png"), 422, "image_too_large")
    just_over = png_claiming(10_000, 5_001)
    await refused(db, settings, lambda: upload(client, bob, just_over, "tiny.png"), 422, "image_too_large")


async def test_a_raw_body_upload_is_named_by_the_query(client: httpx2.AsyncClient, bob: dict[str, str]) -> None:
    response = await client.post(
        f"{API}/uploads?name=../../etc/notes%E2%80%AE.txt",
        content=b"plain words",
        headers={**bob, "Content-Type": "image/png"},
    )
    assert response.status_code == 201, response.text
    assert (response.json()["name"], response.json()["content_type"]) == ("notes.txt", "text/plain")
    assert response.json()["thumbnail_url"] is None


# --- posting with attachments -------------------------------------------------------------------


async def test_attachments_must_be_ones_own_unattached_uploads(
    db: Database, cast: Cast, client: httpx2.AsyncClient, app: Starlette, settings: Settings, bob: dict[str, str]
) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    carol = await as_user(client, app, cast.carol)
    mine, also_mine = await upload_id(client, bob, b"first file"), await upload_id(client, bob, b"second file")
    hers = await upload_id(client, carol, b"her file")
    nonces = iter(range(100))

    def post_with(attachments: list[int], body: str = "", who: dict[str, str] = bob) -> Awaitable[httpx2.Response]:
        payload = {"topic": "Q3", "body": body, "nonce": f"n{next(nonces)}", "attachments": attachments}
        return client.post(f"{API}/conversations/{sales}/messages", json=payload, headers=who)

    await refused(db, settings, lambda: post_with([hers]), 422, "attachment_not_found")
    await refused(db, settings, lambda: post_with([mine, 10**12]), 422, "attachment_not_found")
    await refused(db, settings, lambda: post_with([mine, mine]), 422, "duplicate_attachment")
    await refused(db, settings, lambda: post_with(list(range(1, 12))), 422, "too_many")
    await refused(db, settings, lambda: post_with([]), 422, "empty_body")
    await refused(db, settings, lambda: post_with(["1"]), 422, "wrong_type")  # type: ignore[list-item]

    first = await post_with([also_mine, mine], body="two files")
    assert first.status_code == 201, first.text
    assert [a["id"] for a in first.json()["attachments"]] == [also_mine, mine]  # in the order given
    await refused(db, settings, lambda: post_with([mine]), 409, "attachment_in_use")
    await refused(db, settings, lambda: post_with([hers], who=bob), 422, "attachment_not_found")
    async with db.read() as s:
        event = (await events_of(s, "message.posted"))[-1]
    shas = [a["sha256"] for a in event.payload["message"]["attachments"]]  # the audit chain covers each file
    assert shas == [a["sha256"] for a in first.json()["attachments"]]


async def test_a_cross_site_upload_with_the_session_cookie_is_refused(
    db: Database, cast: Cast, client: httpx2.AsyncClient, settings: Settings
) -> None:
    login = await client.post(f"{API}/session", json={"username": "bob", "password": password_of("bob")})
    assert login.status_code == 200
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        await refused(
            db,
            settings,
            functools.partial(client.post, f"{API}/uploads", files={"file": ("a.txt", b"hi")}, headers=headers),
            403,
            "csrf_failed",
        )
    same = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    response = await client.post(f"{API}/uploads", files={"file": ("a.txt", b"hi")}, headers=same)
    assert response.status_code == 201, response.text


async def test_a_retried_post_returns_the_stored_attachments(
    db: Database, cast: Cast, client: httpx2.AsyncClient, bob: dict[str, str]
) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    file_id = await upload_id(client, bob, png_bytes())
    payload = {"topic": "Q3", "body": "", "nonce": "r1", "attachments": [file_id]}
    first = await client.post(f"{API}/conversations/{sales}/messages", json=payload, headers=bob)
    before = await file_counts(db)
    again = await client.post(f"{API}/conversations/{sales}/messages", json=payload, headers=bob)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json() and await file_counts(db) == before
