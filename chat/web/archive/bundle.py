"""The HTML export bundle: a self-contained static archive in a zip, with its events and its verifier.

Layout of the zip::

    index.html            the conversations and their topic pages
    topics/c4-1.html …    one page per topic (per conversation for a date range)
    style.css             the only stylesheet; pages carry no script and no inline style
    messages.jsonl        every message as the JSONL export writes it
    files/<sha256>/<name> the files the messages carry, each at most ``max_file_bytes``
    events.jsonl          the chains of the bundle's conversations, from seq 1
    verify.py             chat/archive/verifier.py, verbatim (Python standard library only)
    manifest.json         sha256 of every other file, the chain heads, the scope

The pages open offline and ask for nothing: a Content-Security-Policy meta
``default-src 'none'; style-src 'self'`` and no URL but the stylesheet's and the
messages' own links (plain anchors). Each message body sits between
``<!--body:ID-->`` and ``<!--/body-->`` so the verifier compares it with its event.

Files: each attachment of an exported message (deleted and erased ones list
none) is copied from the file store when it is at most ``max_file_bytes``
(default :data:`DEFAULT_MAX_FILE_BYTES`; 0: no file), hashed on the way: bytes
that do not hash to their sha256 (a swapped blob) or a blob missing from the
store are left out and named in the manifest's ``files_unavailable``. Larger
files are listed on the pages, said not to be included. The verifier checks
each included file against the sha256 the ``message.posted`` event carries.

Built in a temporary directory, one file at a time (messages and events are
read in keyset batches from one read snapshot: memory stays flat), then zipped
to a temporary file the response streams. The caller removes the directory.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive import verifier
from chat.archive.export import Scope, chain_lines, iter_messages, jsonl_line
from chat.files.sniff import clean_file_name
from chat.files.storage import BlobStore
from chat.web.i18n import Translator
from chat.web.pages import environment

STATIC_CSS = Path(__file__).resolve().parents[3] / "static" / "css" / "archive.css"
DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024  # per file; larger files are listed, not included
COPY_CHUNK = 1024 * 1024
_SPLIT = "<!--messages-->"


@dataclass(frozen=True)
class Bundle:
    path: Path  # the zip
    manifest_sha256: str
    heads: dict[str, dict[str, Any]]
    messages: int
    files: dict[str, int]  # attached files included, too large, unavailable


@dataclass
class _Page:
    name: str
    conversation_id: int
    title: str
    messages: int = 0


class _Hashed:
    """A file written once, its sha256 kept."""

    def __init__(self, root: Path, name: str) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.file: IO[bytes] = path.open("wb")
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.hash.update(data)
        self.file.write(data)

    def close(self, digests: dict[str, str]) -> None:
        self.file.close()
        digests[self.name] = self.hash.hexdigest()


async def build_bundle(
    session: AsyncSession,
    root: Path,
    scope: Scope,
    *,
    titles: dict[int, str],
    topic: str | None,
    withhold: frozenset[int],
    sealed_audiences: frozenset[str],
    sealed_messages: frozenset[int] = frozenset(),
    tr: Translator,
    exported_by: str,
    exported_at: str,
    blobs: BlobStore | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Bundle:
    """Write the bundle's files under ``root`` and zip them to ``root/export.zip``."""
    files = root / "bundle"
    digests: dict[str, str] = {}
    carried = _Carried(files, blobs, max_file_bytes, digests)
    pages: list[_Page] = []
    topic_names: set[str] = set()
    count = 0
    messages = _Hashed(files, verifier.MESSAGES)
    page: _Hashed | None = None
    current: tuple[int, str] | None = None
    env = environment()
    message_tpl = env.get_template("archive/_message.html")
    frame = env.get_template("archive/bundle_page.html")
    tail = ""
    async for key, record in iter_messages(session, scope):
        count += 1
        topic_names.add(record["topic"])
        messages.write(jsonl_line(record))
        group = (record["conversation_id"], "" if scope.dated else key)
        if page is None or group != current:
            if page is not None:
                page.write(tail.encode())
                page.close(digests)
            current = group
            title = record["topic"] if not scope.dated else titles.get(group[0], "")
            pages.append(_Page(f"topics/c{group[0]}-{len(pages) + 1}.html", group[0], title))
            page = _Hashed(files, pages[-1].name)
            head, tail = frame.render(_=tr, lang=tr.lang, conversation=titles.get(group[0], ""), title=title).split(
                _SPLIT
            )
            page.write(head.encode())
        pages[-1].messages += 1
        await carried.add(record["attachments"])
        page.write(message_tpl.render(_=tr, m=record, bundle=True, carried=carried).encode())
    if page is not None:
        page.write(tail.encode())
        page.close(digests)
    messages.close(digests)
    heads = {}
    events = _Hashed(files, verifier.EVENTS)
    for conversation_id in scope.conversation_ids:
        chain = f"c{conversation_id}"
        length, last = 0, verifier.GENESIS
        async for line in chain_lines(
            session, chain, withhold=withhold, sealed_audiences=sealed_audiences, sealed_messages=sealed_messages
        ):
            events.write((json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n").encode())
            length, last = line["seq"], line["hash"]
        heads[chain] = {"length": length, "head": last}
    events.close(digests)
    index = env.get_template("archive/bundle_index.html").render(
        _=tr,
        lang=tr.lang,
        pages=pages,
        titles=titles,
        scope=scope,
        topic=topic,
        count=count,
        exported_at=exported_at,
        exported_by=exported_by,
        carried=carried,
    )
    _write(files, "index.html", index.encode(), digests)
    _write(files, "style.css", _read(STATIC_CSS), digests)
    _write(files, "verify.py", _read(Path(verifier.__file__)), digests)
    manifest = {
        "files": dict(sorted(digests.items())),
        "chains": heads,
        "scope": {
            "conversations": list(scope.conversation_ids),
            "topics": sorted(topic_names | {topic}) if topic is not None else None,
            "from": scope.start.isoformat(timespec="microseconds") if scope.start else None,
            "to": scope.end.isoformat(timespec="microseconds") if scope.end else None,
        },
        "messages": count,
        "max_file_bytes": max_file_bytes,
        "files_unavailable": sorted(carried.unavailable),
    }
    manifest["seal"] = verifier.seal(manifest)
    manifest_bytes = verifier.manifest_bytes(manifest)
    _write(files, verifier.MANIFEST, manifest_bytes, {})
    target = root / "export.zip"
    await asyncio.to_thread(_zip, files, sorted([*digests, verifier.MANIFEST]), target)
    return Bundle(target, hashlib.sha256(manifest_bytes).hexdigest(), heads, count, carried.summary())


def _zip(files: Path, names: list[str], target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in names:  # attached files are mostly compressed already: stored as they are
            z.write(files / name, name, zipfile.ZIP_STORED if name.startswith(verifier.FILES) else None)


class _Carried:
    """The attached files of the bundle: which are included (copied and checked), which are not."""

    def __init__(self, root: Path, blobs: BlobStore | None, max_bytes: int, digests: dict[str, str]) -> None:
        self.root, self.blobs, self.max_bytes, self.digests = root, blobs, max_bytes, digests
        self.included: dict[tuple[str, str], str] = {}  # (sha256, name) -> path in the bundle
        self.unavailable: set[str] = set()  # sha256 of files the store could not give intact
        self.too_large = 0

    def href(self, sha256: str, name: str) -> str | None:
        """The included file's address from a topic page, or None."""
        path = self.included.get((sha256, name))
        return None if path is None else "../" + quote(path)

    async def add(self, attachments: list[dict[str, Any]]) -> None:
        for a in attachments:
            key = (str(a["sha256"]), str(a["name"]))
            if key in self.included or key[0] in self.unavailable:
                continue
            if int(a["size"]) > self.max_bytes or self.blobs is None:
                self.too_large += 1
                continue
            path = f"{verifier.FILES}{key[0]}/{clean_file_name(key[1])}"
            digest = await asyncio.to_thread(_copy, self.blobs, key[0], self.root / path)
            if digest != key[0]:
                (self.root / path).unlink(missing_ok=True)
                self.unavailable.add(key[0])
                continue
            self.included[key] = path
            self.digests[path] = digest

    def summary(self) -> dict[str, int]:
        return {"included": len(self.included), "too_large": self.too_large, "unavailable": len(self.unavailable)}


def _copy(blobs: BlobStore, sha256: str, target: Path) -> str | None:
    """Copy a stored blob, hashing it on the way; None when the store has no such blob."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    try:
        with blobs.open(sha256) as source, target.open("wb") as out:
            while chunk := source.read(COPY_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except (FileNotFoundError, ValueError):
        target.unlink(missing_ok=True)
        return None
    return digest.hexdigest()


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _write(root: Path, name: str, data: bytes, digests: dict[str, str]) -> None:
    (root / name).write_bytes(data)
    digests[name] = hashlib.sha256(data).hexdigest()
