"""Message search: a query language, full-text matching on both backends, access first.

``parse_query("deadline in:sales from:bob after:2024-01-31")`` gives a frozen
:class:`SearchQuery`; ``search_messages(session, actor, query)`` answers the
messages the actor may read that match, newest first, a page at a time.

The language (Zulip- and Slack-like; operator names are case-insensitive):

* free words: every word must match, in the body or the topic (AND); the last
  bare word also matches as a prefix (``deadl`` finds "deadline").
* ``"a phrase"``: those words next to each other.
* ``in:<conversation>``: a channel or group by name (case-insensitive; quote
  names with spaces) or by id. A conversation the actor may not see is
  ``conversation_not_found``, exactly as for a missing one.
* ``topic:<name>``: that topic (case-insensitive, whitespace normalised), in
  either its open or its resolved ("✔ name") form.
* ``from:<username>`` (a leading ``@`` is allowed); ``has:link``;
  ``has:meeting``; ``has:attachment`` (carries a file); ``has:image`` (carries
  an image); ``is:resolved`` (topic starts with "✔ ").
* file names: a free word or phrase also matches the name of a file the
  message carries (:mod:`chat.channels.search_files`).
* ``before:YYYY-MM-DD`` and ``after:YYYY-MM-DD``: days in UTC, both exclusive
  (``after:2024-01-31`` starts on February 1st), as in Slack.
* An operator the language does not know (``http:``, ``re:``) is plain text;
  a known operator with a bad value, or given twice, is ``bad_query`` (422).

Access: by default only conversations the actor is a member of *now* (a
message moved into a private group the actor is not in drops out of their
results at once). ``in:`` can also name a public channel the actor may view
without being a member (never for guests), as Zulip searches unsubscribed
streams only when asked. Deleted messages never match.

Matching: SQLite uses the FTS5 table ``messages_fts`` (migration 0002,
``unicode61 remove_diacritics 2``: case and accents do not matter);
PostgreSQL uses the GIN expression index on
``to_tsvector('simple', topic || ' ' || body)`` (case does not matter; accents
do). User text never reaches either query language unquoted: each FTS5 term
is a quoted string, and PostgreSQL terms go through ``phraseto_tsquery`` or a
``to_tsquery`` built only from letters and digits.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    any_,
    bindparam,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.attachments import AttachmentOut, load_attachments
from chat.channels.conversations import name_key
from chat.channels.message_commands import (
    RESOLVED_PREFIX,
    normalise_topic,
    resolved_name,
    topic_key,
    unresolved_name,
)
from chat.channels.policy import access_conversation, conversation_not_found
from chat.channels.search_files import Candidates, has_files, named
from chat.channels.search_highlight import Highlighter
from chat.domain.actors import Actor
from chat.errors import Invalid
from chat.store import models
from chat.validation import normalise_space

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_QUERY_CHARS = 500
MAX_TERMS = 20
MIN_PREFIX_CHARS = 2  # a shorter last word is matched whole: "a*" would match half the index

OPERATORS = ("in", "topic", "from", "has", "is", "before", "after")
HAS_VALUES = ("link", "meeting", "attachment", "image")
IS_VALUES = ("resolved",)

_WORD = re.compile(r"[^\W_]+")  # letters and digits: what both full-text tokenizers index
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_TOKEN = re.compile(
    r"""
    (?P<op>[A-Za-z]+):(?:"(?P<qval>[^"]*)"?|(?P<val>[^\s"]*))(?=\s|$)
    | "(?P<phrase>[^"]*)"?
    | (?P<word>\S+)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Term:
    """Free text to match: one word, or a phrase (``"..."``); ``prefix``: the last word may continue."""

    text: str
    phrase: bool = False
    prefix: bool = False

    @property
    def words(self) -> list[str]:
        return _WORD.findall(self.text)


