"""The message, topic and read-marker REST API: shapes, status codes, bad input that changes nothing.

Every caller authenticates with a real bearer token (``issue_token``).
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from starlette.applications import Starlette

from chat.accounts.ratelimit import SlidingWindowLimiter
from chat.store.db import Database
from tests.channels.messaging_support import channel, counts, post
from tests.factories import Cast
from tests.web.authhelp import as_user

API = "/api/v1"

MESSAGE_FIELDS = {
    "id",
    "conversation",
    "topic",
    "author",
    "body",
    "html",
    "created_at",
    "event_id",
    "seq",
    "edited_at",
    "deleted",
    "reactions",
    "mentions",
    "wildcard_mention",
    "has_link",
    "has_meeting",
    "meetings",
    "redacted_at",
    "attachments",
}


class Caller:
    def __init__(self, client: httpx2.AsyncClient, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    async def get(self, path: str) -> httpx2.Response:
        return await self.client.get(API + path, headers=self.headers)

    async def send(self, method: str, path: str, body: Any = None) -> httpx2.Response:
        return await self.client.request(method, API + path, json=body, headers=self.headers)


@pytest.fixture
async def who(client: httpx2.AsyncClient, app: Starlette, cast: Cast) -> dict[str, Caller]:
    names = ("alice", "maya", "bob", "carol", "gus")
    return {name: Caller(client, await as_user(client, app, getattr(cast, name))) for name in names}


def code_of(response: httpx2.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


async def unchanged(db: Database, call: Any, status: int, code: str) -> httpx2.Response:
    """``await call()`` must answer ``status``/``code`` and leave every row as it was."""
    before = await counts(db)
    response = await call()
    assert (response.status_code, code_of(response)) == (status, code), response.text
    assert await counts(db) == before
    return response  # type: ignore[no-any-return]


async def test_post_answers_201_then_200_for_a_retry(db: Database, cast: Cast, who: dict[str, Caller]) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    body = {"topic": "Q3 tender", "body": "hello **@alice**", "nonce": "c7"}
    created = await who["bob"].send("POST", f"/conversations/{sales}/messages", body)
    assert created.status_code == 201, created.text
    message = created.json()
    assert set(message) == MESSAGE_FIELDS
    assert (message["conversation"], message["topic"], message["author"]) == (sales, "Q3 tender", cast.bob.id)
    assert message["mentions"] == [cast.alice.id] and message["deleted"] is None and message["reactions"] == []
    assert isinstance(message["event_id"], int) and isinstance(message["seq"], int)
    before = await counts(db)
    again = await who["bob"].send("POST", f"/conversations/{sales}/messages", body)
    assert again.status_code == 200 and again.json() == message and await counts(db) == before
    await unchanged(
        db,
        lambda: who["bob"].send("POST", f"/conversations/{sales}/messages", {**body, "body": "different"}),
        409,
        "nonce_reused",
    )
    meet = await who["bob"].send(
        "POST", f"/conversations/{sales}/messages", {"topic": "t", "body": "/meet", "nonce": "m"}
    )
    assert meet.status_code == 201 and meet.json()["has_meeting"] is True
    assert meet.json()["meetings"][0]["provider"] == "jitsi"


async def test_bad_posts_change_nothing(db: Database, cast: Cast, who: dict[str, Caller]) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    secret = await channel(db, cast.alice, "secret", kind="private")
    url = f"/conversations/{sales}/messages"

    def send(body: Any, path: str = url, caller: str = "bob") -> Any:
        return lambda: who[caller].send("POST", path, body)

    good = {"topic": "t", "body": "x", "nonce": "n"}
    await unchanged(db, send({**good, "body": ""}), 422, "empty_body")
    await unchanged(db, send({**good, "body": " \n\t "}), 422, "empty_body")
    too_long = await unchanged(db, send({**good, "body": "x" * 10_001}), 422, "body_too_long")
    assert "10000" in too_long.json()["error"]["message"] and too_long.json()["error"]["limit"] == 10_000
    topic = await unchanged(db, send({**good, "topic": "t" * 61}), 422, "too_long")
    assert topic.json()["error"]["field"] == "topic"
    await unchanged(db, send({**good, "nonce": "n" * 65}), 422, "too_long")
    await unchanged(db, send({**good, "nonce": ""}), 422, "empty")
    await unchanged(db, send({"topic": "t", "body": "x"}), 422, "missing_field")
    await unchanged(db, send({**good, "author": cast.alice.id}), 422, "unknown_field")
    await unchanged(db, send({**good, "body": 5}), 422, "wrong_type")
    await unchanged(db, send({**good, "topic": ""}), 422, "topic_required")
    missing = await unchanged(db, send(good, "/conversations/9999/messages"), 404, "conversation_not_found")
    hidden = await unchanged(db, send(good, f"/conversations/{secret}/messages"), 404, "conversation_not_found")
    assert missing.json() == hidden.json()
    await unchanged(db, send(good, caller="carol"), 403, "not_allowed")  # sees the channel, is not a member
    no_auth = await httpx2_post_anonymous(who["bob"].client, url, good)
    assert no_auth.status_code == 401


async def httpx2_post_anonymous(client: httpx2.AsyncClient, path: str, body: Any) -> httpx2.Response:
    return await client.post(API + path, json=body)


async def test_history_paging(db: Database, cast: Cast, who: dict[str, Caller]) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    ids = [(await post(db, cast.alice, sales, f"m{i}", topic="a" if i < 3 else "b")).id for i in range(6)]
    newest = (await who["bob"].get(f"/conversations/{sales}/messages?limit=4")).json()
    assert [m["id"] for m in newest["messages"]] == ids[2:]
    assert (newest["has_more_before"], newest["has_more_after"]) == (True, False)
    older = (await who["bob"].get(f"/conversations/{sales}/messages?limit=4&before={ids[2]}")).json()
    assert [m["id"] for m in older["messages"]] == ids[:2] and older["has_more_after"] is True
    topic = (await who["bob"].get(f"/conversations/{sales}/messages?topic=A&after={ids[0]}")).json()
    assert [m["id"] for m in topic["messages"]] == ids[1:3]
    for query, code in (
        ("limit=201", "out_of_range"),
        ("limit=x", "wrong_type"),
        ("before=1&after=2", "conflicting_anchors"),
    ):
        response = await who["bob"].get(f"/conversations/{sales}/messages?{query}")
        assert (response.status_code, code_of(response)) == (422, code)
    gus = await who["gus"].get(f"/conversations/{sales}/messages")
    assert (gus.status_code, code_of(gus)) == (404, "conversation_not_found")


async def test_edit_history_and_delete(db: Database, cast: Cast, who: dict[str, Caller]) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    secret = await channel(db, cast.alice, "secret", kind="private")
    message = await post(db, cast.bob, sales, "v1")
    hidden = await post(db, cast.alice, secret, "hidden")
    edited = await who["bob"].send("PATCH", f"/messages/{message.id}", {"body": "v2"})
    assert edited.status_code == 200 and edited.json()["body"] == "v2" and edited.json()["edited_at"]
    await unchanged(db, lambda: who["carol"].send("PATCH", f"/messages/{message.id}", {"body": "x"}), 403, "not_author")
    invisible = await unchanged(
        db, lambda: who["bob"].send("PATCH", f"/messages/{hidden.id}", {"body": "x"}), 404, "message_not_found"
    )
    unknown = await unchanged(
        db, lambda: who["bob"].send("PATCH", "/messages/999999", {"body": "x"}), 404, "message_not_found"
    )
    assert invisible.json() == unknown.json()
    history = (await who["carol"].get(f"/messages/{message.id}/history")).json()
    assert [(r["number"], r["kind"], r["body"]) for r in history["revisions"]] == [
        (1, "posted", "v1"),
        (2, "edited", "v2"),
    ]
    assert (await who["carol"].get(f"/messages/{message.id}")).json()["body"] == "v2"
    await unchanged(db, lambda: who["carol"].send("DELETE", f"/messages/{message.id}"), 403, "not_author")
    deleted = await who["maya"].send("DELETE", f"/messages/{message.id}", {"reason": "off topic"})
    assert deleted.status_code == 200
    tomb = deleted.json()
    assert (tomb["body"], tomb["html"]) == ("", "")
    assert tomb["deleted"]["by"] == cast.maya.id and tomb["deleted"]["reason"] == "off topic" and tomb["deleted"]["at"]
    own = await post(db, cast.bob, sales, "mine")
    assert (await who["bob"].send("DELETE", f"/messages/{own.id}")).json()["deleted"]["reason"] == ""


async def test_reactions(db: Database, cast: Cast, who: dict[str, Caller]) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    message = await post(db, cast.alice, sales, "ship it")
    thumbs = quote("👍🏽")
    added = await who["bob"].send("PUT", f"/messages/{message.id}/reactions/{thumbs}")
    assert added.status_code == 200 and added.json()["changed"] is True
    before = await counts(db)
    again = await who["bob"].send("PUT", f"/messages/{message.id}/reactions/{thumbs}")
    assert again.json()["changed"] is False and await counts(db) == before
    await who["carol"].send("PUT", f"/messages/{message.id}/reactions/:tada:")
    shown = (await who["alice"].get(f"/messages/{message.id}")).json()
    assert shown["reactions"] == [
        {"emoji": "👍🏽", "count": 1, "users": [cast.bob.id]},
        {"emoji": ":tada:", "count": 1, "users": [cast.carol.id]},
    ]
    removed = await who["bob"].send("DELETE", f"/messages/{message.id}/reactions/{thumbs}")
    assert removed.json()["changed"] is True and removed.json()["reactions"][0]["emoji"] == ":tada:"
    for bad in ("a", quote("<script>"), quote("👍👍"), ":NO:"):
        await unchanged(
            db, lambda bad=bad: who["bob"].send("PUT", f"/messages/{message.id}/reactions/{bad}"), 422, "not_an_emoji"
        )
    await unchanged(
        db, lambda: who["gus"].send("PUT", f"/messages/{message.id}/reactions/{thumbs}"), 404, "message_not_found"
    )


async def test_topics_visibility_and_reads(db: Database, cast: Cast, who: dict[str, Caller]) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob, cast.carol])
    board = await channel(db, cast.alice, "board", kind="private", members=[cast.bob])
    first = await post(db, cast.alice, sales, topic="Q3 plan")
    await post(db, cast.alice, sales, topic="Q3 plan")
    await post(db, cast.alice, sales, topic="lunch")
    topics = (await who["bob"].get(f"/conversations/{sales}/topics")).json()
    assert [(t["topic"], t["message_count"], t["unread"], t["mode"]) for t in topics["topics"]] == [
        ("lunch", 1, 1, "default"),
        ("Q3 plan", 2, 2, "default"),
    ]
    muted = await who["bob"].send(
        "PUT", f"/conversations/{sales}/topics/{quote('q3 PLAN')}/visibility", {"mode": "muted"}
    )
    assert muted.status_code == 200 and muted.json() == {
        "conversation": sales,
        "topic": "Q3 plan",
        "mode": "muted",
        "changed": True,
    }
    bad_mode = await who["bob"].send("PUT", f"/conversations/{sales}/topics/lunch/visibility", {"mode": "loud"})
    assert (bad_mode.status_code, code_of(bad_mode)) == (422, "wrong_value")
    read = await who["bob"].send("POST", f"/conversations/{sales}/read", {"up_to_message_id": first.id})
    assert read.status_code == 200 and read.json() == {
        "conversation": sales,
        "topic": None,
        "up_to_message_id": first.id,
        "changed": True,
    }
    topics = (await who["bob"].get(f"/conversations/{sales}/topics")).json()["topics"]
    assert [(t["topic"], t["unread"], t["mode"]) for t in topics] == [("lunch", 1, "default"), ("Q3 plan", 1, "muted")]
    resolved = await who["carol"].send("PATCH", f"/conversations/{sales}/topics", {"topic": "lunch", "resolved": True})
    assert resolved.status_code == 200 and resolved.json()["topic"] == "✔ lunch"
    await unchanged(
        db,
        lambda: who["carol"].send("PATCH", f"/conversations/{sales}/topics", {"topic": "q3 plan", "new_name": "x"}),
        403,
        "not_allowed",
    )
    await unchanged(
        db,
        lambda: who["alice"].send("PATCH", f"/conversations/{sales}/topics", {"topic": "nope", "new_name": "x"}),
        404,
        "topic_not_found",
    )
    await unchanged(
        db,
        lambda: who["alice"].send(
            "PATCH", f"/conversations/{sales}/topics", {"topic": "lunch", "scope": "some", "new_name": "x"}
        ),
        422,
        "wrong_value",
    )
    moved = await who["alice"].send(
        "PATCH", f"/conversations/{sales}/topics", {"topic": "Q3 plan", "move_to_conversation": board}
    )
    assert moved.status_code == 200 and moved.json()["conversation"] == board
    carol_page = (await who["carol"].get(f"/conversations/{sales}/messages")).json()["messages"]
    assert [m["topic"] for m in carol_page] == ["✔ lunch"]
    gone = await who["carol"].get(f"/messages/{first.id}")
    assert (gone.status_code, code_of(gone)) == (404, "message_not_found")
    await unchanged(
        db,
        lambda: who["carol"].send("POST", f"/conversations/{board}/read", {"up_to_message_id": 1}),
        404,
        "conversation_not_found",
    )

    await post(db, cast.alice, sales, topic="a/b 100%")
    slashed = await who["bob"].send(
        "PUT", f"/conversations/{sales}/topics/{quote('A/B 100%', safe='')}/visibility", {"mode": "followed"}
    )
    assert slashed.status_code == 200 and slashed.json()["topic"] == "a/b 100%"


async def test_posting_is_rate_limited_per_user(
    app: Starlette, db: Database, cast: Cast, who: dict[str, Caller]
) -> None:
    services = app.state.services  # the limiter create_app built from post_limit_per_user/post_limit_window_s
    assert services.post_limiter.code == "rate_limited"
    app.state.services = dataclasses.replace(services, post_limiter=SlidingWindowLimiter(3, 60, code="rate_limited"))
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    for i in range(3):
        ok = await who["bob"].send(
            "POST", f"/conversations/{sales}/messages", {"topic": "t", "body": "x", "nonce": f"r{i}"}
        )
        assert ok.status_code == 201
    limited = await unchanged(
        db,
        lambda: who["bob"].send("POST", f"/conversations/{sales}/messages", {"topic": "t", "body": "x", "nonce": "r9"}),
        429,
        "rate_limited",
    )
    assert int(limited.headers["Retry-After"]) >= 1
    other = await who["alice"].send(
        "POST", f"/conversations/{sales}/messages", {"topic": "t", "body": "x", "nonce": "a"}
    )
    assert other.status_code == 201
