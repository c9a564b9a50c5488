"""Search finds files again: ``has:attachment``, ``has:image``, and file names, for readers of the message only."""

from __future__ import annotations

import pytest

from chat.channels.retention import redact_messages
from chat.channels.search import parse_query
from chat.store.db import Database
from chat.store.models import utcnow
from tests.channels.test_search import World, build_world, delete, find, ids, move_topic, post
from tests.factories import Cast
from tests.files.posting import PDF, TEXT, post_files
from tests.files.support import png_bytes


@pytest.fixture
async def world(db: Database, cast: Cast) -> World:
    return await build_world(db, cast)


async def test_has_attachment_and_has_image(db: Database, cast: Cast, world: World) -> None:
    plain = await post(db, cast.bob, world.sales, "no files here")
    pdf = (await post_files(db, cast.bob, world.sales, [("terms.pdf", PDF)], body="the terms")).id
    image = (await post_files(db, cast.carol, world.sales, [("chart.png", png_bytes())])).id
    both = (await post_files(db, cast.bob, world.sales, [("notes.txt", TEXT), ("photo.png", png_bytes())])).id
    assert await ids(db, cast.bob, "has:attachment") == [both, image, pdf]
    assert await ids(db, cast.bob, "has:image") == [both, image]
    assert await ids(db, cast.bob, "HAS:Image from:carol") == [image]
    assert await ids(db, cast.bob, "has:attachment terms") == [pdf]
    assert plain in await ids(db, cast.bob, "files")  # the operators filter; plain text still finds the rest
    assert parse_query("has:attachment has:image").has_image


async def test_a_file_name_matches_a_plain_word(db: Database, cast: Cast, world: World) -> None:
    tender = (await post_files(db, cast.bob, world.sales, [("tender-Q3.pdf", PDF)])).id  # no text at all
    await post_files(db, cast.bob, world.sales, [("budget.pdf", PDF)], body="unrelated")
    assert await ids(db, cast.bob, "tender") == [tender]
    assert await ids(db, cast.bob, "TENDER") == [tender]
    assert await ids(db, cast.bob, "tend") == [tender]  # the last word is a prefix, as in the text
    assert await ids(db, cast.bob, '"tender q3"') == [tender]
    assert await ids(db, cast.bob, '"q3 tender"') == []  # a phrase keeps its order
    assert await ids(db, cast.bob, "tender in:sales has:attachment") == [tender]
    assert await ids(db, cast.bob, "tender from:carol") == []


async def test_each_word_may_match_the_text_or_a_file_name(db: Database, cast: Cast, world: World) -> None:
    mixed = (await post_files(db, cast.bob, world.sales, [("tender-Q3.pdf", PDF)], body="the budget", topic="q3")).id
    in_text = await post(db, cast.bob, world.sales, "tender budget, in words")
    other_file = (await post_files(db, cast.bob, world.sales, [("tender.pdf", PDF)], body="nothing else")).id
    assert await ids(db, cast.bob, "tender budget") == [in_text, mixed]
    assert await ids(db, cast.bob, "budget tender") == [in_text, mixed]
    assert await ids(db, cast.bob, "tender") == [other_file, in_text, mixed]
    assert await ids(db, cast.bob, "tender missing") == []


async def test_hits_carry_their_files(db: Database, cast: Cast, world: World) -> None:
    posted = await post_files(db, cast.bob, world.sales, [("tender-Q3.pdf", PDF), ("chart.png", png_bytes())])
    (hit,) = (await find(db, cast.bob, "tender")).hits
    assert [a.name for a in hit.attachments] == ["tender-Q3.pdf", "chart.png"]
    assert hit.attachments == posted.attachments
    plain = await post(db, cast.bob, world.sales, "words only")
    assert [h.attachments for h in (await find(db, cast.bob, "words")).hits if h.id == plain] == [[]]