@dataclass(frozen=True)
class SearchQuery:
    terms: tuple[Term, ...] = ()
    conversation: str | None = None  # in: a name or an id
    topic: str | None = None
    author: str | None = None  # from: a username
    has_link: bool = False
    has_meeting: bool = False
    has_attachment: bool = False
    has_image: bool = False
    is_resolved: bool = False
    before: date | None = None
    after: date | None = None


@dataclass(frozen=True)
class SearchHit:
    """One matching message; ``html`` and ``topic_html`` wrap the matched words in ``<mark>``.

    ``id``, ``conversation``, ``topic``, ``author``, ``html``, ``created_at`` and
    ``edited_at`` mean what they mean in a message; the rest names the
    conversation and the author, so a result list needs no further request.
    """

    id: int
    conversation: int
    conversation_name: str | None  # null for direct conversations
    conversation_kind: str
    topic: str
    topic_html: str
    author: int
    author_username: str
    author_display_name: str
    created_at: datetime
    edited_at: datetime | None
    html: str
    attachments: list[AttachmentOut] = field(default_factory=list)  # its files, as in the message


@dataclass(frozen=True)
class SearchResults:
    hits: list[SearchHit]
    has_more: bool
    next_before: int | None  # pass as ``before`` for the next (older) page; null on the last page


# --- parsing ----------------------------------------------------------------------------


def bad_query(message: str, **data: Any) -> Invalid:
    return Invalid("bad_query", message, **data)


def parse_query(raw: str) -> SearchQuery:
    """Parse the search box text; ``bad_query`` (422) for a bad operator value."""
    if len(raw) > MAX_QUERY_CHARS:
        raise bad_query(f"the query is longer than {MAX_QUERY_CHARS} characters", limit=MAX_QUERY_CHARS)
    if "\x00" in raw:
        raise bad_query("the query must not contain NUL characters")
    terms: list[Term] = []
    found: dict[str, Any] = {}
    for match in _TOKEN.finditer(unicodedata.normalize("NFC", raw)):
        op = (match["op"] or "").lower()
        if op in OPERATORS:
            value = normalise_space(match["qval"] if match["qval"] is not None else match["val"] or "")
            _apply_operator(found, op, value)
        elif match["phrase"] is not None:
            terms.append(Term(match["phrase"], phrase=True))
        else:
            terms.append(Term(match[0]))
    terms = [t for t in terms if t.words]
    if len(terms) > MAX_TERMS:
        raise bad_query(f"a query takes at most {MAX_TERMS} words or phrases", limit=MAX_TERMS)
    if terms and not terms[-1].phrase and len(terms[-1].words[-1]) >= MIN_PREFIX_CHARS:
        terms[-1] = Term(terms[-1].text, prefix=True)
    return SearchQuery(terms=tuple(terms), **found)


def _apply_operator(found: dict[str, Any], op: str, value: str) -> None:
    if not value:
        raise bad_query(f"{op}: needs a value", operator=op)
    if op in ("has", "is"):
        allowed = HAS_VALUES if op == "has" else IS_VALUES
        if value.lower() not in allowed:
            choices = ", ".join(f"{op}:{v}" for v in allowed)
            raise bad_query(f"{op}:{value} is not supported (use {choices})", operator=op)
        found[f"{op}_{value.lower()}"] = True
        return
    key = {"in": "conversation", "from": "author"}.get(op, op)
    if key in found:
        raise bad_query(f"{op}: is given twice", operator=op)
    if op in ("before", "after"):
        found[key] = _parse_day(op, value)
    elif op == "from":
        found[key] = value.removeprefix("@")
    else:
        found[key] = value


