"""The access policy as a truth table: every role x kind x membership x archived x action.

The expected answers are written out by hand below, one row per situation;
they are not recomputed from the policy's own rules.
"""

from __future__ import annotations

import pytest

from chat.channels.policy import (
    Action,
    Facts,
    Kind,
    allowed,
    can_administer,
    can_create,
    can_message_user,
    can_own_conversation,
    can_set_default,
    require,
    within_window,
)
from chat.domain.actors import Actor
from chat.errors import Forbidden

# Columns (Y = allowed, - = refused):
#   view    see it (preview, read)               join    join it yourself
#   post    post a message                       inv_m   add someone, invite_policy="members"
#   inv_a   add someone, invite_policy="admins"  leave   remove yourself
#   rm      remove someone else                  rn      rename / describe (not the creator)
#   rn_c    rename as its creator                arch    archive or unarchive (not the creator)
#   arch_c  archive as its creator               star    star it
#   list    list its members                     mod     moderate others' messages
# "bot" is a bot account with the member role.
COLUMNS = "view join post inv_m inv_a leave rm rn rn_c arch arch_c star list mod".split()

TABLE = """
# role    kind    in  arch | view join post inv_m inv_a leave rm rn rn_c arch arch_c star list mod
admin     public  yes no   | Y    -    Y    Y     Y     Y     Y  Y  Y    Y    Y      Y    Y    Y
admin     public  yes yes  | Y    -    -    -     -     Y     Y  -  -    Y    Y      Y    Y    Y
admin     public  no  no   | Y    Y    -    Y     Y     -     Y  Y  Y    Y    Y      -    Y    Y
admin     public  no  yes  | Y    -    -    -     -     -     Y  -  -    Y    Y      -    Y    Y
admin     private yes no   | Y    -    Y    Y     Y     Y     Y  Y  Y    Y    Y      Y    Y    Y
admin     private yes yes  | Y    -    -    -     -     Y     Y  -  -    Y    Y      Y    Y    Y
admin     private no  no   | -    -    -    -     -     -     -  Y  Y    Y    Y      -    -    -
admin     private no  yes  | -    -    -    -     -     -     -  -  -    Y    Y      -    -    -
admin     direct  yes no   | Y    -    Y    -     -     -     -  -  -    -    -      Y    Y    Y
admin     direct  yes yes  | Y    -    -    -     -     -     -  -  -    -    -      Y    Y    Y
admin     direct  no  no   | -    -    -    -     -     -     -  -  -    -    -      -    -    -
admin     direct  no  yes  | -    -    -    -     -     -     -  -  -    -    -      -    -    -
moderator public  yes no   | Y    -    Y    Y     Y     Y     Y  Y  Y    Y    Y      Y    Y    Y
moderator public  yes yes  | Y    -    -    -     -     Y     Y  -  -    Y    Y      Y    Y    Y
moderator public  no  no   | Y    Y    -    Y     Y     -     Y  Y  Y    Y    Y      -    Y    Y
moderator public  no  yes  | Y    -    -    -     -     -     Y  -  -    Y    Y      -    Y    Y
moderator private yes no   | Y    -    Y    Y     -     Y     -  -  Y    -    Y      Y    Y    Y
moderator private yes yes  | Y    -    -    -     -     Y     -  -  -    -    Y      Y    Y    Y
moderator private no  no   | -    -    -    -     -     -     -  -  -    -    -      -    -    -
moderator private no  yes  | -    -    -    -     -     -     -  -  -    -    -      -    -    -
moderator direct  yes no   | Y    -    Y    -     -     -     -  -  -    -    -      Y    Y    Y
moderator direct  yes yes  | Y    -    -    -     -     -     -  -  -    -    -      Y    Y    Y
moderator direct  no  no   | -    -    -    -     -     -     -  -  -    -    -      -    -    -
moderator direct  no  yes  | -    -    -    -     -     -     -  -  -    -    -      -    -    -
member    public  yes no   | Y    -    Y    Y     Y     Y     -  -  -    -    -      Y    Y    -
member    public  yes yes  | Y    -    -    -     -     Y     -  -  -    -    -      Y    Y    -
member    public  no  no   | Y    Y    -    Y     Y     -     -  -  -    -    -      -    Y    -
member    public  no  yes  | Y    -    -    -     -     -     -  -  -    -    -      -    Y    -
member    private yes no   | Y    -    Y    Y     -     Y     -  -  Y    -    Y      Y    Y    -
member    private yes yes  | Y    -    -    -     -     Y     -  -  -    -    Y      Y    Y    -
member    private no  no   | -    -    -    -     -     -     -  -  -    -    -      -    -    -
member    private no  yes  | -    -    -    -     -     -     -  -  -    -    -      -    -    -
member    direct  yes no   | Y    -    Y    -     -     -     -  -  -    -    -      Y    Y    -
member    direct  yes yes  | Y    -    -    -     -     -     -  -  -    -    -      Y    Y    -
member    direct  no  no   | -    -    -    -     -     -     -  -  -    -    -      -    -    -
member    direct  no  yes  | -    -    -    -     -     -     -  -  -    -    -      -    -    -
bot       public  yes no   | Y    -    Y    Y     Y     Y     -  -  -    -    -      Y    Y    -
bot       public  yes yes  | Y    -    -    -     -     Y     -  -  -    -    -      Y    Y    -
bot       public  no  no   | Y    Y    -    Y     Y     -     -  -  -    -    -      -    Y    -
bot       public  no  yes  | Y    -    -    -     -     -     -  -  -    -    -      -    Y    -
bot       private yes no   | Y    -    Y    Y     -     Y     -  -  Y    -    Y      Y    Y    -
bot       private yes yes  | Y    -    -    -     -     Y     -  -  -    -    Y      Y    Y    -
bot       private no  no   | -    -    -    -     -     -     -  -  -    -    -      -    -    -
bot       private no  yes  | -    -    -    -     -     -     -  -  -    -    -      -    -    -
bot       direct  yes no   | Y    -    Y    -     -     -     -  -  -    -    -      Y    Y    -
bot       direct  yes yes  | Y    -    -    -     -     -     -  -  -    -    -      Y    Y    -
bot       direct  no  no   | -    -    -    -     -     -     -  -  -    -    -      -    -    -
bot       direct  no  yes  | -    -    -    -     -     -     -  -  -    -    -      -    -    -
guest     public  yes no   | Y    -    Y    -     -     Y     -  -  -    -    -      Y    Y    -
guest     public  yes yes  | Y    -    -    -     -     Y     -  -  -    -    -      Y    Y    -
guest     public  no  no   | -    -    -    -     -     -     -  -  -    -    -      -    -    -
guest     public  no  yes  | -    -    -    -     -     -     -  -  -    -    -      -    -    -
guest     private yes no   | Y    -    Y    -     -     Y     -  -  -    -    -      Y    Y    -
guest     private yes yes  | Y    -    -    -     -     Y     -  -  -    -    -      Y    Y    -
guest     private no  no   | -    -    -    -     -     -     -  -  -    -    -      -    -    -
guest     private no  yes  | -    -    -    -     -     -     -  -  -    -    -      -    -    -
guest     direct  yes no   | Y    -    Y    -     -     -     -  -  -    -    -      Y    Y    -
guest     direct  yes yes  | Y    -    -    -     -     -     -  -  -    -    -      Y    Y    -
guest     direct  no  no   | -    -    -    -     -     -     -  -  -    -    -      -    -    -
guest     direct  no  yes  | -    -    -    -     -     -     -  -  -    -    -      -    -    -
"""