async def test_names_are_found_only_where_the_reader_may_look(db: Database, cast: Cast, world: World) -> None:
    secret = (await post_files(db, cast.alice, world.secret, [("secret-plan.pdf", PDF)])).id
    general = (await post_files(db, cast.alice, world.general, [("general-plan.pdf", PDF)])).id
    direct = (await post_files(db, cast.bob, world.dm, [("direct-plan.pdf", PDF)], topic="")).id
    assert await ids(db, cast.bob, "plan") == [direct, secret]  # general: bob is not a member
    assert await ids(db, cast.bob, 'plan in:"general chat"') == [general]  # a public channel, when named
    assert await ids(db, cast.carol, "plan") == [direct]
    assert await ids(db, cast.gus, "plan") == []
    assert await ids(db, cast.gus, "has:attachment") == []
    assert await ids(db, cast.carol, "secret") == []
    assert await ids(db, cast.carol, "has:attachment in:sales") == []


async def test_deleted_or_moved_away_files_are_not_found(db: Database, cast: Cast, world: World) -> None:
    gone = (await post_files(db, cast.bob, world.sales, [("gone-report.pdf", PDF)])).id
    moved = (await post_files(db, cast.bob, world.sales, [("moved-report.pdf", PDF)], topic="private")).id
    kept = (await post_files(db, cast.bob, world.sales, [("kept-report.pdf", PDF)])).id
    await delete(db, cast.bob, gone)
    assert await ids(db, cast.carol, "report") == [kept, moved]
    await move_topic(db, cast.alice, world.sales, "private", world.secret)
    assert await ids(db, cast.carol, "report") == [kept]
    assert await ids(db, cast.carol, "has:attachment") == [kept]
    assert await ids(db, cast.bob, "report") == [kept, moved]  # bob is in the private group


async def test_an_erased_message_is_not_found_by_its_files(db: Database, cast: Cast, world: World) -> None:
    erased = (await post_files(db, cast.bob, world.sales, [("erased-minutes.pdf", PDF)])).id
    kept = (await post_files(db, cast.bob, world.sales, [("kept-minutes.pdf", PDF)])).id
    async with db.transaction() as s:
        await redact_messages(s, [erased], utcnow())  # as retention and a user's erasure do
    assert await ids(db, cast.bob, "minutes") == [kept]
    assert await ids(db, cast.bob, "has:attachment") == [kept]


async def test_file_names_are_not_query_syntax(db: Database, cast: Cast, world: World) -> None:
    odd = (await post_files(db, cast.bob, world.sales, [("100%_done (final).pdf", PDF)])).id
    other = (await post_files(db, cast.bob, world.sales, [("1000 done.pdf", PDF)])).id
    await post_files(db, cast.bob, world.sales, [("x_y.pdf", PDF)])
    # only letters and digits reach the pattern: "100" then "done", anywhere in the name, in that order
    assert await ids(db, cast.bob, "100%_done") == [other, odd]
    assert await ids(db, cast.bob, "done 100") == [other, odd]  # two terms: each anywhere
    assert await ids(db, cast.bob, '"done 100"') == []
    assert await ids(db, cast.bob, "xzy") == []  # "_" in a name is a character, and "%" or "_" in a query no wildcard
    assert await ids(db, cast.bob, '"final)" OR 1=1') == []


async def test_pages_walk_files_and_text_together(db: Database, cast: Cast, world: World) -> None:
    expected = []
    for i in range(7):
        if i % 2:
            expected.append((await post_files(db, cast.bob, world.sales, [(f"offer-{i}.pdf", PDF)])).id)
        else:
            expected.append(await post(db, cast.bob, world.sales, f"offer number {i}"))
    seen: list[int] = []
    before = None
    while True:
        page = await find(db, cast.bob, "offer", limit=3, before=before)
        seen += [h.id for h in page.hits]
        if not page.has_more:
            break
        before = page.next_before
    assert seen == sorted(expected, reverse=True)