def _parse_day(op: str, value: str) -> date:
    try:
        if not _DAY.fullmatch(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
        if op == "after" and day == date.max:
            raise ValueError(value)  # no day follows the last one (after: searches from the next midnight)
        return day
    except ValueError:
        raise bad_query(f"{op}: takes a date as YYYY-MM-DD, not {value!r}", operator=op) from None


# --- searching --------------------------------------------------------------------------


async def search_messages(
    session: AsyncSession,
    actor: Actor,
    query: SearchQuery,
    limit: int = DEFAULT_LIMIT,
    before_id: int | None = None,
) -> SearchResults:
    """The messages ``actor`` may read that match ``query``, newest first, older than ``before_id``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid("out_of_range", f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    statement = await search_statement(session, actor, query, limit, before_id)
    rows = (await session.execute(statement)).all()
    has_more = len(rows) > limit
    files = await load_attachments(session, [row.id for row in rows[:limit] if row.redacted_at is None])
    highlighter = Highlighter([(t.words, t.prefix) for t in query.terms])
    hits = [
        SearchHit(
            id=row.id,
            conversation=row.conversation_id,
            conversation_name=row.name,
            conversation_kind=row.kind,
            topic=row.topic,
            topic_html=highlighter.text(row.topic),
            author=row.author_id,
            author_username=row.username,
            author_display_name=row.display_name,
            created_at=row.created_at,
            edited_at=row.edited_at,
            html=highlighter.html(row.html),
            attachments=files.get(row.id, []),
        )
        for row in rows[:limit]
    ]
    return SearchResults(hits=hits, has_more=has_more, next_before=hits[-1].id if has_more else None)


async def search_statement(
    session: AsyncSession, actor: Actor, query: SearchQuery, limit: int, before_id: int | None = None
) -> Select[*tuple[Any, ...]]:
    """The one statement of a search page (``limit + 1`` rows, to tell whether more follow)."""
    m = models.Message
    conversation_id = None
    if query.conversation is not None:
        conversation_id = await _conversation_named(session, actor, query.conversation)

    def candidates(entity: type[models.Message]) -> list[ColumnElement[bool]]:
        """The messages the actor may find: live, in the conversation named or in theirs."""
        if conversation_id is not None:
            return [entity.deleted_at.is_(None), entity.conversation_id == conversation_id]
        mine = select(models.Membership.conversation_id).where(models.Membership.user_id == actor.id)
        return [entity.deleted_at.is_(None), entity.conversation_id.in_(mine)]

    conditions = candidates(m)
    if before_id is not None:
        conditions.append(m.id < before_id)
    conditions += _filters(query)
    if query.terms:
        postgresql = session.get_bind().dialect.name == "postgresql"
        conditions.append(_matching(query.terms, candidates, postgresql=postgresql))
    return _select_hits().where(*conditions).order_by(m.id.desc()).limit(limit + 1)


async def _conversation_named(session: AsyncSession, actor: Actor, value: str) -> int:
    """The conversation ``in:`` names, if the actor may view it (public channels included).

    Private groups the actor is not in may share a name with theirs, so only visible ones are named.
    """
    c = models.Conversation
    mine = select(models.Membership.conversation_id).where(models.Membership.user_id == actor.id)
    visible = (c.kind == "public") | c.id.in_(mine)
    found = await session.scalar(select(c.id).where(c.name_key == name_key(value), visible).order_by(c.id).limit(1))
    if found is None:
        if not value.isdigit() or len(value) > 18:
            raise conversation_not_found()
        found = int(value)
    access = await access_conversation(session, actor, found)
    return access.conversation.id


def _filters(query: SearchQuery) -> list[ColumnElement[bool]]:
    m = models.Message
    out: list[ColumnElement[bool]] = []
    if query.topic is not None:
        name = unresolved_name(normalise_topic(query.topic))
        out.append(m.topic_key.in_(sorted({topic_key(name), topic_key(resolved_name(name))})))
    if query.author is not None:
        author = select(models.User.id).where(models.User.username == query.author.lower())
        out.append(m.author_id == author.scalar_subquery())
    if query.has_link:
        out.append(m.has_link.is_(True))
    if query.has_meeting:
        out.append(m.has_meeting.is_(True))
    if query.has_attachment or query.has_image:
        out += [m.redacted_at.is_(None), has_files(images_only=query.has_image)]
    if query.is_resolved:
        out.append(m.topic.startswith(RESOLVED_PREFIX, autoescape=True))
    if query.before is not None:
        out.append(m.created_at < _midnight(query.before))
    if query.after is not None:
        out.append(m.created_at >= _midnight(query.after + timedelta(days=1)))
    return out


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _select_hits() -> Select[*tuple[Any, ...]]:
    m, u, c = models.Message, models.User, models.Conversation
    return (
        select(
            m.id,
            m.conversation_id,
            m.topic,
            m.author_id,
            m.html,
            m.created_at,
            m.edited_at,
            m.redacted_at,
            u.username,
            u.display_name,
            c.name,
            c.kind,
        )
        .join(u, u.id == m.author_id)
        .join(c, c.id == m.conversation_id)
    )


def _matching(terms: tuple[Term, ...], candidates: Candidates, *, postgresql: bool) -> ColumnElement[bool]:
    """Every term in the text (the full-text index), or each in the text or a file name (``search_files``).

    One set of ids, so the outer scan by id can stop at the page's end: on SQLite, the FTS5
    rowids ``UNION`` the ids found through file names; on PostgreSQL, the GIN index's condition
    ``OR`` a primary-key probe for the ids found through file names (an array, computed once).
    """
    words = [t.words for t in terms]
    m = models.Message
    if postgresql:
        found = named(words, candidates, lambda i, entity: _pg_row_match(terms[i], entity))
        return or_(_pg_match(terms), m.id == any_(func.array(found.scalar_subquery())))
    found = named(words, candidates, lambda i, entity: _fts5_row_match(terms[i], entity))
    return m.id.in_(_fts5_ids(terms).union_all(found))


# SQLite: each term is an FTS5 string ("..." with " doubled), so no FTS syntax gets through.
def _fts5_expression(terms: tuple[Term, ...]) -> str:
    return " AND ".join('"' + t.text.replace('"', '""') + '"' + ("*" if t.prefix else "") for t in terms)


_FTS = table("messages_fts", column("rowid", Integer), column("messages_fts"))


def _fts5_match_clause(terms: tuple[Term, ...]) -> ColumnElement[bool]:
    return _FTS.c.messages_fts.op("MATCH", is_comparison=True)(bindparam(None, _fts5_expression(terms)))


def _fts5_ids(terms: tuple[Term, ...]) -> Select[tuple[Any]]:
    """The rowids the index matches for every term."""
    return select(_FTS.c.rowid).where(_fts5_match_clause(terms))


def _fts5_row_match(term: Term, message: type[models.Message]) -> ColumnElement[bool]:
    """One term against a few rows: the term's rowids, listed once (a probe per row would read
    the term's whole doclist each time)."""
    return message.id.in_(_fts5_ids((term,)))


# PostgreSQL: the very expression of the index ix_messages_search (literal SQL, so the planner can use it).
_PG_DOCUMENT: ColumnElement[Any] = literal_column(
    "to_tsvector('simple'::regconfig, messages.topic || ' ' || messages.body)"
)
_PG_CONFIG: ColumnElement[Any] = literal_column("'simple'::regconfig")


def _pg_match(terms: tuple[Term, ...]) -> ColumnElement[bool]:
    return _PG_DOCUMENT.op("@@", is_comparison=True)(_pg_query(terms))


def _pg_row_match(term: Term, message: type[models.Message]) -> ColumnElement[bool]:
    """One term against one row's text, computed for that row (no index needed for a few rows)."""
    document = func.to_tsvector(_PG_CONFIG, message.topic + " " + message.body)
    return document.op("@@", is_comparison=True)(_pg_query((term,)))


def _pg_query(terms: tuple[Term, ...]) -> ColumnElement[Any]:
    parts: list[ColumnElement[Any]] = []
    for term in terms:
        if term.prefix:
            words = term.words  # letters and digits only: nothing in it is tsquery syntax
            parts.append(func.to_tsquery(_PG_CONFIG, " <-> ".join([*words[:-1], words[-1] + ":*"])))
        else:
            parts.append(func.phraseto_tsquery(_PG_CONFIG, term.text))
    query = parts[0]
    for part in parts[1:]:
        query = query.op("&&")(part)
    return query
