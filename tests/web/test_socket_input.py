"""Bad input over the websocket: each gets an error frame with a stable code, and nothing changes.

Every case counts the rows of ``messages`` and ``events`` before and after, and
checks the connection still answers a ``ping`` afterwards (an error frame is
an answer, not a disconnect), except where the transport itself must close.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chat.config import Settings
from chat.store.db import Database
from tests.channels.messaging_support import channel, counts, post
from tests.conftest import Live
from tests.factories import Cast
from tests.web.socket_support import Connector, Peer, connector, next_id

LIMIT = 4096  # ws_max_frame_bytes here; the live fixture sets uvicorn's ws_max_size to twice this


@pytest.fixture
def overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, overrides: dict[str, Any]) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path, ws_max_frame_bytes=LIMIT, **overrides)


@pytest.fixture
async def connect(live: Live) -> AsyncIterator[Connector]:
    async with connector(live) as opened:
        yield opened


async def rows(db: Database) -> tuple[int, int]:
    found = await counts(db)
    return found["messages"], found["events"]


async def still_open(peer: Peer) -> None:
    pong = await peer.request("ping")
    assert pong["type"] == "ack" and pong["pong"] is True


async def answer_to_raw(peer: Peer, raw: str | bytes) -> dict[str, Any]:
    """Send ``raw`` as it is; the answer is the next ack or error frame."""
    start = len(peer.log)
    await peer.send(raw)
    return await peer.wait_for(lambda f: f["type"] in ("ack", "error"), start=start)


async def test_invalid_json_and_frames_that_are_not_objects(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    bob = await connect(cast.bob)
    before = await rows(db)
    cases: list[tuple[str | bytes, str, str | None]] = [
        ('{"type": "post", "id": "p1", "conversation": ' + str(general), "invalid_json", None),
        ("not json at all", "invalid_json", None),
        (b"\xff\xfe binary garbage", "invalid_json", None),
        ('[{"type": "ping", "id": 1}]', "bad_frame", None),
        ('"ping"', "bad_frame", None),
        ('{"type": "ping"}', "missing_field", "id"),
    ]
    for raw, code, field in cases:
        error = await answer_to_raw(bob, raw)
        assert error["type"] == "error" and error["code"] == code, (raw, error)
        assert error["id"] is None and error.get("field") == field and error["message"]
    assert await rows(db) == before
    await still_open(bob)


async def test_frame_over_the_size_limit_is_refused_and_the_socket_stays_open(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    bob = await connect(cast.bob, compression=None)
    before = await rows(db)

    def post_frame(body: str) -> str:
        return json.dumps(
            {"type": "post", "id": next_id(), "conversation": general, "topic": "t", "body": body, "nonce": next_id()},
            ensure_ascii=False,
        )

    for frame in (
        post_frame("x" * LIMIT),  # over the limit in characters and bytes
        post_frame("é" * (LIMIT * 3 // 5)),  # under it in characters, over it in UTF-8 bytes
    ):
        assert len(frame.encode()) > LIMIT
        error = await answer_to_raw(bob, frame)
        assert error["type"] == "error" and error["code"] == "frame_too_large", error
        assert error["id"] is None and str(LIMIT) in error["message"]
    assert await rows(db) == before
    await still_open(bob)
    accepted = await bob.request("post", conversation=general, topic="t", body="x" * (LIMIT // 2), nonce="fits")
    assert accepted["type"] == "ack", accepted


async def test_frame_far_over_the_transport_limit_closes_with_1009(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    bob = await connect(cast.bob, compression=None)
    before = await rows(db)
    huge = {"type": "post", "id": "big", "conversation": general, "topic": "t", "body": "x" * (3 * LIMIT), "nonce": "n"}
    await bob.send(huge)
    assert await bob.wait_closed() == 1009
    assert await rows(db) == before


CONV = "<general>"  # replaced by the channel's id

FRAME_ERRORS: list[tuple[str, dict[str, Any], str, str | None]] = [
    # (case, frame without its id, code, field)
    ("unknown type", {"type": "explode"}, "unknown_type", None),
    ("a server frame type", {"type": "hello"}, "unknown_type", None),
    ("no type", {}, "missing_field", "type"),
    ("type not a string", {"type": 7}, "missing_field", "type"),
    ("post without nonce", {"type": "post", "conversation": CONV, "topic": "t", "body": "b"}, "missing_field", "nonce"),
    (
        "post without conversation",
        {"type": "post", "topic": "t", "body": "b", "nonce": "n"},
        "missing_field",
        "conversation",
    ),
    ("resume without after", {"type": "resume"}, "missing_field", "after"),
    (
        "extra field",
        {"type": "post", "conversation": CONV, "body": "b", "nonce": "n", "colour": 1},
        "unknown_field",
        "colour",
    ),
    ("extra field on ping", {"type": "ping", "payload": 1}, "unknown_field", "payload"),
    ("conversation as string", {"type": "typing", "conversation": "12"}, "wrong_type", "conversation"),
    (
        "conversation as bool",
        {"type": "read", "conversation": True, "up_to_message_id": 1},
        "wrong_type",
        "conversation",
    ),
    ("body as number", {"type": "edit", "message": 1, "body": 5}, "wrong_type", "body"),
    ("emoji as list", {"type": "react", "message": 1, "emoji": ["+1"]}, "wrong_type", "emoji"),
    ("after as float", {"type": "resume", "after": 1.5}, "wrong_type", "after"),
    (
        "topic as null is fine, body null is not",
        {"type": "post", "conversation": CONV, "topic": None, "body": None, "nonce": "n"},
        "wrong_type",
        "body",
    ),
    ("negative cursor", {"type": "resume", "after": -1}, "out_of_range", "after"),
    ("nonce too long", {"type": "post", "conversation": CONV, "body": "b", "nonce": "n" * 65}, "too_long", "nonce"),
    ("empty nonce", {"type": "post", "conversation": CONV, "body": "b", "nonce": ""}, "empty", "nonce"),
    (
        "NUL in body",
        {"type": "post", "conversation": CONV, "topic": "t", "body": "a\x00b", "nonce": "n"},
        "bad_format",
        "body",
    ),
]


async def test_malformed_frames_get_precise_errors(live: Live, db: Database, cast: Cast, connect: Connector) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    bob = await connect(cast.bob)
    before = await rows(db)
    for case, frame, code, field in FRAME_ERRORS:
        fields = {k: general if v == CONV else v for k, v in frame.items()}
        frame_id = next_id()
        error = await answer_to_raw(bob, json.dumps({"id": frame_id, **fields}))
        assert error["type"] == "error" and error["code"] == code, (case, error)
        assert error["id"] == frame_id and error["message"], case
        assert error.get("field") == field, (case, error)
    assert await rows(db) == before
    await still_open(bob)


async def test_frame_ids_must_be_short_strings_or_integers(live: Live, cast: Cast, connect: Connector) -> None:
    bob = await connect(cast.bob)
    for bad in (True, 1.5, None, {"a": 1}, ["x"], "x" * 65, "a\x00b", 2**63, -(2**63) - 1, 2**70):
        error = await answer_to_raw(bob, json.dumps({"type": "ping", "id": bad}))
        assert error["type"] == "error" and error["id"] is None, bad  # an id we refuse is not echoed back
        assert (error["code"], error["field"]) == ("missing_field" if bad is None else "wrong_type", "id"), bad
    for good in (0, -5, "", "x" * 64, 2**63 - 1, -(2**63)):
        assert (await answer_to_raw(bob, json.dumps({"type": "ping", "id": good})))["id"] == good


async def test_ids_beyond_the_database_range_are_out_of_range(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob])
    message = await post(db, cast.bob, general)
    bob = await connect(cast.bob)
    before = await rows(db)
    huge = 2**63  # one past the largest bigint: a server error before ids were range-checked
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("post", {"conversation": huge, "topic": "t", "body": "b", "nonce": "n"}, "conversation"),
        ("post", {"conversation": 0, "topic": "t", "body": "b", "nonce": "n"}, "conversation"),
        ("edit", {"message": huge, "body": "b"}, "message"),
        ("delete", {"message": -1}, "message"),
        ("react", {"message": huge, "emoji": "👍"}, "message"),
        ("unreact", {"message": huge, "emoji": "👍"}, "message"),
        ("read", {"conversation": general, "up_to_message_id": huge}, "up_to_message_id"),
        ("typing", {"conversation": huge}, "conversation"),
        ("resume", {"after": huge}, "after"),
    ]
    for type_, fields, field in cases:
        error = await bob.request(type_, **fields)
        assert (error["type"], error["code"], error["field"]) == ("error", "out_of_range", field), (type_, error)
    assert await rows(db) == before
    assert (await bob.request("edit", message=message.id, body="still works"))["type"] == "ack"


async def test_unknown_and_invisible_conversations_get_the_same_error(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    secret = await channel(db, cast.alice, "secret", kind="private", members=[cast.carol])
    hidden = await post(db, cast.carol, secret, body="for the group only")
    missing = secret + 1000
    bob = await connect(cast.bob)
    before = await rows(db)
    answers: dict[str, list[dict[str, Any]]] = {"conversation": [], "message": []}
    for conversation in (missing, secret):
        answers["conversation"].append(
            await bob.request("post", conversation=conversation, topic="t", body="hi", nonce=next_id())
        )
        answers["conversation"].append(await bob.request("typing", conversation=conversation, topic="t"))
        answers["conversation"].append(await bob.request("read", conversation=conversation, up_to_message_id=hidden.id))
    for message in (hidden.id + 1000, hidden.id):
        answers["message"].append(await bob.request("edit", message=message, body="mine now"))
        answers["message"].append(await bob.request("delete", message=message))
        answers["message"].append(await bob.request("react", message=message, emoji="👍"))
        answers["message"].append(await bob.request("unreact", message=message, emoji="👍"))
    for what, errors in answers.items():
        shapes = {(e["type"], e["code"], e["message"], tuple(sorted(e))) for e in errors}
        assert shapes == {("error", f"{what}_not_found", errors[0]["message"], ("code", "id", "message", "type"))}
    assert await rows(db) == before


@pytest.mark.parametrize("overrides", [{"post_limit_per_user": 3}], ids=["3 posts per window"])
async def test_posting_faster_than_the_limit_is_rate_limited(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob, cast.carol])
    bob = await connect(cast.bob)
    carol = await connect(cast.carol)
    before = await rows(db)
    replies = [
        await bob.request("post", conversation=general, topic="t", body=f"m{i}", nonce=f"n{i}") for i in range(4)
    ]
    assert [r["type"] for r in replies] == ["ack", "ack", "ack", "error"]
    limited = replies[-1]
    assert limited["code"] == "rate_limited" and isinstance(limited["retry_after"], int)
    assert 1 <= limited["retry_after"] <= Settings().post_limit_window_s
    messages, events = await rows(db)
    assert (messages, events) == (before[0] + 3, before[1] + 3)
    # the limit is per user: carol still posts, and bob's other frames still work
    assert (await carol.request("post", conversation=general, topic="t", body="mine", nonce="c"))["type"] == "ack"
    await still_open(bob)


async def test_a_text_frame_that_is_not_utf8_closes_with_1007(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    bob = await connect(cast.bob)
    before = await rows(db)
    await bob.ws.send(b'{"type": "ping", "id": "\xff"}', text=True)
    assert await bob.wait_closed() == 1007
    assert await rows(db) == before
