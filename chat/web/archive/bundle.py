"""The HTML export bundle: a self-contained static archive in a zip, with its events and its verifier.

Layout of the zip::

    index.html            the conversations and their topic pages
    topics/c4-1.html …    one page per topic (per conversation for a date range)
    style.css             the only stylesheet; pages carry no script and no inline style
    messages.jsonl        every message as the JSONL export writes it
    events.jsonl          the chains of the bundle's conversations, from seq 1
    verify.py             chat/archive/verifier.py, verbatim (Python standard library only)
    manifest.json         sha256 of every other file, the chain heads, the scope

The pages open offline and ask for nothing: a Content-Security-Policy meta
``default-src 'none'; style-src 'self'`` and no URL but the stylesheet's and the
messages' own links (plain anchors). Each message body sits between
``<!--body:ID-->`` and ``<!--/body-->`` so the verifier compares it with its event.

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

from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive import verifier
from chat.archive.export import Scope, chain_lines, iter_messages, jsonl_line
from chat.web.i18n import Translator
from chat.web.pages import environment

STATIC_CSS = Path(__file__).resolve().parents[3] / "static" / "css" / "archive.css"
_SPLIT = "<!--messages-->"


@dataclass(frozen=True)
class Bundle:
    path: Path  # the zip
    manifest_sha256: str
    heads: dict[str, dict[str, Any]]
    messages: int


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
) -> Bundle:
    """Write the bundle's files under ``root`` and zip them to ``root/export.zip``."""
    files = root / "bundle"
    digests: dict[str, str] = {}
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
        page.write(message_tpl.render(_=tr, m=record, bundle=True).encode())
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
    }
    manifest["seal"] = verifier.seal(manifest)
    manifest_bytes = verifier.manifest_bytes(manifest)
    _write(files, verifier.MANIFEST, manifest_bytes, {})
    target = root / "export.zip"
    await asyncio.to_thread(_zip, files, sorted([*digests, verifier.MANIFEST]), target)
    return Bundle(target, hashlib.sha256(manifest_bytes).hexdigest(), heads, count)


def _zip(files: Path, names: list[str], target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in names:
            z.write(files / name, name)


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _write(root: Path, name: str, data: bytes, digests: dict[str, str]) -> None:
    (root / name).write_bytes(data)
    digests[name] = hashlib.sha256(data).hexdigest()
