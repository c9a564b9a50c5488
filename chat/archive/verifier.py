"""Check an exported archive bundle: its events' hash chains, its messages, every file.

This module is two things at once, so the checks exist once:

* ``verify.py`` inside every HTML export bundle (its source is copied there
  verbatim by :mod:`chat.archive.bundle`), which an auditor runs with nothing
  but Python: ``python3 verify.py`` (the directory it sits in) or
  ``python3 verify.py BUNDLE.zip|DIRECTORY``;
* what ``chat audit verify --export FILE`` imports.

So it imports only the standard library, never ``chat``. It prints ``OK`` and
exits 0, or prints the first problem and exits 1. The checks, in order:

1. **Files**: ``manifest.json`` lists the sha256 of every other file; a file
   changed, missing or added is a problem. The manifest must be in its written
   form and match its ``seal`` (the sha256 of the rest of it), so a change to
   it is found too.
2. **Chains**: ``events.jsonl`` holds, per chain, every event from ``seq`` 1
   up to the head the manifest names, with exactly the fields the chain hash
   covers (see ``chat/archive/chain.py``), the erasable body and the link
   hashes. Each chain is recomputed from the genesis hash; a body that does not
   match its digest, an edited field, a missing, inserted or reordered event,
   or a head other than the manifest's is a problem. An event meant for others
   than the exporter (staff only, or one user) comes *sealed*: its link (seq,
   prev_hash, hash) keeps the chain continuous, its contents are left out and
   its hash taken as given. The head hashes printed
   can be compared with a checkpoint kept elsewhere (``chat audit checkpoint``).
3. **Messages**: every message in ``messages.jsonl`` and on the HTML pages
   must match the events: its newest body event (post or edit) gives its text
   and HTML, a ``message.deleted`` event its tombstone, and each revision's
   text must be one of its body events. Conversely every message the events
   place in the export's scope (its conversations, its topic names, its date
   range) must be in the bundle, once: a removed message is found.
4. **Attached files**: each message lists the files its ``message.posted``
   event lists (id, name, size, type, sha256: the chain covers them); every file
   under ``files/<sha256>/`` must hash to that sha256 and belong to an exported
   message, and every listed file of at most the manifest's ``max_file_bytes``
   must be there (unless the manifest names it unavailable). A swapped,
   added or removed file is found even if the manifest was rewritten.

What no self-contained bundle can prove by itself: that it was not rebuilt
wholesale by someone who recomputed every digest. That is what the chain heads
are for: ``OK`` prints them and the manifest's sha256, to compare with a
checkpoint kept elsewhere (``chat audit checkpoint``) or with the server's
``archive.exported`` event, which records both.

Limits, on purpose: a body erased from the log (``redacted``) cannot be
compared and shows as redacted; a message moved in from a conversation outside
the bundle has its post in a chain the bundle does not carry, so its text is
covered by the manifest only (counted and printed).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
MANIFEST = "manifest.json"
EVENTS = "events.jsonl"
MESSAGES = "messages.jsonl"
FILES = "files/"  # attached files: files/<sha256>/<name>
FILE_FIELDS = ("id", "name", "size", "content_type", "sha256")  # an attachment as exported
# one message body on an HTML page: <!--body:ID-->stored html<!--/body-->
BODY_MARK = re.compile(r"<!--body:(\d+)-->(.*?)<!--/body-->", re.DOTALL)
_COVERED = (
    "chain",
    "seq",
    "conversation_id",
    "actor_id",
    "subject_id",
    "message_id",
    "audience",
    "kind",
    "payload",
    "created_at",
)
_TOPIC_CHANGES = ("topic.moved", "topic.renamed", "topic.resolved", "topic.unresolved")


class Problem(Exception):
    """The first thing wrong with the bundle."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def event_hash(prev_hash: str, event: dict[str, Any]) -> str:
    """``sha256(prev_hash || canonical(covered fields) || body_digest)``, as ``chat.archive.chain.link_hash``."""
    covered = {name: event[name] for name in _COVERED}
    canonical = json.dumps(covered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sha256_hex(prev_hash.encode() + canonical.encode() + str(event["body_digest"]).encode())


# --- reading a bundle (a directory or a zip) ------------------------------------------------


def read_files(path: Path) -> dict[str, bytes]:
    """Every file of the bundle by its relative name ('/'-separated)."""
    if path.is_dir():
        return {
            p.relative_to(path).as_posix(): p.read_bytes()
            for p in sorted(path.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        }
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            return {info.filename: z.read(info) for info in z.infolist() if not info.is_dir()}
    raise Problem(f"{path} is neither a directory nor a zip file")


def _json_lines(data: bytes, name: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(data.decode().splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            raise Problem(f"{name} line {number} is not JSON") from None
        if not isinstance(value, dict):
            raise Problem(f"{name} line {number} is not an object")
        yield value


# --- the checks -------------------------------------------------------------------------------


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The one way a manifest is written (so a changed space is a change too)."""
    return (json.dumps(manifest, indent=1, ensure_ascii=False, sort_keys=True) + "\n").encode()


def seal(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's canonical form without its ``seal``: binds the file digests,
    the chain heads and the scope to one another."""
    rest = {k: v for k, v in manifest.items() if k != "seal"}
    return sha256_hex(json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())


def check_files(files: dict[str, bytes]) -> dict[str, Any]:
    if MANIFEST not in files:
        raise Problem(f"{MANIFEST} is missing")
    try:
        manifest = json.loads(files[MANIFEST])
        listed: dict[str, str] = manifest["files"]
        sealed = manifest["seal"]
    except (ValueError, KeyError, TypeError):
        raise Problem(f"{MANIFEST} is not a manifest") from None
    if manifest_bytes(manifest) != files[MANIFEST]:
        raise Problem(f"{MANIFEST} was changed (it is not in its written form)")
    if seal(manifest) != sealed:
        raise Problem(f"{MANIFEST} was changed (its seal does not match its contents)")
    for name, digest in sorted(listed.items()):
        if name not in files:
            raise Problem(f"{name} is listed in the manifest but missing")
        if sha256_hex(files[name]) != digest:
            raise Problem(f"{name} was changed (its sha256 differs from the manifest)")
    for name in sorted(files):
        if name != MANIFEST and name not in listed:
            raise Problem(f"{name} is not listed in the manifest (a file was added)")
    return dict(manifest)


def check_chains(events: list[dict[str, Any]], heads: dict[str, Any]) -> None:
    """Recompute each chain from genesis; its length and head must be the manifest's."""
    state: dict[str, tuple[int, str]] = {}
    for event in events:
        try:
            chain, seq = str(event["chain"]), int(event["seq"])
            expected_seq, prev = state.get(chain, (0, GENESIS))
            where = f"event {event['id']} (chain {chain}, seq {seq})"
            if seq != expected_seq + 1:
                raise Problem(f"{where}: seq {expected_seq + 1} was expected (an event was removed or inserted)")
            if event["prev_hash"] != prev:
                raise Problem(f"{where}: prev_hash does not match the previous event (the chain was cut or reordered)")
            if event.get("sealed"):  # meant for others (staff, one user): its link only
                state[chain] = (seq, str(event["hash"]))
                continue
            if event["redacted"] or event.get("withheld"):
                if event["body"] is not None:
                    raise Problem(f"{where}: marked redacted or withheld but carries a body")
            elif sha256_hex(str(event["body"] or "").encode()) != event["body_digest"]:
                raise Problem(f"{where}: its body does not match its digest (the body was altered)")
            if event_hash(prev, event) != event["hash"]:
                raise Problem(f"{where}: its hash does not match its contents (a field was altered)")
        except (KeyError, TypeError, ValueError):
            raise Problem(f"an event of {EVENTS} lacks a field the chain covers") from None
        state[chain] = (seq, str(event["hash"]))
    for chain, head in sorted(heads.items()):
        length, last = state.get(chain, (0, GENESIS))
        if (length, last) != (int(head["length"]), head["head"]):
            raise Problem(f"chain {chain}: {length} events ending {last[:12]}, the manifest says {head['length']}")
    for chain in state:
        if chain not in heads:
            raise Problem(f"chain {chain} is not named in the manifest")


@dataclass
class _Said:
    """What the events say of one message."""

    conversation: int = 0
    topic: str = ""
    created_at: str = ""
    posted: bool = False
    deleted: bool = False
    bodies: list[dict[str, Any] | None] = field(default_factory=list)  # None: that body was erased
    files: list[dict[str, Any]] = field(default_factory=list)  # the attachments its post listed


def _replay(events: list[dict[str, Any]]) -> dict[int, _Said]:
    said: dict[int, _Said] = {}
    for event in sorted(events, key=lambda e: int(e["id"])):
        if event.get("sealed"):
            continue
        kind, data = event["kind"], event["payload"]
        body = None if event["body"] is None else json.loads(event["body"])
        if kind == "message.posted":
            m = data["message"]
            one = said.setdefault(int(m["id"]), _Said())
            one.conversation, one.topic = int(event["conversation_id"]), str(m["topic"])
            one.created_at, one.posted = str(event["created_at"]), True
            one.bodies.append(body)
            one.files = [{k: a[k] for k in FILE_FIELDS} for a in m.get("attachments") or ()]
        elif kind == "message.edited":
            said.setdefault(int(data["message_id"]), _Said()).bodies.append(body)
        elif kind == "message.deleted":
            said.setdefault(int(data["message_id"]), _Said()).deleted = True
        elif kind in _TOPIC_CHANGES:
            to, here = data["to"], int(event["conversation_id"])
            for message_id in data["message_ids"]:
                one = said.setdefault(int(message_id), _Said())
                if to.get("conversation") == here:
                    one.conversation, one.topic = here, str(to["topic"])
                elif one.conversation == here:  # moved out (the other side may hide where: a private group)
                    one.conversation, one.topic = int(to.get("conversation") or 0), str(to["topic"])
    return said


def _in_scope(one: _Said, scope: dict[str, Any]) -> bool:
    if not one.posted or one.conversation not in scope["conversations"]:
        return False
    if scope.get("topics") is not None and one.topic not in scope["topics"]:
        return False
    start, end = scope.get("from"), scope.get("to")
    return not ((start and one.created_at < start) or (end and one.created_at >= end))


def check_messages(files: dict[str, bytes], events: list[dict[str, Any]], scope: dict[str, Any]) -> int:
    """Compare ``messages.jsonl`` and the HTML pages with the events; returns how many were moved in."""
    said = _replay(events)
    seen: set[int] = set()
    hidden: set[int] = set()  # deleted or redacted: no text to compare on the pages
    moved_in = 0
    for message in _json_lines(files.get(MESSAGES, b""), MESSAGES):
        try:
            message_id = int(message["id"])
            moved_in += _check_message(message_id, message, said.get(message_id))
        except (KeyError, TypeError, ValueError):
            raise Problem(f"a line of {MESSAGES} lacks a field") from None
        if message_id in seen:
            raise Problem(f"message {message_id} appears twice in {MESSAGES}")
        one = said.get(message_id)
        if one is not None and one.posted and not _in_scope(one, scope):
            raise Problem(f"message {message_id} is outside the export's scope (a message was added)")
        seen.add(message_id)
        if message["deleted"] is not None or message["redacted"]:
            hidden.add(message_id)
    expected = {mid for mid, one in said.items() if _in_scope(one, scope)}
    missing = sorted(expected - seen)
    if missing:
        raise Problem(f"message {missing[0]} is in the events but missing from {MESSAGES} (a message was removed)")
    on_pages: set[int] = set()
    for name in sorted(n for n in files if n.endswith(".html")):
        for match in BODY_MARK.finditer(files[name].decode()):
            message_id = int(match.group(1))
            one = said.get(message_id)
            if message_id not in seen:
                raise Problem(f"{name}: message {message_id} is not in {MESSAGES}")
            if one is not None and one.bodies and one.bodies[-1] is not None and message_id not in hidden:
                if match.group(2) != one.bodies[-1].get("html", ""):
                    raise Problem(f"{name}: message {message_id} differs from its event (the page was altered)")
            on_pages.add(message_id)
    pages_missing = sorted(seen - on_pages) if any(n.endswith(".html") for n in files) else []
    if pages_missing:
        raise Problem(f"message {pages_missing[0]} is missing from the HTML pages (a message was removed)")
    return moved_in


def _check_message(message_id: int, message: dict[str, Any], one: _Said | None) -> int:
    if one is None:
        raise Problem(f"message {message_id} has no event in the bundle")
    if not one.posted:
        return 1  # moved in from a conversation whose chain is not in the bundle
    if one.deleted != (message["deleted"] is not None):
        raise Problem(f"message {message_id}: its deletion does not match the events")
    listed = [] if one.deleted or message["redacted"] else one.files
    if message.get("attachments", []) != listed:
        raise Problem(f"message {message_id}: its files differ from its event (a file was swapped, added or removed)")
    if one.deleted:
        if message["body"] or message["html"]:
            raise Problem(f"message {message_id} is deleted but shows a body")
        return 0
    latest = one.bodies[-1]
    if latest is None:
        if message["body"]:
            raise Problem(f"message {message_id} shows a body its event erased")
    elif not message["redacted"] and (message["body"], message["html"]) != (latest["body"], latest["html"]):
        raise Problem(f"message {message_id} differs from its newest event (the text was altered)")
    known = {b["body"] for b in one.bodies if b is not None}
    if None not in one.bodies:
        for revision in message["revisions"]:
            if revision["body"] not in known:
                raise Problem(f"message {message_id}: a revision is not in its events (the history was altered)")
    return 0


def check_attached(files: dict[str, bytes], manifest: dict[str, Any]) -> int:
    """The files under ``files/`` against the attachments of ``messages.jsonl`` (already held to the
    events); returns how many are included."""
    listed: dict[str, dict[str, Any]] = {}
    for message in _json_lines(files.get(MESSAGES, b""), MESSAGES):
        for a in message.get("attachments", []):
            listed[str(a["sha256"])] = a
    present: set[str] = set()
    for name in sorted(n for n in files if n.startswith(FILES)):
        parts = name[len(FILES) :].split("/")
        if len(parts) != 2 or parts[0] not in listed:
            raise Problem(f"{name} belongs to no exported message (a file was added)")
        if sha256_hex(files[name]) != parts[0]:
            raise Problem(f"{name} does not match its sha256 (the file was swapped)")
        present.add(parts[0])
    limit = int(manifest.get("max_file_bytes", -1))
    unavailable = set(manifest.get("files_unavailable", []))
    for sha256, a in sorted(listed.items()):
        if int(a["size"]) <= limit and sha256 not in unavailable and sha256 not in present:
            raise Problem(f"the file {a['name']} ({sha256}) is missing (a file was removed)")
    return sum(1 for n in files if n.startswith(FILES))


@dataclass(frozen=True)
class Verified:
    files: int
    events: int
    messages: int
    moved_in: int
    heads: dict[str, Any]
    manifest_sha256: str
    sealed: int = 0
    attached: int = 0


def verify_bundle(path: Path) -> Verified:
    """Every check, in order; raises :class:`Problem` with the first failure."""
    files = read_files(path)
    manifest = check_files(files)
    events = list(_json_lines(files.get(EVENTS, b""), EVENTS))
    try:
        heads, scope = manifest["chains"], manifest["scope"]
        check_chains(events, heads)
        moved_in = check_messages(files, events, scope)
        attached = check_attached(files, manifest)
    except (KeyError, TypeError, ValueError):
        raise Problem(f"{MANIFEST} lacks its chains or scope, or a file is not listed right") from None
    messages = sum(1 for _ in _json_lines(files.get(MESSAGES, b""), MESSAGES))
    if messages != manifest.get("messages"):
        raise Problem(f"{MESSAGES} holds {messages} messages, the manifest says {manifest.get('messages')}")
    sealed = sum(1 for e in events if e.get("sealed"))
    return Verified(len(files), len(events), messages, moved_in, heads, sha256_hex(files[MANIFEST]), sealed, attached)


def report(verified: Verified) -> str:
    lines = [f"OK: {verified.files} files, {verified.events} events, {verified.messages} messages"]
    if verified.attached:
        lines.append(f"  {verified.attached} attached files, each matching the sha256 of its event")
    for chain, head in sorted(verified.heads.items()):
        lines.append(f"  chain {chain}: {head['length']} events, head {head['head']}")
    lines.append(f"  manifest sha256 {verified.manifest_sha256} (recorded in the archive.exported event)")
    if verified.sealed:
        lines.append(f"  {verified.sealed} events sealed (meant for staff or one user): their contents are not checked")
    if verified.moved_in:
        lines.append(f"  {verified.moved_in} messages moved in from other conversations: covered by the manifest only")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else Path(__file__).resolve().parent
    try:
        print(report(verify_bundle(target)))
    except Problem as problem:
        print(f"FAILED: {problem}")
        return 1
    except (OSError, UnicodeDecodeError, zipfile.BadZipFile) as error:
        print(f"FAILED: cannot read the bundle: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
