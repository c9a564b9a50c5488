"""Message search: the query language, every operator, access and paging, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from chat.channels.commands import CreateConversation, OpenDirect
from chat.channels.conversations import create_conversation, invite_member, join_conversation
from chat.channels.direct import get_or_create_direct
from chat.channels.message_commands import DeleteMessage, EditMessage, PostMessage, UpdateTopic
from chat.channels.messages import delete_message, edit_message, post_message
from chat.channels.search import SearchQuery, SearchResults, Term, parse_query, search_messages
from chat.channels.topics import update_topic
from chat.domain.actors import Actor
from chat.errors import Invalid, NotFound
from chat.store.db import Database
from chat.store.migrate import upgrade
from tests.channels import old_rows
from tests.factories import Cast

# --- a small world --------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    sales: int  # public: alice, bob, carol
    general: int  # public: alice only (bob, carol, gus are not members)
    secret: int  # private: alice, bob
    partners: int  # public: alice, bob, gus (the guest)
    dm: int  # direct: bob and carol


async def build_world(db: Database, cast: Cast) -> World:
    async with db.transaction() as s:
        sales = await create_conversation(s, cast.alice, CreateConversation(kind="public", name="Sales"))
        general = await create_conversation(s, cast.alice, CreateConversation(kind="public", name="General chat"))
        secret = await create_conversation(s, cast.alice, CreateConversation(kind="private", name="Secret"))
        partners = await create_conversation(s, cast.alice, CreateConversation(kind="public", name="Partners"))
        for conversation, who in ((sales, cast.bob), (sales, cast.carol), (partners, cast.bob)):
            await join_conversation(s, who, conversation.id)
        await invite_member(s, cast.alice, secret.id, cast.bob.id)
        await invite_member(s, cast.alice, partners.id, cast.gus.id)
        dm = await get_or_create_direct(s, cast.bob, OpenDirect(user_ids=[cast.carol.id]))
    return World(sales.id, general.id, secret.id, partners.id, dm.conversation.id)


@pytest.fixture
async def world(db: Database, cast: Cast) -> World:
    return await build_world(db, cast)


async def post(db: Database, actor: Actor, conversation_id: int, body: str, topic: str = "misc") -> int:
    """Post through the real action (``topic=""`` in a direct conversation); returns the message id."""
    async with db.transaction() as s:
        posted = await post_message(
            s, actor, conversation_id, PostMessage(body=body, nonce=uuid.uuid4().hex, topic=topic)
        )
    return posted.message.id


async def edit(db: Database, actor: Actor, message_id: int, body: str) -> None:
    async with db.transaction() as s:
        await edit_message(s, actor, message_id, EditMessage(body=body))


async def delete(db: Database, actor: Actor, message_id: int) -> None:
    async with db.transaction() as s:
        await delete_message(s, actor, message_id, DeleteMessage(reason="test"))


async def move_topic(db: Database, actor: Actor, conversation_id: int, topic: str, to: int) -> None:
    async with db.transaction() as s:
        await update_topic(s, actor, conversation_id, UpdateTopic(topic=topic, move_to_conversation=to))


async def rename_topic(db: Database, actor: Actor, conversation_id: int, topic: str, new: str) -> None:
    async with db.transaction() as s:
        await update_topic(s, actor, conversation_id, UpdateTopic(topic=topic, new_name=new))


async def resolve_topic(db: Database, actor: Actor, conversation_id: int, topic: str) -> None:
    async with db.transaction() as s:
        await update_topic(s, actor, conversation_id, UpdateTopic(topic=topic, resolved=True))


async def find(db: Database, actor: Actor, q: str, limit: int = 50, before: int | None = None) -> SearchResults:
    async with db.read() as s:
        return await search_messages(s, actor, parse_query(q), limit, before)


async def ids(db: Database, actor: Actor, q: str) -> list[int]:
    return [hit.id for hit in (await find(db, actor, q)).hits]


# --- parsing -------------------------------------------------------------------------------


def test_parse_words_phrases_and_operators() -> None:
    query = parse_query('budget "Q3 plan" in:sales topic:"Q3  tender" from:@Bob has:link has:meeting is:resolved deadl')
    assert query == SearchQuery(
        terms=(Term("budget"), Term("Q3 plan", phrase=True), Term("deadl", prefix=True)),
        conversation="sales",
        topic="Q3 tender",
        author="Bob",
        has_link=True,
        has_meeting=True,
        is_resolved=True,
    )
    dated = parse_query("BEFORE:2024-03-01 After:2024-01-31")
    assert (dated.before, dated.after, dated.terms) == (date(2024, 3, 1), date(2024, 1, 31), ())


def test_parse_treats_unknown_operators_and_punctuation_as_text() -> None:
    query = parse_query("re:budget https://example.com/x !!! ")
    assert [t.text for t in query.terms] == ["re:budget", "https://example.com/x"]
    assert parse_query("a").terms == (Term("a"),)  # too short to be a prefix


@pytest.mark.parametrize(
    "q",
    [
        "before:notadate",
        "after:2024-02-30",
        "before:2024-1-5",
        "has:video",
        "is:unread",
        "in:",
        'topic:""',
        "in:sales in:general",
        "from:bob from:carol",
        "x" * 501,
        "nul\x00byte",
        " ".join(f"w{i}" for i in range(21)),
    ],
)
def test_parse_rejects_bad_operator_values(q: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_query(q)
    assert caught.value.code == "bad_query"


# --- free text -----------------------------------------------------------------------------


async def test_all_words_must_match_in_body_or_topic(db: Database, cast: Cast, world: World) -> None:
    both = await post(db, cast.bob, world.sales, "the quarterly budget review", topic="finance")
    await post(db, cast.bob, world.sales, "budget only", topic="finance")
    in_topic = await post(db, cast.bob, world.sales, "numbers attached", topic="Budget review")
    assert await ids(db, cast.bob, "budget review") == [in_topic, both]
    assert await ids(db, cast.bob, "REVIEW Quarterly") == [both]
    assert await ids(db, cast.bob, "nothing-like-this") == []


async def test_phrase_needs_adjacent_words(db: Database, cast: Cast, world: World) -> None:
    adjacent = await post(db, cast.bob, world.sales, "please review the budget today")
    await post(db, cast.bob, world.sales, "budget: please review")
    assert await ids(db, cast.bob, '"review the budget"') == [adjacent]
    assert await ids(db, cast.bob, '"budget review"') == []


async def test_last_word_matches_as_prefix(db: Database, cast: Cast, world: World) -> None:
    deadline = await post(db, cast.bob, world.sales, "the deadline is near")
    dead = await post(db, cast.bob, world.sales, "dead code removed")
    assert await ids(db, cast.bob, "deadl") == [deadline]
    assert await ids(db, cast.bob, "dead") == [dead, deadline]
    assert await ids(db, cast.bob, "near dead") == [deadline]
    assert await ids(db, cast.bob, "dead near") == []  # only the last word is a prefix: "dead" is whole
    assert await ids(db, cast.bob, "nea deadline") == []


async def test_case_and_accents(db: Database, cast: Cast, world: World, database_url: str) -> None:
    message = await post(db, cast.bob, world.sales, "Réunion à Zürich")
    assert await ids(db, cast.bob, "RÉUNION zürich") == [message]
    if database_url.startswith("sqlite"):  # FTS5 remove_diacritics; PostgreSQL 'simple' keeps accents
        assert await ids(db, cast.bob, "reunion zurich") == [message]


@pytest.mark.parametrize(
    "q",
    [
        "alpha OR gamma",
        "alpha NOT gamma",
        "NEAR(alpha gamma)",
        "alpha AND gamma",
        "body:alpha gamma",
        "topic alpha*gamma",
        "alpha & gamma",
        "alpha | gamma",
        "!alpha (gamma)",
        "alpha:* gamma",
        "'alpha' <-> gamma",
        "\\alpha gamma",
        "^alpha -gamma",
        "alpha; DROP TABLE messages; -- gamma",
    ],
)
async def test_query_syntax_is_not_injected(db: Database, cast: Cast, world: World, q: str) -> None:
    await post(db, cast.bob, world.sales, "alpha")
    await post(db, cast.bob, world.sales, "gamma")
    # Every word is required and nothing is an operator: no message holds both words.
    assert await ids(db, cast.bob, q) == []
    assert len(await ids(db, cast.bob, "alpha")) == 1


@pytest.mark.parametrize(
    ("q", "found"),
    [('"', 2), ('""', 2), ("*", 2), ("NEAR(", 0), ('alpha"', 1), ('"gamma', 1), ("²³ ǅ", 0), ("日本語 ß", 0)],
)
async def test_stray_syntax_characters_are_harmless(db: Database, cast: Cast, world: World, q: str, found: int) -> None:
    await post(db, cast.bob, world.sales, "alpha")
    await post(db, cast.bob, world.sales, "gamma")
    assert len(await ids(db, cast.bob, q)) == found  # no words at all: every visible message


async def test_highlights_matches_in_safe_html(db: Database, cast: Cast, world: World) -> None:
    await post(db, cast.bob, world.sales, "Budget <script>alert(1)</script> & **Budgets**", topic="budget talk")
    (hit,) = (await find(db, cast.bob, "budget")).hits
    assert "<script>" not in hit.html and "&lt;script&gt;" in hit.html
    assert hit.html.count("<mark>") == 2 and "<strong><mark>Budgets</mark></strong>" in hit.html
    assert hit.topic_html == "<mark>budget</mark> talk"
    assert (hit.author_username, hit.conversation, hit.conversation_name) == ("bob", world.sales, "Sales")


# --- operators -----------------------------------------------------------------------------


async def test_in_by_name_or_id(db: Database, cast: Cast, world: World) -> None:
    in_sales = await post(db, cast.alice, world.sales, "launch plan")
    in_general = await post(db, cast.alice, world.general, "launch plan")
    assert await ids(db, cast.alice, "launch") == [in_general, in_sales]
    assert await ids(db, cast.alice, "launch in:SALES") == [in_sales]
    assert await ids(db, cast.alice, 'in:"general  chat"') == [in_general]
    assert await ids(db, cast.alice, f"in:{world.general} launch") == [in_general]


async def test_in_unknown_or_invisible_is_not_found(db: Database, cast: Cast, world: World) -> None:
    await post(db, cast.alice, world.secret, "secret plan")
    answers = []
    for q in ("in:nowhere plan", "in:secret plan", f"in:{world.secret} plan", "in:999999 plan"):
        with pytest.raises(NotFound) as caught:
            await find(db, cast.carol, q)
        answers.append(caught.value.to_dict())
    assert answers == [answers[0]] * 4 and answers[0]["code"] == "conversation_not_found"


async def test_public_channels_need_membership_unless_named(db: Database, cast: Cast, world: World) -> None:
    message = await post(db, cast.alice, world.general, "roadmap draft")
    assert await ids(db, cast.bob, "roadmap") == []  # not a member: not searched by default
    assert await ids(db, cast.bob, 'roadmap in:"general chat"') == [message]
    with pytest.raises(NotFound):  # a guest never sees a public channel they are not in
        await find(db, cast.gus, 'roadmap in:"general chat"')


async def test_topic_is_case_insensitive_and_includes_resolved(db: Database, cast: Cast, world: World) -> None:
    open_one = await post(db, cast.bob, world.sales, "first", topic="Q3 tender")
    await post(db, cast.bob, world.sales, "other", topic="Q3 tenders")
    resolved = await post(db, cast.bob, world.sales, "second", topic="✔ q3 TENDER")
    assert await ids(db, cast.bob, 'topic:"q3 tender"') == [resolved, open_one]
    assert await ids(db, cast.bob, 'topic:"✔ Q3 Tender"') == [resolved, open_one]
    assert await ids(db, cast.bob, 'topic:"Q3 tender" second') == [resolved]
    assert await ids(db, cast.bob, "topic:Q3") == []


async def test_from_username(db: Database, cast: Cast, world: World) -> None:
    by_bob = await post(db, cast.bob, world.sales, "status update")
    await post(db, cast.carol, world.sales, "status update")
    assert await ids(db, cast.carol, "status from:bob") == [by_bob]
    assert await ids(db, cast.carol, "from:@BOB") == [by_bob]
    assert await ids(db, cast.carol, "status from:nobody") == []


async def test_has_link_and_has_meeting(db: Database, cast: Cast, world: World) -> None:
    plain = await post(db, cast.bob, world.sales, "call later")
    link = await post(db, cast.bob, world.sales, "call notes: https://example.com/notes")
    meeting = await post(db, cast.bob, world.sales, "call now https://meet.jit.si/salon-weekly")
    assert await ids(db, cast.bob, "call") == [meeting, link, plain]
    assert await ids(db, cast.bob, "call has:link") == [meeting, link]
    assert await ids(db, cast.bob, "has:meeting") == [meeting]
    assert await ids(db, cast.bob, "has:link has:meeting call") == [meeting]


async def test_is_resolved(db: Database, cast: Cast, world: World) -> None:
    await post(db, cast.bob, world.sales, "open question", topic="printer")
    done = await post(db, cast.bob, world.sales, "fixed it", topic="✔ printer")
    assert await ids(db, cast.bob, "is:resolved") == [done]
    await resolve_topic(db, cast.bob, world.sales, "printer")
    assert len(await ids(db, cast.bob, "is:resolved")) == 2


async def test_before_and_after_are_exclusive_utc_days(db: Database, cast: Cast, world: World) -> None:
    message = await post(db, cast.bob, world.sales, "dated note")
    (hit,) = (await find(db, cast.bob, "dated")).hits
    day = hit.created_at.date()
    yesterday, tomorrow = day - timedelta(days=1), day + timedelta(days=1)
    assert await ids(db, cast.bob, f"dated before:{tomorrow}") == [message]
    assert await ids(db, cast.bob, f"dated before:{day}") == []
    assert await ids(db, cast.bob, f"dated after:{yesterday}") == [message]
    assert await ids(db, cast.bob, f"dated after:{day}") == []
    assert await ids(db, cast.bob, f"after:{yesterday} before:{tomorrow}") == [message]


async def test_operators_alone_list_visible_messages(db: Database, cast: Cast, world: World) -> None:
    first = await post(db, cast.bob, world.sales, "one", topic="t")
    second = await post(db, cast.carol, world.dm, "two", topic="")
    await post(db, cast.alice, world.general, "three", topic="t")
    assert await ids(db, cast.bob, "") == [second, first]
    assert await ids(db, cast.bob, "from:carol") == [second]


# --- access, edits, deletions, moves -----------------------------------------------------------


async def test_private_group_messages_only_for_members(db: Database, cast: Cast, world: World) -> None:
    message = await post(db, cast.bob, world.secret, "merger codename")
    assert await ids(db, cast.bob, "merger") == [message]
    for outsider in (cast.carol, cast.maya, cast.gus):  # maya is a moderator: still not a member
        assert await ids(db, outsider, "merger") == []
        assert await ids(db, outsider, "") == []


async def test_guest_sees_only_their_conversations(db: Database, cast: Cast, world: World) -> None:
    await post(db, cast.bob, world.sales, "pricing sheet")
    visible = await post(db, cast.bob, world.partners, "pricing sheet")
    await post(db, cast.alice, world.general, "pricing sheet")
    assert await ids(db, cast.gus, "pricing") == [visible]
    assert await ids(db, cast.gus, "in:partners") == [visible]


async def test_direct_messages_only_for_their_members(db: Database, cast: Cast, world: World) -> None:
    message = await post(db, cast.bob, world.dm, "lunch tomorrow?", topic="")
    assert await ids(db, cast.carol, "lunch") == [message]
    assert await ids(db, cast.alice, "lunch") == []
    with pytest.raises(NotFound):
        await find(db, cast.alice, f"in:{world.dm}")
    (hit,) = (await find(db, cast.carol, "lunch")).hits
    assert (hit.conversation_kind, hit.conversation_name, hit.topic) == ("direct", None, "")


async def test_message_moved_into_private_group_disappears(db: Database, cast: Cast, world: World) -> None:
    message = await post(db, cast.bob, world.sales, "acquisition target", topic="deal")
    assert await ids(db, cast.carol, "acquisition") == [message]
    await move_topic(db, cast.bob, world.sales, "deal", world.secret)
    assert await ids(db, cast.carol, "acquisition") == []
    assert await ids(db, cast.carol, "in:sales") == []
    assert await ids(db, cast.bob, "acquisition in:secret") == [message]


async def test_deleted_messages_never_match(db: Database, cast: Cast, world: World) -> None:
    kept = await post(db, cast.bob, world.sales, "draft one")
    gone = await post(db, cast.bob, world.sales, "draft two")
    assert await ids(db, cast.bob, "draft") == [gone, kept]
    await delete(db, cast.bob, gone)
    assert await ids(db, cast.bob, "draft") == [kept]
    assert await ids(db, cast.bob, "") == [kept]


async def test_edits_and_renames_reindex(db: Database, cast: Cast, world: World) -> None:
    message = await post(db, cast.bob, world.sales, "meet on tuesday", topic="planning")
    await edit(db, cast.bob, message, "meet on wednesday")
    assert await ids(db, cast.bob, "tuesday") == []
    assert await ids(db, cast.bob, "wednesday") == [message]
    await rename_topic(db, cast.bob, world.sales, "planning", "offsite")
    assert await ids(db, cast.bob, "planning") == []
    assert await ids(db, cast.bob, "offsite wednesday") == [message]
    await edit(db, cast.bob, message, "meet on friday")  # a second change after a rename still indexes cleanly
    assert await ids(db, cast.bob, "offsite friday") == [message]


# --- paging --------------------------------------------------------------------------------


async def test_pages_newest_first_without_duplicates(db: Database, cast: Cast, world: World) -> None:
    posted = [await post(db, cast.bob, world.sales, f"report number {i}") for i in range(5)]
    seen: list[int] = []
    before: int | None = None
    pages = 0
    while True:
        page = await find(db, cast.bob, "report", limit=2, before=before)
        seen += [hit.id for hit in page.hits]
        pages += 1
        if not page.has_more:
            assert page.next_before is None
            break
        before = page.next_before
    assert seen == posted[::-1] and pages == 3


@pytest.mark.parametrize("limit", [0, 101])
async def test_limit_out_of_range(db: Database, cast: Cast, world: World, limit: int) -> None:
    with pytest.raises(Invalid) as caught:
        await find(db, cast.bob, "x", limit=limit)
    assert caught.value.code == "out_of_range"


# --- the index itself (migration 0002) -------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL indexes an expression: no drift
async def test_sqlite_index_matches_the_messages_after_every_kind_of_change(
    db: Database, cast: Cast, world: World
) -> None:
    kept = await post(db, cast.bob, world.sales, "first words", topic="alpha")
    gone = await post(db, cast.bob, world.sales, "second words", topic="alpha")
    await edit(db, cast.bob, kept, "first words, edited")
    await delete(db, cast.bob, gone)
    await rename_topic(db, cast.bob, world.sales, "alpha", "beta")
    await move_topic(db, cast.bob, world.sales, "beta", world.secret)
    async with db.transaction() as s:
        # FTS5 compares its index with the external content table (rank=1) and fails loudly on any drift.
        await s.execute(text("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)"))
    assert await ids(db, cast.bob, "first edited in:secret topic:beta") == [kept]


async def test_upgrading_indexes_existing_messages(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    await upgrade(engine, "0001")
    await old_rows.add_user(engine, 1, "bob", "Bob")
    await old_rows.add_conversation(engine, 1, "public", "sales", [1])
    await old_rows.add_message(engine, 1, 1, 1, "Q3", "written before search existed")
    await engine.dispose()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade(db.engine)
        assert await ids(db, Actor(1, "bob", "Bob", "member"), "before search") == [1]
    finally:
        await db.dispose()
