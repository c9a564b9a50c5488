"""Names people read: normalisation, invisible characters, confusable skeletons; channels, groups and topics.

The pure rules first (``chat.channels.names``), then what they do to
conversations and topics on SQLite and PostgreSQL. Display names and
usernames: ``tests/accounts/test_users.py``; existing rows: ``tests/store/test_migration_0003.py``.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import httpx2
import pytest

from chat.accounts.tokens import issue_token
from chat.channels.commands import CreateConversation, UpdateConversation
from chat.channels.conversations import create_conversation, update_conversation
from chat.channels.history import list_topics
from chat.channels.message_commands import UpdateTopic
from chat.channels.names import BIDI_CONTROLS, clean_name, confusable_key, skeleton
from chat.channels.search import parse_query, search_messages
from chat.channels.topics import update_topic
from chat.domain.actors import Actor
from chat.errors import ChatError, Conflict, Invalid
from chat.store.db import Database
from tests.channels.messaging_support import channel, counts, post
from tests.factories import Cast

CYRILLIC_SALES = "\u0405\u0430l\u0435\u0455"  # Ѕаlеѕ: Cyrillic Dze, a, ie, dze around a Latin l
CYRILLIC_Q3 = "\u051a3"  # Ԛ3: Cyrillic Qa

# --- the rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\uff33\uff41\uff4c\uff45\uff53", "Sales"),  # fullwidth
        ("\ufb01nance", "finance"),  # ligature fi
        ("  Q3 \u00a0 tender ", "Q3 tender"),  # no-break space, runs of spaces
        ("Cafe\u0301", "Caf\u00e9"),  # composed
        ("\u2615\ufe0f coffee", "\u2615\ufe0f coffee"),  # emoji presentation selector after a symbol stays
        ("\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629"),  # RTL text itself
    ],
)
def test_names_are_nfkc_with_whitespace_collapsed(raw: str, clean: str) -> None:
    assert clean_name(raw, "name") == clean


@pytest.mark.parametrize("char", sorted(BIDI_CONTROLS))
def test_every_bidi_control_is_refused(char: str) -> None:
    with pytest.raises(Invalid) as info:
        clean_name(f"pay{char}lap", "name")
    assert info.value.code == "bidi_control"
    assert info.value.to_dict()["character"] == f"U+{ord(char):04X}"


@pytest.mark.parametrize(
    "char",
    [
        "\u200b",  # zero width space
        "\u200c",  # zero width non-joiner
        "\u200d",  # zero width joiner
        "\u2060",  # word joiner
        "\ufeff",  # byte order mark
        "\u00ad",  # soft hyphen (Cf)
        "\u2062",  # invisible times (Cf)
        "\U000e0041",  # tag latin capital a (Cf)
        "\u034f",  # combining grapheme joiner
        "\u3164",  # hangul filler
        "\u180b",  # mongolian free variation selector
        "\ufe0f",  # variation selector after a letter: makes no sense
        "\U000e0100",  # ideographic variation selector after a letter
    ],
)
def test_invisible_characters_are_refused(char: str) -> None:
    with pytest.raises(Invalid) as info:
        clean_name(f"sa{char}les", "topic")
    assert (info.value.code, info.value.to_dict()["field"]) == ("invisible_character", "topic")


def test_a_variation_selector_alone_is_refused() -> None:
    with pytest.raises(Invalid) as info:
        clean_name("\ufe0f", "name")
    assert info.value.code == "invisible_character"


def test_no_cf_character_gets_through() -> None:
    for code in range(0x110000):
        ch = chr(code)
        if unicodedata.category(ch) == "Cf" and unicodedata.normalize("NFKC", ch) == ch:
            with pytest.raises(Invalid):
                clean_name(f"a{ch}b", "name")


def test_skeleton_follows_uts39() -> None:
    # confusables.txt: 0430 ; 0061 (Cyrillic a → a), 0031 ; 006C (1 → l), 006D ; 0072 006E (m → rn)
    assert skeleton("p\u0430yp\u0430l") == "paypal"
    assert skeleton("1") == "l"
    assert skeleton("m") == "rn"
    assert skeleton("paypal") == skeleton(skeleton("paypal"))  # prototypes are fixed points


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sales", CYRILLIC_SALES),
        ("Ian", "lan"),
        ("PayPaI", "paypal"),
        ("b0b", "bob"),
        ("arnie", "amie"),
        ("Q3", CYRILLIC_Q3),
        ("Alice", "\u0410lice"),  # Cyrillic A
        ("\u1ea3", "\u1e9a"),  # a with hook above, a with right half ring (confusables.txt pairs them)
    ],
)
def test_look_alikes_share_a_key(a: str, b: str) -> None:
    assert a != b and confusable_key(a) == confusable_key(b)


@pytest.mark.parametrize(("a", "b"), [("sales", "sale"), ("ian", "lan"), ("bob", "rob"), ("Q3", "Q8"), ("x", "y")])
def test_different_names_have_different_keys(a: str, b: str) -> None:
    assert confusable_key(a) != confusable_key(b)


@pytest.mark.parametrize(
    "build",
    [
        lambda: CreateConversation(kind="public", name="sa\u202eles"),
        lambda: UpdateConversation(name="sa\u200bles"),
        lambda: UpdateTopic(topic="Q3", new_name="Q\u202e3"),
    ],
)
def test_commands_refuse_hidden_characters_in_names(build: Any) -> None:
    with pytest.raises(Invalid) as info:
        build()
    assert info.value.code in ("bidi_control", "invisible_character")


def test_commands_normalise_names() -> None:
    assert CreateConversation(kind="private", name=" \uff33ales ").name == "Sales"
    assert UpdateConversation(name="\ufb01n").name == "fin"
    assert UpdateTopic(topic="Q3", new_name="\uff31\uff14").new_name == "Q4"


def test_the_topic_that_names_an_existing_one_is_taken_as_stored() -> None:
    # old topics may hold anything: they must stay addressable to be renamed
    assert UpdateTopic(topic="old\u200bname", new_name="clean").topic == "old\u200bname"


# --- channels and groups ----------------------------------------------------------------------


async def create(db: Database, actor: Actor, name: str, kind: str = "public") -> int:
    async with db.transaction() as s:
        info = await create_conversation(s, actor, CreateConversation(kind=kind, name=name))  # type: ignore[arg-type]
    return info.id


async def rename(db: Database, actor: Actor, cid: int, name: str) -> str:
    async with db.transaction() as s:
        return (await update_conversation(s, actor, cid, UpdateConversation(name=name))).name or ""


async def refused(db: Database, code: str, action: Any) -> ChatError:
    before = await counts(db)
    with pytest.raises(ChatError) as info:
        await action()
    assert info.value.code == code, info.value.to_dict()
    assert await counts(db) == before
    return info.value


async def test_a_look_alike_of_a_public_channel_is_refused(db: Database, cast: Cast) -> None:
    await create(db, cast.alice, "Sales")
    err = await refused(db, "name_confusable", lambda: create(db, cast.bob, CYRILLIC_SALES))
    assert isinstance(err, Conflict) and err.to_dict()["conflicts_with"] == "Sales"
    await refused(db, "name_taken", lambda: create(db, cast.bob, "SALES", kind="private"))
    await refused(db, "name_confusable", lambda: create(db, cast.bob, "\uff33\u0430les"))  # fullwidth S, Cyrillic a


async def test_renaming_onto_a_look_alike_is_refused_but_a_change_of_case_is_not(db: Database, cast: Cast) -> None:
    await create(db, cast.alice, "Sales")
    support = await create(db, cast.alice, "support")
    await refused(db, "name_confusable", lambda: rename(db, cast.alice, support, CYRILLIC_SALES))
    await refused(db, "name_taken", lambda: rename(db, cast.alice, support, "sales"))
    assert await rename(db, cast.alice, support, "Support") == "Support"
    assert await rename(db, cast.alice, support, "Supp0rt") == "Supp0rt"  # looks like itself only


async def test_a_rename_is_not_blocked_by_a_group_the_renamer_cannot_see(db: Database, cast: Cast) -> None:
    await create(db, cast.alice, "Board", kind="private")
    news = await create(db, cast.maya, "news")  # maya moderates public channels; she is not in alice's group
    assert await rename(db, cast.maya, news, "board") == "board"
    assert await rename(db, cast.maya, news, "B\u043eard") == "B\u043eard"  # a look-alike of the group's name
    await refused(db, "name_taken", lambda: rename(db, cast.alice, news, "BOARD"))  # alice sees her group
    await refused(db, "name_confusable", lambda: rename(db, cast.alice, news, "B0ard"))


# Who can see the existing conversation decides whether its name blocks a new one. Columns:
#   existing   the conversation that holds the name first (bob is never in alice's groups)
#   creator    who then creates; "alice" is in every conversation she created
#   kind       the new conversation's kind
#   name       same (the same name, another case) or alike (a confusable look-alike)
#   outcome    created, or the error code
NAME_TABLE = """
# existing  creator kind     name  | outcome
public      bob     public   same  | name_taken
public      bob     public   alike | name_confusable
public      bob     private  same  | name_taken
public      bob     private  alike | name_confusable
private     bob     public   same  | created
private     bob     public   alike | created
private     bob     private  same  | created
private     bob     private  alike | created
private     alice   public   same  | name_taken
private     alice   public   alike | name_confusable
private     alice   private  same  | name_taken
private     alice   private  alike | name_confusable
none        bob     public   same  | created
none        bob     private  alike | created
"""


def _name_rows() -> list[tuple[str, ...]]:
    rows = []
    for line in NAME_TABLE.strip().splitlines():
        if line.startswith("#"):
            continue
        left, outcome = line.split("|")
        rows.append((*left.split(), outcome.strip()))
    return rows


@pytest.mark.parametrize(("existing", "creator", "kind", "name", "outcome"), _name_rows())
async def test_names_block_only_what_the_creator_can_see(
    db: Database, cast: Cast, existing: str, creator: str, kind: str, name: str, outcome: str
) -> None:
    if existing != "none":
        await create(db, cast.alice, "Sales", kind=existing)
    actor = getattr(cast, creator)
    new_name = "sales" if name == "same" else CYRILLIC_SALES
    if outcome == "created":
        await create(db, actor, new_name, kind=kind)
    else:
        await refused(db, outcome, lambda: create(db, actor, new_name, kind=kind))


async def test_over_http_an_invisible_group_changes_nothing_in_the_answer(
    db: Database, cast: Cast, client: httpx2.AsyncClient
) -> None:
    """Bob tries the same names for a channel, with and without alice's private group holding them."""
    async with db.transaction() as s:
        headers = {"Authorization": f"Bearer {await issue_token(s, cast.bob, 'test')}"}

    async def try_names(base: str) -> list[tuple[int, str]]:
        out = []
        for name in (base, base.replace("s", "\u0455"), base.upper()):  # the same, a look-alike, another case
            for kind in ("private", "public"):
                response = await client.post(
                    "/api/v1/conversations", json={"kind": kind, "name": name}, headers=headers
                )
                body = response.json()
                out.append((response.status_code, body["error"]["code"] if "error" in body else "created"))
        return out

    without = await try_names("secrets")
    await create(db, cast.alice, "budgets", kind="private")
    await create(db, cast.alice, "\u0455ales", kind="private")  # a look-alike of the next name too
    with_groups = await try_names("budgets")
    assert with_groups == without
    assert without[:2] == [(201, "created"), (409, "name_taken")]  # bob's own group blocks his channel