# column -> (action, extra facts)
QUESTIONS: dict[str, tuple[Action, dict[str, object]]] = {
    "view": ("view", {}),
    "join": ("join", {}),
    "post": ("post", {}),
    "inv_m": ("invite", {"invite_policy": "members"}),
    "inv_a": ("invite", {"invite_policy": "admins"}),
    "leave": ("remove", {"target_is_self": True}),
    "rm": ("remove", {"target_is_self": False}),
    "rn": ("rename", {"is_creator": False}),
    "rn_c": ("rename", {"is_creator": True}),
    "arch": ("archive", {"is_creator": False}),
    "arch_c": ("archive", {"is_creator": True}),
    "star": ("star", {}),
    "list": ("list_members", {}),
    "mod": ("moderate", {}),
}


def actor(role: str) -> Actor:
    if role == "bot":
        return Actor(id=7, username="robot", display_name="Robot", role="member", is_bot=True)
    return Actor(id=7, username=role, display_name=role.title(), role=role)  # type: ignore[arg-type]


def _parse() -> list[tuple[str, Kind, bool, bool, dict[str, bool]]]:
    rows = []
    for line in TABLE.strip().splitlines():
        if line.startswith("#"):
            continue
        left, right = line.split("|")
        role, kind, member, archived = left.split()
        marks = right.split()
        assert len(marks) == len(COLUMNS), line
        assert set(marks) <= {"Y", "-"}, line
        expected = {col: mark == "Y" for col, mark in zip(COLUMNS, marks, strict=True)}
        rows.append((role, kind, member == "yes", archived == "yes", expected))  # type: ignore[arg-type]
    return rows


