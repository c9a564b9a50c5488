"""The audit chain catches every kind of tampering; an erased body still verifies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive.audit import redact_event_body, verify_log
from chat.cli import main
from chat.domain.events import append_event
from chat.store import models
from chat.store.db import Database
from tests.factories import Cast, make_cast

CHAIN_CONV = 4242  # events of a made-up conversation: the chain does not care what made them


async def write_chain(db: Database, actor_id: int, n: int = 5) -> list[int]:
    ids = []
    for i in range(n):
        async with db.transaction() as s:
            event = await append_event(
                s,
                kind="message.posted",
                actor_id=actor_id,
                conversation_id=CHAIN_CONV,
                data={"message": {"id": i + 1, "topic": "audit"}},
                body={"body": f"text {i}", "html": f"<p>text {i}</p>"},
            )
            ids.append(event.id)
    return ids


async def report(db: Database) -> tuple[bool, int | None, str]:
    async with db.read() as s:
        r = await verify_log(s)
    bad = r.first_problem
    return r.ok, (bad.bad_event_id if bad else None), (bad.problem if bad else "")


async def tamper(db: Database, change: Callable[[AsyncSession], Awaitable[object]]) -> None:
    async with db.transaction() as s:
        await change(s)


async def test_untouched_log_verifies(db: Database, cast: Cast) -> None:
    await write_chain(db, cast.bob.id)
    ok, bad, _ = await report(db)
    assert ok and bad is None
    async with db.read() as s:
        r = await verify_log(s)
    assert {c.chain for c in r.chains} == {"system", f"c{CHAIN_CONV}"}
    assert r.events == 6 + 5


async def test_changed_body_is_reported(db: Database, cast: Cast) -> None:
    ids = await write_chain(db, cast.bob.id)
    await tamper(
        db,
        lambda s: s.execute(
            update(models.Event).where(models.Event.id == ids[2]).values(body='{"body":"forged","html":"forged"}')
        ),
    )
    ok, bad, problem = await report(db)
    assert not ok and bad == ids[2] and "body" in problem


async def test_changed_body_with_recomputed_digest_is_reported(db: Database, cast: Cast) -> None:
    from chat.archive.chain import body_digest

    ids = await write_chain(db, cast.bob.id)
    forged = '{"body":"forged","html":"forged"}'
    await tamper(
        db,
        lambda s: s.execute(
            update(models.Event).where(models.Event.id == ids[1]).values(body=forged, body_digest=body_digest(forged))
        ),
    )
    ok, bad, problem = await report(db)
    assert not ok and bad == ids[1] and "hash" in problem


async def test_changed_author_is_reported(db: Database, cast: Cast) -> None:
    ids = await write_chain(db, cast.bob.id)
    await tamper(
        db, lambda s: s.execute(update(models.Event).where(models.Event.id == ids[3]).values(actor_id=cast.carol.id))
    )
    ok, bad, _ = await report(db)
    assert not ok and bad == ids[3]


async def test_deleted_event_is_reported(db: Database, cast: Cast) -> None:
    ids = await write_chain(db, cast.bob.id)
    await tamper(db, lambda s: s.execute(text("DELETE FROM events WHERE id = :i"), {"i": ids[2]}))
    ok, bad, problem = await report(db)
    assert not ok and bad == ids[3] and "deleted or inserted" in problem


async def test_swapped_events_are_reported(db: Database, cast: Cast) -> None:
    ids = await write_chain(db, cast.bob.id)

    async def swap(s: AsyncSession) -> None:
        a, b = ids[1], ids[2]
        await s.execute(update(models.Event).where(models.Event.id == a).values(seq=-1))
        await s.execute(update(models.Event).where(models.Event.id == b).values(seq=2))
        await s.execute(update(models.Event).where(models.Event.id == a).values(seq=3))

    await tamper(db, swap)
    ok, bad, _ = await report(db)
    assert not ok and bad == ids[2]


async def test_inserted_event_is_reported(db: Database, cast: Cast) -> None:
    ids = await write_chain(db, cast.bob.id)

    async def insert(s: AsyncSession) -> None:
        # make room after seq 2 and slip a forged event in, linked to its predecessor
        rows = (await s.scalars(select(models.Event).where(models.Event.chain == f"c{CHAIN_CONV}"))).all()
        for row in sorted(rows, key=lambda r: -r.seq):
            if row.seq >= 3:
                row.seq += 1
                await s.flush()
        second = next(r for r in rows if r.id == ids[1])
        s.add(
            models.Event(
                chain=second.chain,
                seq=3,
                conversation_id=CHAIN_CONV,
                actor_id=cast.carol.id,
                audience="members",
                kind="message.posted",
                payload={"message": {"id": 99}},
                body=None,
                body_digest=second.body_digest,
                redacted=False,
                created_at=second.created_at,
                prev_hash=second.hash,
                hash=second.hash,
            )
        )

    await tamper(db, insert)
    ok, bad, _ = await report(db)
    assert not ok and bad is not None and bad > ids[-1]  # the forged row, whatever id it got


async def test_erased_body_still_verifies_and_shows_redacted(db: Database, cast: Cast) -> None:
    ids = await write_chain(db, cast.bob.id)
    async with db.transaction() as s:
        await redact_event_body(s, ids[2])
    async with db.read() as s:
        r = await verify_log(s)
        row = await s.get(models.Event, ids[2])
    assert r.ok and r.redacted == 1
    assert row is not None and row.body is None and row.redacted


def test_cli_verify_exit_codes(database_url: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    async def build() -> list[int]:
        db = Database(database_url)
        try:
            cast = await make_cast(db)
            return await write_chain(db, cast.bob.id)
        finally:
            await db.dispose()

    ids = asyncio.run(build())
    monkeypatch.setenv("CHAT_DATABASE_URL", database_url)
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "OK: 2 chain(s), 11 event(s) verified" in ok.output
    one = runner.invoke(main, ["audit", "verify", "--conversation", str(CHAIN_CONV)])
    assert one.exit_code == 1 and "no conversation" in one.output  # a made-up conversation has no row

    async def forge() -> None:
        db = Database(database_url)
        try:
            async with db.transaction() as s:
                await s.execute(update(models.Event).where(models.Event.id == ids[0]).values(kind="message.edited"))
        finally:
            await db.dispose()

    asyncio.run(forge())
    bad = runner.invoke(main, ["audit", "verify"])
    assert bad.exit_code == 1
    assert f"event {ids[0]} (seq 1)" in bad.output
