"""The routing table: conversation → member ids, each fact tagged with the event id it is as of.

Membership events carry the member set after the change; database snapshots
(the whole table at start, one user's memberships when a socket attaches) carry
the newest event id they include. A fact only replaces an older one, so a slow
snapshot never undoes a membership event the hub has already applied, and an
event arriving late from another process never undoes a newer one.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping

_NONE: frozenset[int] = frozenset()


class RoutingTable:
    def __init__(self) -> None:
        self._members: dict[int, set[int]] = {}
        self._version: dict[int, int] = {}  # conversation -> id of the event (or snapshot) that set it
        self._convs_of: dict[int, set[int]] = {}  # user -> conversations: the same table, reversed

    def members(self, conv: int) -> set[int] | frozenset[int]:
        """The member ids of ``conv`` (do not mutate)."""
        return self._members.get(conv, _NONE)

    def conversations_of(self, user_id: int) -> set[int] | frozenset[int]:
        return self._convs_of.get(user_id, _NONE)

    def sharing(self, users: Iterable[int], among: Container[int]) -> dict[int, set[int]]:
        """Who of ``among`` shares a conversation with any of ``users``, and with which of them
        (never themselves): one pass over the conversations of ``users``, one set update per
        conversation and member, however many users changed at once."""
        by_conv: dict[int, list[int]] = {}
        for user_id in users:
            for conv in self._convs_of.get(user_id, _NONE):
                by_conv.setdefault(conv, []).append(user_id)
        shared: dict[int, set[int]] = {}
        for conv, users_there in by_conv.items():
            for member in self._members.get(conv, _NONE):
                if member in among:
                    shared.setdefault(member, set()).update(users_there)
        for member, about in shared.items():
            about.discard(member)
        return {member: about for member, about in shared.items() if about}

    def load(self, memberships: Mapping[int, Iterable[int]], *, as_of: int) -> None:
        """The whole table from one snapshot (conversations missing from it have no members)."""
        for conv, users in memberships.items():
            if self._version.get(conv, 0) <= as_of:
                self._replace(conv, set(users))
                self._version[conv] = as_of
        for conv in [c for c in self._members if c not in memberships]:
            if self._version.get(conv, 0) <= as_of:
                self._replace(conv, set())
                self._version[conv] = as_of

    def apply(self, conv: int, members: set[int], event_id: int) -> set[int]:
        """A membership event; returns the users it removed (none if the event is older)."""
        if event_id <= self._version.get(conv, 0):
            return set()
        self._version[conv] = event_id
        return self._replace(conv, members)

    def reconcile(self, user_id: int, conversation_ids: set[int], as_of: int) -> None:
        """One user's memberships from a snapshot, except where a newer event already spoke.

        The conversation's version is left alone: the snapshot says nothing about the others.
        """
        known = self._convs_of.get(user_id, set())
        for conv in conversation_ids - known:
            if self._version.get(conv, 0) <= as_of:
                self._members.setdefault(conv, set()).add(user_id)
                self._convs_of.setdefault(user_id, set()).add(conv)
        for conv in known - conversation_ids:
            if self._version.get(conv, 0) <= as_of:
                self._discard(conv, user_id)

    def _replace(self, conv: int, members: set[int]) -> set[int]:
        old = self._members.get(conv, set())
        for user_id in members - old:
            self._convs_of.setdefault(user_id, set()).add(conv)
        removed = old - members
        for user_id in removed:
            self._discard(conv, user_id)
        if members:
            self._members[conv] = members
        return removed

    def _discard(self, conv: int, user_id: int) -> None:
        members = self._members.get(conv)
        if members is not None:
            members.discard(user_id)
            if not members:
                del self._members[conv]
        convs = self._convs_of.get(user_id)
        if convs is not None:
            convs.discard(conv)
            if not convs:
                del self._convs_of[user_id]