async def test_in_names_the_group_you_can_see_when_an_invisible_one_shares_its_name(db: Database, cast: Cast) -> None:
    alices = await channel(db, cast.alice, "board", kind="private")
    bobs = await channel(db, cast.bob, "board", kind="private")
    await post(db, cast.alice, alices, "quarterly numbers")
    mine = await post(db, cast.bob, bobs, "quarterly numbers")
    async with db.read() as s:
        found = await search_messages(s, cast.bob, parse_query("quarterly in:board"), 50, None)
    assert [hit.id for hit in found.hits] == [mine.id]


# --- topics ---------------------------------------------------------------------------------


async def topics_of(db: Database, actor: Actor, cid: int) -> dict[str, int]:
    async with db.read() as s:
        return {t.topic: t.message_count for t in (await list_topics(s, actor, cid)).topics}


async def change(db: Database, actor: Actor, cid: int, **kw: Any) -> Any:
    async with db.transaction() as s:
        return await update_topic(s, actor, cid, UpdateTopic(**kw))


async def test_posting_to_a_look_alike_topic_posts_to_that_topic(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales", members=[cast.bob])
    first = await post(db, cast.alice, sales, topic="Q3")
    second = await post(db, cast.bob, sales, topic=CYRILLIC_Q3)
    third = await post(db, cast.bob, sales, topic="\uff31\uff13")  # fullwidth: NFKC makes it Q3
    assert {m.topic for m in (first, second, third)} == {"Q3"}
    assert await topics_of(db, cast.bob, sales) == {"Q3": 3}


async def test_renaming_onto_a_look_alike_topic_merges_and_onto_itself_changes_nothing(
    db: Database, cast: Cast
) -> None:
    sales = await channel(db, cast.alice, "sales")
    await post(db, cast.alice, sales, topic="Q3")
    await post(db, cast.alice, sales, topic="draft")
    merged = await change(db, cast.alice, sales, topic="draft", new_name=CYRILLIC_Q3)
    assert (merged.topic, merged.changed) == ("Q3", True)
    assert await topics_of(db, cast.alice, sales) == {"Q3": 2}
    before = await counts(db)
    itself = await change(db, cast.alice, sales, topic="Q3", new_name=CYRILLIC_Q3)
    assert (itself.topic, itself.changed, itself.message_ids) == ("Q3", False, [])
    assert await counts(db) == before


async def test_moving_onto_a_look_alike_topic_elsewhere_merges(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales")
    news = await channel(db, cast.alice, "news")
    await post(db, cast.alice, news, topic="Q3")
    await post(db, cast.alice, sales, topic=CYRILLIC_Q3)
    moved = await change(db, cast.alice, sales, topic=CYRILLIC_Q3, move_to_conversation=news)
    assert moved.topic == "Q3" and await topics_of(db, cast.alice, news) == {"Q3": 2}


async def test_a_topic_name_with_hidden_characters_is_refused_before_anything_happens(db: Database, cast: Cast) -> None:
    sales = await channel(db, cast.alice, "sales")
    before = await counts(db)
    with pytest.raises(Invalid) as info:
        await post(db, cast.alice, sales, topic="Q3\u200b")
    assert info.value.code == "invisible_character" and await counts(db) == before
    with pytest.raises(Invalid) as info:
        await post(db, cast.alice, sales, topic="\ufdfa" * 4)  # 4 characters, 72 once NFKC spells them out
    assert (info.value.code, info.value.to_dict()["limit"]) == ("too_long", 60) and await counts(db) == before
