"""Reading one inbound mail, defensively: bounded, never trusting its structure or its charsets.

``parse_mail(raw, max_bytes)`` returns a :class:`ParsedMail` or raises :class:`MailRefused`
with a reason a sender can read. In order:

1. The size is checked before a byte is parsed (``max_bytes``, ``CHAT_MAIL_MAX_BYTES``).
2. The header block is bounded (:data:`MAX_HEADER_BYTES` in all, :data:`MAX_HEADERS` fields),
   then the standard library parses it (``BytesParser(policy=policy.default)``).
3. The MIME tree is walked with explicit limits: :data:`MAX_DEPTH` levels of nesting,
   :data:`MAX_PARTS` parts. Structural defects (a multipart without its boundary) refuse the
   mail as malformed; a part in an unknown or wrong charset is decoded with replacement
   characters instead.
4. The text is the first ``text/plain`` part that is not an attachment, else the first
   ``text/html`` one turned into text (``nh3`` strips every tag); attachments are the parts
   with a file name or an ``attachment`` disposition, their bytes decoded from base64 or
   quoted-printable.

It never touches the database: the caller (``chat.mail.inbound``) decides what the mail is for.
Quoted text and signatures are removed by :func:`strip_reply` (``mail-parser-reply``).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from email import errors, policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses

import nh3
from mailparser_reply import EmailReplyParser  # type: ignore[import-untyped]

MAX_DEPTH = 10
MAX_PARTS = 100
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 200
MAX_ATTACHMENTS = 10  # as many as one message carries
REPLY_LANGUAGES = ["en", "fr"]

_STRUCTURAL = (
    errors.NoBoundaryInMultipartDefect,
    errors.StartBoundaryNotFoundDefect,
    errors.MultipartInvariantViolationDefect,
)
_ID = re.compile(r"<[^<>\s]{1,250}>")


class MailRefused(Exception):
    """A mail Salon will not store; ``reason`` is said to the sender, ``kind`` picks the answer.

    ``kind``: ``malformed`` (SMTP 550, exit 65), ``too_large`` (552, exit 65), ``address``
    (550, exit 67: unknown, forged or stale address, or a sender who may not post), ``temporary``
    (450, exit 75: rate limited, database unreachable).
    """

    def __init__(self, reason: str, kind: str = "malformed") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


@dataclass(frozen=True)
class Attachment:
    name: str
    data: bytes


@dataclass(frozen=True)
class ParsedMail:
    message_id: str  # "" when the mail has none
    references: tuple[str, ...]  # In-Reply-To first, then References, newest first
    subject: str
    from_address: str  # lower case, "" when there is no usable From
    from_name: str
    text: str  # the body as text, quotes not yet stripped
    attachments: tuple[Attachment, ...] = ()
    auto: str | None = None  # why this is an automatic mail (dropped), or None
    headers: dict[str, str] = field(default_factory=dict)
    auth_results: tuple[str, ...] = ()  # the Authentication-Results header fields, as they came


def parse_headers(raw: bytes, max_bytes: int) -> ParsedMail:
    """The mail's headers only (its size checked, its bounded header block parsed): enough to know
    who it is for and from, and to refuse it, before its body is read. ``text`` is empty."""
    if len(raw) > max_bytes:
        raise MailRefused(f"this mail is larger than {max_bytes} bytes", "too_large")
    block = _check_header_block(raw)
    try:
        message = BytesParser(policy=policy.default).parsebytes(block + b"\r\n\r\n", headersonly=True)
    except (RecursionError, ValueError, LookupError, errors.MessageError) as exc:
        raise MailRefused(f"this mail cannot be read: {exc.__class__.__name__}") from None
    return _parsed(message, "", ())


def parse_mail(raw: bytes, max_bytes: int) -> ParsedMail:
    if len(raw) > max_bytes:
        raise MailRefused(f"this mail is larger than {max_bytes} bytes", "too_large")
    _check_header_block(raw)
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except (RecursionError, ValueError, LookupError, errors.MessageError) as exc:
        raise MailRefused(f"this mail cannot be read: {exc.__class__.__name__}") from None
    assert isinstance(message, EmailMessage)  # noqa: S101 - policy.default makes EmailMessage
    parts = _walk(message)
    return _parsed(message, _body_text(parts), _attachments(parts))


def _parsed(message: Message, text: str, attachments: tuple[Attachment, ...]) -> ParsedMail:
    from_name, from_address = _from(message)
    return ParsedMail(
        message_id=_ids(_header(message, "Message-ID"))[0] if _ids(_header(message, "Message-ID")) else "",
        references=(*_ids(_header(message, "In-Reply-To")), *reversed(_ids(_header(message, "References")))),
        subject=_header(message, "Subject"),
        from_address=from_address,
        from_name=from_name,
        text=text,
        attachments=attachments,
        auto=_automatic(message),
        auth_results=tuple(_all(message, "Authentication-Results")),
    )


def _check_header_block(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    block = raw if end < 0 else raw[:end]
    if len(block) > MAX_HEADER_BYTES:
        raise MailRefused(f"the headers of this mail are larger than {MAX_HEADER_BYTES} bytes")
    fields = sum(1 for line in block.splitlines() if line[:1] not in (b" ", b"\t"))
    if fields > MAX_HEADERS:
        raise MailRefused(f"this mail has more than {MAX_HEADERS} header fields")
    if not block.strip() or b":" not in block.split(b"\n", 1)[0]:
        raise MailRefused("this mail does not start with a header block")
    return block


def _header(message: Message, name: str) -> str:
    """A header's decoded value ("" when absent or undecodable), whitespace collapsed."""
    try:
        value = message.get(name)
    except (ValueError, LookupError, IndexError, errors.HeaderParseError):
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _all(message: Message, name: str) -> list[str]:
    try:
        values = message.get_all(name, [])
    except (ValueError, LookupError, IndexError, errors.HeaderParseError):
        return []
    return [" ".join(str(value).split()) for value in values][:20]


