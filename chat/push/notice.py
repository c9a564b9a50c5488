"""What a push notification says: built by the notifier (``chat.mail.notifier``), sent by ``chat.push``.

The payload is JSON the service worker (``static/sw.js``) shows as it is: plain text only
(never markdown or HTML), and a link to the message: absolute (``CHAT_PUBLIC_ORIGIN``) when that is
set, else root-relative, which the service worker resolves against its own origin.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

MAX_BODY_CHARS = 240  # push services cap payloads at about 4 KB; a notification shows a few lines


@dataclass(frozen=True, slots=True)
class PushNotice:
    title: str  # e.g. "Ana in #sales › Q3 tender" or "Ana (direct message)"
    body: str  # the message as plain text, cut to MAX_BODY_CHARS
    url: str  # opens the message in the UI: <CHAT_PUBLIC_ORIGIN>/#/c/<conv>/m/<msg>, or "/#/c/…" when unset
    tag: str  # notifications with the same tag replace each other (one per conversation: "c<id>")
    conversation_id: int
    message_id: int
    # how the push service treats it (``Urgency``: high, else normal); not part of the payload
    urgent: bool = True

    def payload(self) -> bytes:
        data = asdict(self)
        del data["urgent"]
        if len(self.body) > MAX_BODY_CHARS:
            data["body"] = self.body[: MAX_BODY_CHARS - 1].rstrip() + "…"
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


# The notifier's way to push: user id and notice; sends to every subscription of that user.
PushTo = Callable[[int, PushNotice], Awaitable[None]]
