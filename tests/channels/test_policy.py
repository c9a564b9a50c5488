"""The access policy as a truth table: every role x kind x membership x archived x action.

The expected answers are written out by hand below, one row per situation;
they are not recomputed from the policy's own rules.
"""

from __future__ import annotations

import pytest

from chat.channels.policy import Action, Facts, Kind, allowed, can_create, can_message_user, require
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
admin     private no  no   | -    -    -    -     -     -     -  -  -    -    -      -    -    -
admin     private no  yes  | -    -    -    -     -     -     -  -  -    -    -      -    -    -
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
    ("role", "expected"), [("admin", True), ("moderator", True), ("member", True), ("bot", True), ("guest", False)]
)
def test_who_creates_channels_and_groups(role: str, expected: bool) -> None:
    assert can_create(actor(role), "public") is expected
    assert can_create(actor(role), "private") is expected
    assert can_create(actor(role), "direct") is False  # direct conversations are opened, not created


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
