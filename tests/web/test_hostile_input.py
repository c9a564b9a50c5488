"""Hostile input, case by case: deep nesting, integers beyond 64 bits, lone surrogates and NUL
characters in bodies, path and query parameters, over REST and the websocket, on SQLite and
PostgreSQL (which refuses NUL in text columns and overflows on a bigint: a 500 if it ever got there).

Each case gets a precise 4xx (or error frame) with a documented code, and the database is exactly as
it was (every row of every table). The property tests in test_fuzz_schemas.py generate such input from
the schemas; these cases name the classes of the issue one by one so a failure reads plainly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx2
import pytest
from starlette.applications import Starlette

from chat.store.db import Database
from tests.channels.messaging_support import channel, post
from tests.conftest import Live
from tests.factories import Cast
from tests.web.authhelp import as_user
from tests.web.hostile_support import api_error_codes, frame_error_codes, snapshot
from tests.web.socket_support import Connector, connector, next_id

API = "/api/v1"
BIG = "9" * 30  # beyond 64 bits
HUGE = "9" * 5000  # beyond Python's default int-parsing limit (4300 digits) too
DEEP = "[" * 30_000 + "]" * 30_000  # under the 64 KiB body limit, far beyond any sane nesting


@dataclass
class World:
    conversation: int
    message: int
    bob: dict[str, str]
    alice: dict[str, str]


@pytest.fixture
async def world(app: Starlette, client: httpx2.AsyncClient, db: Database, cast: Cast) -> World:
    general = await channel(db, cast.bob, "general", members=[cast.carol])
    message = await post(db, cast.bob, general, "hello", topic="plans")
    return World(general, message.id, await as_user(client, app, cast.bob), await as_user(client, app, cast.alice))


def rest_cases(w: World) -> list[tuple[str, str, str | None, int, str, str | None]]:
    """(method, path, raw body, status, code, field)."""
    c, m = w.conversation, w.message
    return [
        # nesting
        ("POST", "/conversations", DEEP, 400, "malformed_json", None),
        (
            "POST",
            "/conversations",
            '{"kind": "public", "name": ' + "[" * 40 + "]" * 40 + "}",
            400,
            "malformed_json",
            None,
        ),
        (
            "POST",
            f"/conversations/{c}/messages",
            '{"body": {"a": ' * 100 + "1" + "}" * 100,
            400,
            "malformed_json",
            None,
        ),
        ("POST", "/conversations", '{"kind": "public", "name": NaN}', 400, "malformed_json", None),
        # integers beyond 64 bits, in every integer field
        ("POST", f"/conversations/{c}/members", '{"user_id": ' + BIG + "}", 422, "out_of_range", "user_id"),
        ("POST", f"/conversations/{c}/members", '{"user_id": ' + HUGE + "}", 422, "out_of_range", "user_id"),
        ("POST", f"/conversations/{c}/members", '{"user_id": -' + HUGE + "}", 422, "out_of_range", "user_id"),
        ("POST", "/direct", '{"user_ids": [' + BIG + "]}", 422, "out_of_range", "user_ids"),
        ("POST", "/direct", '{"user_ids": [-' + BIG + "]}", 422, "out_of_range", "user_ids"),
        (
            "POST",
            f"/conversations/{c}/read",
            '{"up_to_message_id": ' + BIG + "}",
            422,
            "out_of_range",
            "up_to_message_id",
        ),
        (
            "PATCH",
            f"/conversations/{c}/topics",
            '{"topic": "plans", "move_to_conversation": ' + BIG + "}",
            422,
            "out_of_range",
            "move_to_conversation",
        ),
        (
            "PATCH",
            f"/conversations/{c}/topics",
            '{"topic": "plans", "new_name": "x", "scope": "one", "message_id": ' + HUGE + "}",
            422,
            "out_of_range",
            "message_id",
        ),
        (
            "POST",
            "/invitations",
            '{"role": "guest", "conversation_ids": [' + BIG + "]}",
            422,
            "out_of_range",
            "conversation_ids",
        ),
        # lone surrogates, anywhere
        ("POST", "/conversations", '{"kind": "public", "name": "a\\ud800b"}', 422, "bad_format", "name"),
        (
            "POST",
            f"/conversations/{c}/messages",
            '{"body": "\\udfff", "nonce": "n1", "topic": "t"}',
            422,
            "bad_format",
            "body",
        ),
        (
            "POST",
            f"/conversations/{c}/messages",
            '{"body": "hi", "nonce": "n1", "\\ud800": 1}',
            422,
            "bad_format",
            None,
        ),
        ("POST", "/direct", '{"user_ids": [1, "\\ud83d"]}', 422, "bad_format", "user_ids"),
        ("PATCH", "/me", '{"display_name": "Bob \\udc00"}', 422, "bad_format", "display_name"),
        # NUL characters, in every kind of string
        ("POST", "/conversations", '{"kind": "public", "name": "a\\u0000b"}', 422, "bad_format", "name"),
        ("PATCH", f"/conversations/{c}", '{"description": "x\\u0000"}', 422, "bad_format", "description"),
        (
            "POST",
            f"/conversations/{c}/messages",
            '{"body": "a\\u0000b", "nonce": "n2", "topic": "t"}',
            422,
            "bad_format",
            "body",
        ),
        (
            "POST",
            f"/conversations/{c}/messages",
            '{"body": "hi", "nonce": "n\\u0000", "topic": "t"}',
            422,
            "bad_format",
            "nonce",
        ),
        (
            "POST",
            f"/conversations/{c}/messages",
            '{"body": "hi", "nonce": "n3", "topic": "\\u0000"}',
            422,
            "bad_format",
            "topic",
        ),
        ("PATCH", f"/messages/{m}", '{"body": "\\u0000"}', 422, "bad_format", "body"),
        ("DELETE", f"/messages/{m}", '{"reason": "spam\\u0000"}', 422, "bad_format", "reason"),
        (
            "PATCH",
            f"/conversations/{c}/topics",
            '{"topic": "plans", "new_name": "a\\u0000"}',
            422,
            "bad_format",
            "new_name",
        ),
        (
            "PATCH",
            f"/conversations/{c}/topics",
            '{"topic": "pl\\u0000ans", "resolved": true}',
            422,
            "bad_format",
            "topic",
        ),
        ("POST", f"/conversations/{c}/read", '{"up_to_message_id": 1, "topic": "\\u0000"}', 422, "bad_format", "topic"),
        ("PATCH", "/me", '{"display_name": "Bob\\u0000"}', 422, "bad_format", "display_name"),
        ("POST", "/tokens", '{"name": "ci\\u0000"}', 422, "bad_format", "name"),
        ("POST", "/invitations", '{"role": "member", "email": "a\\u0000@b.c"}', 422, "bad_format", "email"),
        # path parameters
        ("GET", f"/conversations/{BIG}", None, 404, "not_found", None),
        ("GET", f"/conversations/{HUGE}", None, 404, "not_found", None),
        ("GET", "/conversations/9223372036854775808", None, 404, "not_found", None),
        ("DELETE", f"/conversations/{c}/members/{HUGE}", None, 404, "not_found", None),
        ("GET", f"/messages/{BIG}/history", None, 404, "not_found", None),
        ("PATCH", f"/users/{HUGE}", '{"active": false}', 404, "not_found", None),
        ("DELETE", f"/tokens/{BIG}", None, 404, "not_found", None),
        ("PUT", f"/messages/{m}/reactions/%F0%9F%91%8D%00", None, 422, "bad_format", "emoji"),
        ("PUT", f"/conversations/{c}/topics/pl%00ans/visibility", '{"mode": "muted"}', 422, "bad_format", "topic"),
        # query parameters
        ("GET", f"/conversations/{c}/messages?before={BIG}", None, 422, "out_of_range", "before"),
        ("GET", f"/conversations/{c}/messages?after={HUGE}", None, 422, "out_of_range", "after"),
        ("GET", f"/conversations/{c}/messages?limit=-{HUGE}", None, 422, "out_of_range", "limit"),
        ("GET", f"/conversations/{c}/messages?before=1e3", None, 422, "wrong_type", "before"),
        ("GET", f"/conversations/{c}/messages?topic=pl%00ans", None, 422, "bad_format", "topic"),
        ("GET", f"/events?after={BIG}", None, 422, "out_of_range", "after"),
        ("GET", f"/events?limit={HUGE}", None, 422, "out_of_range", "limit"),
        ("GET", f"/search?q=hello&before={BIG}", None, 422, "out_of_range", "before"),
        ("GET", "/search?q=hel%00lo", None, 422, "bad_query", None),
        ("GET", "/search?q=after:9999-12-31", None, 422, "bad_query", None),  # no day after the last one
    ]


async def test_hostile_rest_input_is_refused_precisely_and_changes_nothing(
    client: httpx2.AsyncClient, db: Database, world: World
) -> None:
    documented = api_error_codes()
    for method, path, body, status, code, field in rest_cases(world):
        headers = world.alice if path.startswith(("/users", "/invitations")) else world.bob
        before = await snapshot(db)
        response = await client.request(
            method, API + path, content=body, headers={**headers, "Content-Type": "application/json"}
        )
        case = f"{method} {path[:60]} {(body or '')[:60]!r}"
        assert response.status_code == status, (case, response.text[:300])
        error = response.json()["error"]
        assert (error["code"], error.get("field")) == (code, field), (case, error)
        assert code in documented
        assert await snapshot(db) == before, case


async def test_login_and_registration_refuse_nul_and_surrogates(
    client: httpx2.AsyncClient, db: Database, cast: Cast
) -> None:
    before = await snapshot(db)
    cases = [
        ("/session", '{"username": "bob\\u0000", "password": "x"}', "username"),
        ("/session", '{"username": "bob", "password": "pw\\u0000"}', "password"),
        ("/session", '{"username": "\\ud800", "password": "x"}', "username"),
        ("/users", '{"username": "newbie", "password": "long enough\\u0000"}', "password"),
        ("/users", '{"username": "newbie", "password": "long enough", "display_name": "\\udbff"}', "display_name"),
        ("/users", '{"username": "newbie", "password": "long enough", "invite": "\\u0000"}', "invite"),
    ]
    for path, body, field in cases:
        response = await client.post(API + path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (path, body, response.text)
        assert (response.json()["error"]["code"], response.json()["error"].get("field")) == ("bad_format", field)
    assert await snapshot(db) == before


# --- the websocket --------------------------------------------------------------------------


@pytest.fixture
async def connect(live: Live) -> AsyncIterator[Connector]:
    async with connector(live) as opened:
        yield opened


async def test_hostile_frames_get_error_frames_and_the_socket_stays_open(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    general = await channel(db, cast.bob, "general")
    message = (await post(db, cast.bob, general, "hello")).id
    bob = await connect(cast.bob)
    documented = frame_error_codes()

    def frame(type_: str, fields: str) -> tuple[str, str]:
        frame_id = next_id()
        return frame_id, '{"type": "%s", "id": "%s", %s}' % (type_, frame_id, fields)  # noqa: UP031

    cases: list[tuple[tuple[str | None, str], str, str | None]] = [
        ((None, DEEP), "invalid_json", None),
        ((None, '{"type": "ping", "id": "x", "deep": ' + "[" * 40 + "]" * 40 + "}"), "invalid_json", None),
        ((None, '{"type": "ping", "id": NaN}'), "invalid_json", None),
        ((None, '{"type": "ping", "id": "\\ud800"}'), "wrong_type", "id"),
        ((None, '{"type": "ping", "id": "\\u0000"}'), "wrong_type", "id"),
        ((None, '{"type": "ping", "id": ' + BIG + "}"), "wrong_type", "id"),
        ((None, '{"type": "ping", "id": ' + HUGE + "}"), "wrong_type", "id"),
        (
            frame("post", f'"conversation": {BIG}, "body": "hi", "nonce": "n1", "topic": "t"'),
            "out_of_range",
            "conversation",
        ),
        (
            frame("post", f'"conversation": -{HUGE}, "body": "hi", "nonce": "n1", "topic": "t"'),
            "out_of_range",
            "conversation",
        ),
        (frame("edit", f'"message": {HUGE}, "body": "hi"'), "out_of_range", "message"),
        (frame("read", f'"conversation": {general}, "up_to_message_id": {BIG}'), "out_of_range", "up_to_message_id"),
        (frame("resume", f'"after": {HUGE}'), "out_of_range", "after"),
        (
            frame("post", f'"conversation": {general}, "body": "a\\u0000b", "nonce": "n2", "topic": "t"'),
            "bad_format",
            "body",
        ),
        (
            frame("post", f'"conversation": {general}, "body": "a\\ud800b", "nonce": "n3", "topic": "t"'),
            "bad_format",
            "body",
        ),
        (
            frame("post", f'"conversation": {general}, "body": "hi", "nonce": "n4", "topic": "\\u0000"'),
            "bad_format",
            "topic",
        ),
        (frame("edit", f'"message": {message}, "body": "\\u0000"'), "bad_format", "body"),
        (frame("delete", f'"message": {message}, "reason": "\\udc00"'), "bad_format", "reason"),
        (frame("react", f'"message": {message}, "emoji": "\\u0000"'), "bad_format", "emoji"),
        (frame("typing", f'"conversation": {general}, "topic": "\\u0000"'), "bad_format", "topic"),
        (
            frame("read", f'"conversation": {general}, "up_to_message_id": 1, "topic": "x\\u0000"'),
            "bad_format",
            "topic",
        ),
        (frame("ping", '"\\ud800": 1'), "bad_format", None),
    ]
    before = await snapshot(db)
    for (frame_id, raw), code, field in cases:
        start = len(bob.log)
        await bob.send(raw)
        error = await bob.wait_for(lambda f: f["type"] in ("ack", "error"), start=start)
        assert (error["type"], error["code"], error.get("field")) == ("error", code, field), (raw[:80], error)
        assert error["id"] == frame_id, (raw[:80], error)
        assert code in documented, code
    assert await snapshot(db) == before
    pong = await bob.request("ping")
    assert pong["type"] == "ack" and pong["pong"] is True
    assert json.loads(json.dumps(pong))  # still talking JSON
