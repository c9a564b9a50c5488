"""``chat mail-ingest``: one mail from standard input, through the same ``deliver`` as the receiver.

Postfix's ``pipe`` hands the envelope as arguments (``${sender}``, ``${recipient}``); without them
the sender is the mail's ``Return-Path`` or ``From`` and the recipients are the addresses at
``CHAT_MAIL_DOMAIN`` among ``Delivered-To``, ``To`` and ``Cc``. The exit status is what
sysexits.h and Postfix read (:attr:`chat.mail.inbound.Outcome.exit_code`); a database that
cannot be reached is 75 (``EX_TEMPFAIL``): Postfix keeps the mail and tries again.
"""

from __future__ import annotations

import logging
from email import policy
from email.parser import BytesHeaderParser
from email.utils import getaddresses

from chat.config import Settings
from chat.mail.inbound import deliver
from chat.store.db import Database

log = logging.getLogger(__name__)

EX_TEMPFAIL = 75


def envelope_from_headers(raw: bytes, domain: str) -> tuple[str, list[str]]:
    """The sender and our recipients a mail's headers name, for a pipe that passed no envelope."""
    try:
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw[: 256 * 1024])
        fields = [str(v) for name in ("Delivered-To", "To", "Cc") for v in headers.get_all(name, [])]
        ours = [a.lower() for _, a in getaddresses(fields) if a.lower().endswith("@" + domain)]
        senders = [a for _, a in getaddresses([str(headers.get("Return-Path", "")), str(headers.get("From", ""))])]
    except (ValueError, IndexError, LookupError):
        return "", []
    return next((s for s in senders if "@" in s), ""), list(dict.fromkeys(ours))


async def ingest(settings: Settings, raw: bytes, sender: str | None, recipients: list[str]) -> tuple[int, str]:
    """Deliver ``raw``; the exit status and the reason to print ("" when delivered)."""
    if sender is None or not recipients:
        found_sender, found_recipients = envelope_from_headers(raw, settings.mail_domain)
        sender = found_sender if sender is None else sender
        recipients = recipients or found_recipients
    db = Database(settings.db_url)
    try:
        outcome = await deliver(db, settings, raw, sender, recipients)
    except Exception as exc:  # the database unreachable, or worse: keep the mail queued, say why
        log.warning("mail-ingest: %s", exc)
        return EX_TEMPFAIL, f"the mail could not be delivered now ({exc.__class__.__name__}); try again later"
    finally:
        await db.dispose()
    if outcome.status == "dropped":
        return outcome.exit_code, f"dropped: {outcome.reason}"
    return outcome.exit_code, outcome.reason
