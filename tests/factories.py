"""A fixed cast of users, built through the real actions.

gus is created directly as a guest rather than through an invitation: an
invitation needs a conversation, and a conversation in every test's baseline
would change the row and event counts other tests start from.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat.accounts.users import actor_of, create_user
from chat.domain.actors import Actor, Role
from chat.store.db import Database


def password_of(username: str) -> str:
    return f"{username}-secret-pw"


@dataclass(frozen=True)
class Cast:
    alice: Actor  # admin (the first account)
    maya: Actor  # moderator
    bob: Actor  # member
    carol: Actor  # member
    gus: Actor  # guest
    robot: Actor  # bot owned by alice


async def make_cast(db: Database) -> Cast:
    actors: dict[str, Actor] = {}
    async with db.transaction() as s:
        staff: tuple[tuple[str, Role], ...] = (
            ("alice", "admin"),
            ("maya", "moderator"),
            ("bob", "member"),
            ("carol", "member"),
        )
        for name, role in staff:
            user = await create_user(s, username=name, password=password_of(name), role=role, display_name=name.title())
            actors[name] = actor_of(user)
        gus = await create_user(s, username="gus", password=password_of("gus"), role="guest", display_name="Gus Guest")
        actors["gus"] = actor_of(gus)
        robot = await create_user(s, username="robot", password=None, role="member", bot_owner_id=actors["alice"].id)
        actors["robot"] = actor_of(robot)
    return Cast(**actors)
