"""The archive's access rules as a truth table (``policy.can_read_archive``, ``can_export_compliance``).

Kept beside ``test_policy.py`` rather than as two more columns of its table, which every helper of
issue 11 edits at once. Written out by hand, not recomputed from the rules.
"""

from __future__ import annotations

import pytest

from chat.channels.policy import Kind, can_export_compliance, can_read_archive
from chat.domain.actors import Actor

# read: browse and export the conversation's archive; comp: export across conversations
TABLE = """
# role    kind    in  | read comp
admin     public  no  | Y    Y
admin     private no  | Y    Y
admin     direct  no  | Y    Y
admin     private yes | Y    Y
moderator public  no  | Y    -
moderator private no  | -    -
moderator direct  no  | -    -
moderator private yes | Y    -
member    public  no  | Y    -
member    private no  | -    -
member    direct  no  | -    -
member    direct  yes | Y    -
bot       public  no  | Y    -
bot       private no  | -    -
adminbot  private no  | -    -
adminbot  public  no  | Y    -
guest     public  no  | -    -
guest     public  yes | Y    -
guest     private yes | Y    -
guest     direct  no  | -    -
"""


def actor(role: str) -> Actor:
    if role == "bot":
        return Actor(id=9, username="bot", display_name="Bot", role="member", is_bot=True)
    if role == "adminbot":
        return Actor(id=9, username="bot", display_name="Bot", role="admin", is_bot=True)
    return Actor(id=1, username=role, display_name=role, role=role, is_bot=False)


def rows() -> list[tuple[str, Kind, bool, bool, bool]]:
    out = []
    for line in TABLE.strip().splitlines():
        if line.startswith("#"):
            continue
        left, right = line.split("|")
        role, kind, member = left.split()
        read, comp = right.split()
        out.append((role, kind, member == "yes", read == "Y", comp == "Y"))  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize(("role", "kind", "is_member", "read", "comp"), rows())
def test_archive_rules(role: str, kind: Kind, is_member: bool, read: bool, comp: bool) -> None:
    who = actor(role)
    assert can_read_archive(who, kind, is_member) == read
    assert can_export_compliance(who) == comp
