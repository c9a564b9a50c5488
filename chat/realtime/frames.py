"""What the hub writes: event and presence frames, and the envelope events travel in between processes.

An event frame is serialised once per event and a presence entry once per flush, never per
recipient. Between processes (the broker) an event goes as an envelope: one JSON line of routing
facts (:func:`event_header`), a newline, then the frame itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chat.domain.events import Event
from chat.realtime.credentials import revocation_facts
from chat.validation import encode


def event_frame(event: Event) -> bytes:
    """The wire frame of an event: what every recipient receives, byte for byte."""
    return encode({"type": "event", "event": event.public()})


# '{"type":"presence","users":[': the frame is written around entries encoded once per flush
_PRESENCE_OPEN = encode({"type": "presence", "users": []}).decode().removesuffix("]}")


def presence_frame(statuses: Mapping[int, str]) -> str:
    """One presence frame about several users, in user id order; ``statuses`` maps each user to
    their entry's JSON text (:func:`presence_entry`), written once per flush, not per recipient."""
    return _PRESENCE_OPEN + ",".join([statuses[u] for u in sorted(statuses)]) + "]}"


def presence_entry(user_id: int, online: bool) -> str:
    return f'{{"user":{user_id},"status":"{"online" if online else "offline"}"}}'


def envelope(header: Mapping[str, Any], frame: bytes) -> bytes:
    """Routing facts (one JSON line) then the frame. Compact JSON has no raw newline."""
    return encode(header) + b"\n" + frame


def event_header(event: Event) -> dict[str, Any]:
    return {
        "k": "event",
        "id": event.id,
        "kind": event.kind,
        "conversation": event.conversation,
        "audience": event.audience,
        "subject": event.subject_id,
        "members": list(event.members) if event.members is not None else None,
        "role": new_role(event) if event.kind == "user.role_changed" else None,
        "revokes": revocation_facts(event.kind, event.data),
    }


def new_role(event: Event) -> str | None:
    role = event.data.get("role")
    if isinstance(role, str):
        return role
    user = event.data.get("user")
    if isinstance(user, dict) and isinstance(user.get("role"), str):
        return str(user["role"])
    return None
