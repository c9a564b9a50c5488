"""Checkpoints catch a chain cut short, gone, or rewritten below its checkpointed head; growth is fine."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive.audit import stored_event
from chat.archive.chain import GENESIS, link_hash
from chat.archive.checkpoints import Checkpoint, Head, dumps, parse_checkpoint, read_checkpoints
from chat.cli import main
from chat.store import models
from chat.store.db import Database
from tests.archive.test_audit import CHAIN_CONV, write_chain
from tests.factories import make_cast

CHAIN = f"c{CHAIN_CONV}"


def on_db(database_url: str, work: Callable[[Database], Awaitable[object]]) -> object:
    async def run() -> object:
        db = Database(database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def build(database_url: str) -> list[int]:
    async def work(db: Database) -> list[int]:
        cast = await make_cast(db)
        return await write_chain(db, cast.bob.id)

    ids = on_db(database_url, work)
    assert isinstance(ids, list)
    return ids


def tamper(database_url: str, change: Callable[[AsyncSession], Awaitable[object]]) -> None:
    async def work(db: Database) -> None:
        async with db.transaction() as s:
            await change(s)

    on_db(database_url, work)


async def rechain(s: AsyncSession, chain: str) -> None:
    """Recompute a chain's hashes from its genesis, as someone with write access and the source code can."""
    prev = GENESIS
    for row in (
        await s.scalars(select(models.Event).where(models.Event.chain == chain).order_by(models.Event.seq))
    ).all():
        row.prev_hash = prev
        row.hash = prev = link_hash(prev, stored_event(row).link)
        await s.flush()


def chat(tmp_path: Path, database_url: str, *args: str) -> Result:
    return CliRunner().invoke(
        main, [*args, "--data-dir", str(tmp_path / "data")], env={"CHAT_DATABASE_URL": database_url}
    )


