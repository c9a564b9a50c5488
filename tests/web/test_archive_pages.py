"""The archive's pages: who sees which conversation, topics, messages with history and tombstones,
keyset pages on a large topic, the index the topic list reads, print styles, the link in the chat UI."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
from sqlalchemy import text

from chat.archive.export import PAGE_MAX, topics_statement
from chat.store.db import Database
from tests.archive.test_exports import history
from tests.channels.messaging_support import channel, count_queries
from tests.factories import Cast
from tests.web.test_pages import assert_no_inline_code, log_in

ROOT = Path(__file__).resolve().parents[2]


async def test_signed_out_visitors_are_sent_to_login(client: httpx2.AsyncClient, cast: Cast) -> None:
    response = await client.get("/archive")
    assert (response.status_code, response.headers["location"]) == (303, "/login?next=/archive")


async def test_the_list_shows_what_each_reader_may_read(client: httpx2.AsyncClient, db: Database, cast: Cast) -> None:
    h = await history(db, cast)
    seen = {}
    for name in ("alice", "bob", "carol", "gus"):
        client.cookies.clear()
        await log_in(client, name)
        page = (await client.get("/archive")).text
        assert_no_inline_code(page)
        seen[name] = {int(i) for i in re.findall(r'href="/archive/(\d+)"', page)}
    assert h.ops in seen["alice"] and h.general in seen["alice"]  # admins: every conversation
    assert h.general in seen["bob"] and h.ops in seen["bob"]  # bob is in the private group
    assert h.general in seen["carol"] and h.ops not in seen["carol"]
    assert seen["gus"] == set()  # a guest in nothing sees nothing


async def test_a_conversation_page_lists_its_topics(client: httpx2.AsyncClient, db: Database, cast: Cast) -> None:
    h = await history(db, cast)
    await log_in(client, "carol")
    page = await client.get(f"/archive/{h.general}")
    assert page.status_code == 200
    assert "✔ Q3 tender" in page.text and "other" in page.text
    assert f'action="/api/v1/conversations/{h.general}/export"' in page.text
    assert (await client.get(f"/archive/{h.ops}")).status_code == 404  # carol is not in the group
    assert (await client.get("/archive/999999")).status_code == 404
    client.cookies.clear()
    await log_in(client, "gus")
    assert (await client.get(f"/archive/{h.general}")).status_code == 404


async def test_a_topic_page_shows_history_tombstones_and_redactions(
    client: httpx2.AsyncClient, db: Database, cast: Cast
) -> None:
    h = await history(db, cast)
    await log_in(client, "bob")
    listing = (await client.get(f"/archive/{h.general}")).text
    links = re.findall(r'href="(/archive/\d+/topic\?key=[^"]+)"', listing)
    pages = [(await client.get(link.replace("&amp;", "&"))) for link in links]
    assert all(p.status_code == 200 for p in pages)
    q3 = next(p.text for p in pages if "final draft" in p.text)
    assert_no_inline_code(q3)
    assert "Edit history" in q3 and "first draft" in q3 and "second draft" in q3
    assert "Deleted by Carol" in q3 and "typo" in q3 and "oops" not in q3
    other = next(p.text for p in pages if "Redacted" in p.text)
    assert "private detail" not in other
    assert 'name="topic" value="✔ Q3 tender"' in q3  # the export form exports this topic
    missing = await client.get(f"/archive/{h.general}/topic?key=nothing")
    assert missing.status_code == 404


async def test_a_large_topic_is_read_a_page_at_a_time(client: httpx2.AsyncClient, db: Database, cast: Cast) -> None:
    from bench.bulk import load_posts

    general = await channel(db, cast.alice, "general", members=[cast.bob])
    total = 2 * PAGE_MAX + 50
    async with db.transaction() as s:
        last = await load_posts(s, general, [(cast.bob.id, "big", f"m{n}") for n in range(total)], {})
    await log_in(client, "bob")
    url = f"/archive/{general}/topic?key=big"
    seen: list[int] = []
    with count_queries(db) as queries:
        page = await client.get(url)
    if not db.is_sqlite:  # SQLAlchemy writes every SQLite LIMIT as "LIMIT ? OFFSET 0"
        assert not [q for q in queries if "OFFSET" in q.upper()]
    # the page (authors, revisions and the one look for messages moved away apart)
    assert len([q for q in queries if "FROM messages" in q and "DISTINCT" not in q]) == 1
    while True:
        ids = [int(i) for i in re.findall(r'id="m(\d+)"', page.text)]
        assert 0 < len(ids) <= PAGE_MAX
        seen += ids
        newer = re.search(r'href="([^"]+)" rel="next"', page.text)
        if newer is None:
            break
        page = await client.get(newer.group(1).replace("&amp;", "&"))
    assert seen == list(range(last - total + 1, last + 1))
    older = re.search(r'href="([^"]+)" rel="prev"', page.text)
    assert older is not None
    back = await client.get(older.group(1).replace("&amp;", "&"))
    ids = [int(i) for i in re.findall(r'id="m(\d+)"', back.text)]
    assert ids == seen[-50 - PAGE_MAX : -50]
    assert parse_qs(urlsplit(older.group(1).replace("&amp;", "&")).query)["before"] == [str(seen[-50])]


async def test_the_topic_list_reads_the_topic_index(db: Database, cast: Cast) -> None:
    general = await channel(db, cast.alice, "general")
    statement = topics_statement(general)
    async with db.read() as s:
        dialect = s.get_bind().dialect
        sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if dialect.name == "sqlite":
            plan = " ".join(str(r[-1]) for r in (await s.execute(text(f"EXPLAIN QUERY PLAN {sql}"))).all())
            assert "ix_messages_conversation_topic_id" in plan and "TEMP B-TREE" not in plan, plan
        else:
            await s.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(str(r[0]) for r in (await s.execute(text(f"EXPLAIN {sql}"))).all())
            assert "ix_messages_conversation_topic_id" in plan, plan


def test_pages_print_without_navigation() -> None:
    css = (ROOT / "static" / "css" / "archive.css").read_text()
    printed = css[css.index("@media print") :]
    assert ".archive-nav" in printed and "display: none" in printed and "break-inside: avoid" in printed


async def test_the_chat_menu_links_to_the_archive(client: httpx2.AsyncClient, cast: Cast) -> None:
    await log_in(client, "bob")
    assert 'id="archive-link"' in (await client.get("/")).text


async def test_a_direct_conversation_has_one_page_without_topic(
    client: httpx2.AsyncClient, db: Database, cast: Cast
) -> None:
    await history(db, cast)
    await log_in(client, "bob")
    listing = (await client.get("/archive")).text
    direct = listing[listing.index('id="kind-direct"') :]
    dm = int(re.findall(r'href="/archive/(\d+)"', direct)[0])
    assert "Bob, Carol" in direct
    topics = (await client.get(f"/archive/{dm}")).text
    assert "(no topic)" in topics and f'href="/archive/{dm}/topic?key="' in topics
    page = await client.get(f"/archive/{dm}/topic?key=")
    assert page.status_code == 200 and "psst" in page.text
    client.cookies.clear()
    await log_in(client, "maya")  # a moderator outside it
    assert (await client.get(f"/archive/{dm}/topic?key=")).status_code == 404