ROWS = _parse()
CASES = [
    pytest.param(
        role,
        kind,
        member,
        archived,
        col,
        expected[col],
        id=f"{role}-{kind}-{'in' if member else 'out'}-{'archived' if archived else 'live'}-{col}",
    )
    for role, kind, member, archived, expected in ROWS
    for col in COLUMNS
]


def test_table_covers_every_situation() -> None:
    situations = {(role, kind, member, archived) for role, kind, member, archived, _ in ROWS}
    assert len(situations) == len(ROWS) == 5 * 3 * 2 * 2


@pytest.mark.parametrize(("role", "kind", "member", "archived", "column", "expected"), CASES)
def test_truth_table(role: str, kind: Kind, member: bool, archived: bool, column: str, expected: bool) -> None:
    action, extra = QUESTIONS[column]
    facts = Facts(kind=kind, is_member=member, archived=archived, **extra)  # type: ignore[arg-type]
    assert allowed(action, actor(role), facts) is expected


@pytest.mark.parametrize(
    ("role", "members", "admins"),
    [
        ("admin", True, True),
        ("moderator", True, False),
        ("member", True, False),
        ("bot", True, False),
        ("guest", False, False),
    ],
)
def test_who_creates_channels_and_groups(role: str, members: bool, admins: bool) -> None:
    """By the workspace's ``channel_creation``: ``members`` (the default) or ``admins``."""
    for kind in ("public", "private"):
        assert can_create(actor(role), kind) is members
        assert can_create(actor(role), kind, "members") is members
        assert can_create(actor(role), kind, "admins") is admins
    assert can_create(actor(role), "direct") is False  # direct conversations are opened, not created


@pytest.mark.parametrize(
    ("role", "kind", "archived", "expected"),
    [
        ("admin", "public", False, True),
        ("admin", "public", True, False),
        ("admin", "private", False, False),
        ("admin", "direct", False, False),
        ("moderator", "public", False, False),
        ("member", "public", False, False),
        ("bot", "public", False, False),
        ("guest", "public", False, False),
    ],
)
def test_who_marks_default_channels(role: str, kind: Kind, archived: bool, expected: bool) -> None:
    assert can_set_default(actor(role), kind, archived) is expected


@pytest.mark.parametrize(
    ("role", "is_bot", "active", "is_member", "expected"),
    [
        ("member", False, True, True, True),
        ("moderator", False, True, True, True),
        ("admin", False, True, True, True),
        ("member", False, True, False, False),
        ("member", False, False, True, False),
        ("guest", False, True, True, False),
        ("member", True, True, True, False),
    ],
)
def test_who_may_own_a_conversation(role: str, is_bot: bool, active: bool, is_member: bool, expected: bool) -> None:
    assert can_own_conversation(role, is_bot, active, is_member) is expected


@pytest.mark.parametrize(
    ("age", "window", "expected"), [(10, 0, True), (10**9, 0, True), (59, 60, True), (61, 60, False)]
)
def test_author_windows(age: int, window: int, expected: bool) -> None:
    assert within_window(age, window) is expected


@pytest.mark.parametrize(
    ("role", "expected"), [("admin", True), ("moderator", False), ("member", False), ("bot", False), ("guest", False)]
)
def test_who_administers_the_workspace(role: str, expected: bool) -> None:
    bot_admin = Actor(id=8, username="adminbot", display_name="Admin bot", role="admin", is_bot=True)
    assert can_administer(actor(role)) is expected
    assert can_administer(bot_admin) is False


@pytest.mark.parametrize(
    ("role", "shares", "expected"),
    [
        ("admin", False, True),
        ("moderator", False, True),
        ("member", False, True),
        ("bot", False, True),
        ("guest", False, False),
        ("guest", True, True),
    ],
)
def test_who_may_open_a_direct_conversation(role: str, shares: bool, expected: bool) -> None:
    assert can_message_user(actor(role), shares_conversation=shares) is expected


def test_require_names_the_archive_when_only_it_stands_in_the_way() -> None:
    with pytest.raises(Forbidden) as archived:
        require("post", actor("member"), Facts(kind="public", is_member=True, archived=True))
    assert archived.value.code == "conversation_archived"
    with pytest.raises(Forbidden) as refused:
        require("rename", actor("member"), Facts(kind="public", is_member=True, archived=True))
    assert refused.value.code == "not_allowed"
    require("archive", actor("admin"), Facts(kind="public", is_member=False, archived=True))  # unarchive: fine