@pytest.fixture
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory that is not the data dir: where checkpoints are kept."""
    return tmp_path_factory.mktemp("elsewhere")


def checkpoint_now(tmp_path: Path, database_url: str, out: Path) -> None:
    result = chat(tmp_path, database_url, "audit", "checkpoint", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "written to" in result.output


def test_untouched_log_matches_its_checkpoint_and_stdout_is_one_checkpoint(
    database_url: str, tmp_path: Path, elsewhere: Path
) -> None:
    ids = build(database_url)
    printed = chat(tmp_path, database_url, "audit", "checkpoint")
    assert printed.exit_code == 0, printed.output
    checkpoint = parse_checkpoint(printed.stdout)
    assert checkpoint.chains[CHAIN] == Head(5, ids[-1], checkpoint.chains[CHAIN].hash)
    assert set(checkpoint.chains) == {"system", CHAIN}
    checkpoint_now(tmp_path, database_url, elsewhere / "cp.json")
    ok = chat(tmp_path, database_url, "audit", "verify", "--checkpoint", str(elsewhere / "cp.json"))
    assert ok.exit_code == 0, ok.output
    assert "they match 1 checkpoint(s)" in ok.output


def test_deleted_newest_events_fail_verify_naming_the_chain(database_url: str, tmp_path: Path, elsewhere: Path) -> None:
    ids = build(database_url)
    checkpoint_now(tmp_path, database_url, elsewhere / "cp.json")
    tamper(database_url, lambda s: s.execute(delete(models.Event).where(models.Event.id.in_(ids[-2:]))))
    plain = chat(tmp_path, database_url, "audit", "verify")
    assert plain.exit_code == 0, plain.output  # what is left of the chain is a valid, shorter chain
    cut = chat(tmp_path, database_url, "audit", "verify", "--checkpoint", str(elsewhere / "cp.json"))
    assert cut.exit_code == 1
    assert f"chain {CHAIN} does not match the checkpoint: cut short: it has 3 event(s)" in cut.output
    assert f"recorded 5 (last event id {ids[-1]})" in cut.output
    assert "chain system" not in cut.output


def test_a_chain_the_checkpoint_names_that_is_gone_fails(database_url: str, tmp_path: Path, elsewhere: Path) -> None:
    build(database_url)
    checkpoint_now(tmp_path, database_url, elsewhere / "cp.json")
    tamper(database_url, lambda s: s.execute(delete(models.Event).where(models.Event.chain == CHAIN)))
    gone = chat(tmp_path, database_url, "audit", "verify", "--checkpoint", str(elsewhere / "cp.json"))
    assert gone.exit_code == 1
    assert f"chain {CHAIN} does not match the checkpoint: no longer exists" in gone.output


def test_a_rewrite_below_the_checkpoint_fails_even_when_the_chain_was_recomputed(
    database_url: str, tmp_path: Path, elsewhere: Path
) -> None:
    ids = build(database_url)
    checkpoint_now(tmp_path, database_url, elsewhere / "cp.json")

    async def rewrite(s: AsyncSession) -> None:
        row = await s.get(models.Event, ids[1])
        assert row is not None
        row.payload = {"message": {"id": 2, "topic": "forged"}}
        await s.flush()
        await rechain(s, CHAIN)

    tamper(database_url, rewrite)
    plain = chat(tmp_path, database_url, "audit", "verify")
    assert plain.exit_code == 0, plain.output  # the forger recomputed every hash
    caught = chat(tmp_path, database_url, "audit", "verify", "--checkpoint", str(elsewhere / "cp.json"))
    assert caught.exit_code == 1
    assert f"chain {CHAIN} does not match the checkpoint: rewritten: its event at seq 5 is event {ids[-1]}" in (
        caught.output
    )


def test_events_added_after_the_checkpoint_are_fine(database_url: str, tmp_path: Path, elsewhere: Path) -> None:
    ids = build(database_url)
    checkpoint_now(tmp_path, database_url, elsewhere / "cp.json")

    async def more(db: Database) -> list[int]:
        return await write_chain(db, actor_id=1, n=3)

    on_db(database_url, more)
    grown = chat(tmp_path, database_url, "audit", "verify", "--checkpoint", str(elsewhere / "cp.json"))
    assert grown.exit_code == 0, grown.output
    assert f"{6 + len(ids) + 3} event(s) verified; they match 1 checkpoint(s)" in grown.output
    one = chat(
        tmp_path, database_url, "audit", "verify", "--conversation", "1", "--checkpoint", str(elsewhere / "cp.json")
    )
    assert one.exit_code == 1 and "no conversation 1" in one.output  # flags combine; the made-up chain has no row


# --- hostile or garbled checkpoint files -----------------------------------------------------------

GOOD = dumps(Checkpoint(datetime(2025, 1, 2, tzinfo=UTC), {"c1": Head(3, 7, "a" * 64)}))
GOOD_DOC = json.loads(GOOD)


def variant(**changes: object) -> str:
    return json.dumps({**GOOD_DOC, **changes})


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "holds no checkpoint"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"hello", "line 1: not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"[" * 100_000, "not valid JSON"),
        (b"{" + b'"a":{' * 50_000, "not valid JSON"),
        (('{"seq": ' + "9" * 10_000 + "}").encode(), "not valid JSON"),
        (b'{"format": "something-else"}', "not a Salon checkpoint"),
        (variant(version=2).encode(), "unsupported version 2"),
        (variant(version=True).encode(), "unsupported version"),
        (variant(written_at="yesterday").encode(), "not an ISO 8601 time"),
        (variant(written_at="2025-01-02T00:00:00").encode(), "no time zone"),
        (variant(chains=[]).encode(), '"chains" must be an object'),
        (variant(chains={"c1": {"seq": -1, "event_id": 1, "hash": "a" * 64}}).encode(), '"seq" must be a positive'),
        (variant(chains={"c1": {"seq": True, "event_id": 1, "hash": "a" * 64}}).encode(), '"seq" must be a positive'),
        (variant(chains={"c1": {"seq": 1, "event_id": 2**70, "hash": "a" * 64}}).encode(), '"event_id" must be'),
        (variant(chains={"c1": {"seq": 1, "event_id": 1, "hash": "zz"}}).encode(), '"hash" must be 64'),
        (variant(chains={"x" * 99: {"seq": 1, "event_id": 1, "hash": "a" * 64}}).encode(), "bad chain name"),
        (variant(chains={"c1": "head"}).encode(), "chain c1: must be an object"),
        ((GOOD + "\n" + GOOD[:-5] + "\n").encode(), "line 2: not valid JSON"),
    ],
)
def test_a_hostile_checkpoint_file_gets_a_clear_error(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "cp.json"
    path.write_bytes(content)
    result = chat(tmp_path, "", "audit", "verify", "--checkpoint", str(path))
    assert result.exit_code == 1, result.output
    assert "cannot read the checkpoint" in result.output and says in result.output, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_a_history_and_a_pretty_printed_checkpoint_are_read() -> None:
    later = dumps(Checkpoint(datetime(2025, 1, 3, tzinfo=UTC), {"c1": Head(4, 9, "b" * 64)}))
    history = list(read_checkpoints([GOOD + "\n", "\n", later + "\n"]))
    assert [c.chains["c1"].seq for c in history] == [3, 4]
    pretty = json.dumps(GOOD_DOC, indent=2)
    (one,) = read_checkpoints(line + "\n" for line in pretty.splitlines())
    assert one.chains == {"c1": Head(3, 7, "a" * 64)} and one.written_at == datetime(2025, 1, 2, tzinfo=UTC)