def _ids(value: str) -> list[str]:
    return [found.lower() for found in _ID.findall(value)][:50]


def _from(message: Message) -> tuple[str, str]:
    try:
        pairs = getaddresses([str(message.get("From", ""))])
    except (ValueError, IndexError, errors.HeaderParseError):
        return "", ""
    usable = [(name, address) for name, address in pairs if "@" in address and len(address) <= 254]
    if len(usable) != 1:  # none, or several authors: nobody in particular (DMARC checks one domain)
        return "", ""
    name, address = usable[0]
    return name.strip()[:60], address.strip().lower()


def _walk(message: Message) -> list[Message]:
    """Every leaf part, in order, within the depth and part limits; malformed structure refused."""
    leaves: list[Message] = []
    count = 0
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        count += 1
        if count > MAX_PARTS:
            raise MailRefused(f"this mail has more than {MAX_PARTS} MIME parts")
        if depth > MAX_DEPTH:
            raise MailRefused(f"this mail nests MIME parts more than {MAX_DEPTH} levels deep")
        if any(isinstance(defect, _STRUCTURAL) for defect in part.defects):
            raise MailRefused("this mail's MIME structure is malformed (a multipart without its boundary)")
        if part.is_multipart():
            payload = part.get_payload()
            if not isinstance(payload, list):
                raise MailRefused("this mail's MIME structure is malformed")
            stack.extend((child, depth + 1) for child in reversed(payload) if isinstance(child, Message))
        else:
            leaves.append(part)
    return leaves


def _is_attachment(part: Message) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    return disposition == "attachment" or (bool(part.get_filename()) and part.get_content_maintype() != "text")


def _decoded_text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return data.decode("utf-8", errors="replace")


def _body_text(parts: list[Message]) -> str:
    texts = [p for p in parts if not _is_attachment(p)]
    for part in texts:
        if part.get_content_type() == "text/plain":
            return _decoded_text(part)
    for part in texts:
        if part.get_content_type() == "text/html":
            return html_to_text(_decoded_text(part))
    return ""


def html_to_text(markup: str) -> str:
    """Text of an HTML body: line breaks where blocks end, every tag stripped, entities decoded."""
    markup = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", "", markup)
    markup = re.sub(r"(?i)<br\s*/?>|</(p|div|li|tr|h[1-6]|blockquote)\s*>", "\n", markup)
    text = html.unescape(nh3.clean(markup, tags=set()))
    return re.sub(r"\n{3,}", "\n\n", text)


def _attachments(parts: list[Message]) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    for part in parts:
        if not _is_attachment(part):
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or not data:
            continue
        if len(found) == MAX_ATTACHMENTS:
            raise MailRefused(f"this mail has more than {MAX_ATTACHMENTS} attachments")
        found.append(Attachment(part.get_filename() or "attachment", data))
    return tuple(found)


# --- automatic mail: loops, auto-replies, bounces, lists -------------------------------------


def _automatic(message: Message) -> str | None:
    auto_submitted = _header(message, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto_submitted}"
    precedence = _header(message, "Precedence").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "List-Id", "List-Unsubscribe"):
        if message.get(name) is not None:
            return f"{name} present"
    return None


def is_automatic_sender(address: str) -> bool:
    """Bounces and mail systems: an empty envelope sender, MAILER-DAEMON, postmaster."""
    local = address.strip().strip("<>").split("@", 1)[0].lower()
    return not address.strip("<> ") or local in ("mailer-daemon", "postmaster")


# --- the reply's own text ---------------------------------------------------------------------


def strip_reply(text: str) -> str:
    """The new text of a reply: quoted mail, "On … wrote:" / "Le … a écrit :" headers and the
    signature removed (``mail-parser-reply``, English and French), then any ``>`` lines left."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    replies = EmailReplyParser(languages=REPLY_LANGUAGES).read(text).replies
    kept = replies[0].body if replies else text
    lines = [line for line in kept.split("\n") if not line.lstrip().startswith(">")]
    return "\n".join(lines).strip()


# --- who sent it: DMARC, as the MX recorded it ----------------------------------------------

_COMMENT = re.compile(r"\([^()]*\)")


def dmarc_pass(results: tuple[str, ...], authserv_id: str, from_address: str) -> bool:
    """Whether an ``Authentication-Results`` field (RFC 8601) of ``authserv_id`` says ``dmarc=pass``
    with ``header.from`` the domain of ``from_address``. Fields of any other authserv-id are not
    read: the MX that writes them must remove those the sender wrote (or forged) itself."""
    domain = from_address.rpartition("@")[2].lower()
    if not authserv_id or not domain:
        return False
    for value in results:
        text = value
        while _COMMENT.search(text):
            text = _COMMENT.sub(" ", text)
        text = re.sub(r"\s*=\s*", "=", text)
        head, *resinfos = (part.strip() for part in text.split(";"))
        if not head or head.split()[0].lower() != authserv_id.lower():
            continue
        for resinfo in resinfos:
            tokens = resinfo.lower().split()
            if not tokens or tokens[0] != "dmarc=pass":
                continue
            props = dict(token.split("=", 1) for token in tokens[1:] if "=" in token)
            if props.get("header.from", "").strip('"') == domain:
                return True
    return False
