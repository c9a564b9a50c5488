"""``GET /api/v1/conversations/{id}/files``: the Files view of a conversation, for its readers only."""

from __future__ import annotations

import httpx2
from starlette.applications import Starlette

from chat.channels.commands import CreateConversation
from chat.channels.conversations import create_conversation
from chat.channels.message_commands import DeleteMessage, UpdateTopic
from chat.channels.messages import delete_message
from chat.channels.topics import update_topic
from chat.store.db import Database
from tests.channels.messaging_support import channel, post
from tests.factories import Cast
from tests.files.posting import PDF, TEXT, post_files
from tests.files.support import png_bytes
from tests.web.authhelp import as_user

API = "/api/v1"


async def files_of(client: httpx2.AsyncClient, auth: dict[str, str], cid: int, **params: int) -> httpx2.Response:
    return await client.get(f"{API}/conversations/{cid}/files", params=params, headers=auth)


async def test_lists_files_newest_first_with_uploader_date_and_topic(
    db: Database, cast: Cast, client: httpx2.AsyncClient, app: Starlette
) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    first = await post_files(db, cast.bob, sales, [("tender-Q3.pdf", PDF)], body="the tender", topic="Q3")
    await post(db, cast.carol, sales, "no file here", topic="Q3")
    second = await post_files(db, cast.carol, sales, [("chart.png", png_bytes()), ("notes.txt", TEXT)], topic="misc")
    response = await files_of(client, await as_user(client, app, cast.carol), sales)
    assert response.status_code == 200, response.text
    page = response.json()
    assert (page["has_more"], page["next_before"]) == (False, None)
    assert [(f["message"], f["attachment"]["name"], f["topic"]) for f in page["files"]] == [
        (second.id, "chart.png", "misc"),
        (second.id, "notes.txt", "misc"),
        (first.id, "tender-Q3.pdf", "Q3"),
    ]
    newest = page["files"][0]
    assert newest["uploader"] == {"id": cast.carol.id, "username": "carol", "display_name": "Carol"}
    assert newest["posted_at"] == second.created_at.isoformat()
    history = await client.get(f"{API}/conversations/{sales}/messages", headers=await as_user(client, app, cast.bob))
    by_id = {m["id"]: m for m in history.json()["messages"]}
    assert newest["attachment"] == by_id[second.id]["attachments"][0]  # the attachment JSON of the message


async def test_pages_never_split_a_message(
    db: Database, cast: Cast, client: httpx2.AsyncClient, app: Starlette
) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    posted = [await post_files(db, cast.bob, sales, [(f"f{i}-{j}.pdf", PDF) for j in range(2)]) for i in range(3)]
    bob = await as_user(client, app, cast.bob)
    one = (await files_of(client, bob, sales, limit=3)).json()
    assert [f["message"] for f in one["files"]] == [posted[2].id] * 2 + [posted[1].id] * 2  # the 2nd message whole
    assert (one["has_more"], one["next_before"]) == (True, posted[1].id)
    two = (await files_of(client, bob, sales, limit=3, before=one["next_before"])).json()
    assert [f["attachment"]["name"] for f in two["files"]] == ["f0-0.pdf", "f0-1.pdf"]
    assert (two["has_more"], two["next_before"]) == (False, None)
    tiny = (await files_of(client, bob, sales, limit=1)).json()
    assert len(tiny["files"]) == 2 and tiny["next_before"] == posted[2].id


async def test_deleted_and_moved_away_files_are_not_listed(
    db: Database, cast: Cast, client: httpx2.AsyncClient, app: Starlette
) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    hidden = await channel(db, cast.alice, "board", kind="private", members=[cast.bob])
    gone = await post_files(db, cast.bob, sales, [("gone.pdf", PDF)])
    moving = await post_files(db, cast.bob, sales, [("moving.pdf", PDF)], topic="secret")
    kept = await post_files(db, cast.bob, sales, [("kept.pdf", PDF)])
    async with db.transaction() as s:
        await delete_message(s, cast.bob, gone.id, DeleteMessage(reason="wrong file"))
    async with db.transaction() as s:
        await update_topic(s, cast.alice, sales, UpdateTopic(topic="secret", move_to_conversation=hidden))
    carol = await as_user(client, app, cast.carol)
    assert [f["message"] for f in (await files_of(client, carol, sales)).json()["files"]] == [kept.id]
    bob = await as_user(client, app, cast.bob)
    assert [f["message"] for f in (await files_of(client, bob, hidden)).json()["files"]] == [moving.id]


async def test_outsiders_get_the_404_of_a_missing_conversation(
    db: Database, cast: Cast, client: httpx2.AsyncClient, app: Starlette
) -> None:
    board = await channel(db, cast.alice, "board", kind="private", members=[cast.bob])
    await post_files(db, cast.bob, board, [("board.pdf", PDF)])
    async with db.transaction() as s:
        public = (await create_conversation(s, cast.alice, CreateConversation(kind="public", name="news"))).id
    await post_files(db, cast.alice, public, [("news.pdf", PDF)])
    carol, gus = await as_user(client, app, cast.carol), await as_user(client, app, cast.gus)
    hidden = await files_of(client, carol, board)
    missing = await files_of(client, carol, board + 1000)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json() and hidden.json()["error"]["code"] == "conversation_not_found"
    assert (await files_of(client, gus, public)).status_code == 404  # a guest not invited
    assert len((await files_of(client, carol, public)).json()["files"]) == 1  # a public channel, like its history
    assert (await client.get(f"{API}/conversations/{board}/files")).status_code == 401


async def test_bad_paging_is_422(db: Database, cast: Cast, client: httpx2.AsyncClient, app: Starlette) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    bob = await as_user(client, app, cast.bob)
    for params, code in (
        ({"limit": 0}, "out_of_range"),
        ({"limit": 101}, "out_of_range"),
        ({"before": 0}, "out_of_range"),
    ):
        response = await files_of(client, bob, sales, **params)
        assert (response.status_code, response.json()["error"]["code"]) == (422, code)
    response = await client.get(f"{API}/conversations/{sales}/files?limit=ten", headers=bob)
    assert (response.status_code, response.json()["error"]["code"]) == (422, "wrong_type")
