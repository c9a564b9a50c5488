"""Search over the files messages carry: ``has:attachment``, ``has:image`` and file names.

:mod:`chat.channels.search` owns the query language and the candidate set (the
conversations the reader may see, live messages only); this module adds the
conditions that look at ``message_attachments`` and ``uploads``:

* ``has:attachment``: the message carries at least one file; ``has:image``: at
  least one whose sniffed type is ``image/*``. Both are a semi-join on
  ``message_attachments`` (its primary key starts with ``message_id``), so the
  smaller side drives.
* **File names**: a free word also matches a message one of whose files has it
  in its name (``tender`` finds a message carrying ``tender-Q3.pdf`` and no
  text at all). Each term of the query must match somewhere: in the text (the
  full-text index, as before) or in a file name, so ``tender budget`` finds
  ``tender-Q3.pdf`` posted with "the budget".

How, without a new index (no migration): :func:`named` gives the ids of the
messages found through their files, starting from the files whose name holds
one of the query's words (a scan of ``uploads``, the small table), then their
``message_attachments`` rows by ``upload_id``, then those messages, kept only
if they are candidates (the reader's conversations, live, not erased) and
every term is in their text or one of their names. The full-text condition
stays as it was and is answered by its index; the caller joins the two sets so
that the outer scan by id can still stop at the end of a page (SQLite: the
FTS5 rowids ``UNION ALL`` these ids in one ``IN`` list; PostgreSQL: the GIN
condition ``OR id = ANY(ARRAY(...))``, which the planner turns into a
``BitmapOr`` of the two indexes). Checking one term against a candidate's
text reads that term's matches once (one list per term), not once per row.

A name *contains* a term when it holds the term's words in that order, in any
case: ``tender q3`` matches ``tender-Q3.pdf``, ``"q3 tender"`` does not. It is
a substring match (``art`` finds ``chart.png``), as file finders do; accents
count, and SQLite folds the case of ASCII letters only. Words are letters and
digits, so nothing of a query reaches a ``LIKE`` pattern as a wildcard.

The cost without an index on names is one scan of ``uploads`` per search with
terms; a name index would need a migration (an FTS5 table over ``uploads.name``
on SQLite, a GIN index on its ``tsvector`` on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import aliased

from chat.store import models

# one term of the query as the words it holds (letters and digits only)
Words = Sequence[str]
# the candidate-set conditions on a ``messages`` entity (the outer one, or an alias of it)
Candidates = Callable[[type[models.Message]], list[ColumnElement[bool]]]
IMAGE_PREFIX = "image/"


def has_files(*, images_only: bool) -> ColumnElement[bool]:
    """``has:attachment`` (``images_only=False``) or ``has:image``."""
    ma, u = models.MessageAttachment, models.Upload
    carried = select(ma.message_id)
    if images_only:
        carried = carried.join(u, u.id == ma.upload_id).where(u.content_type.startswith(IMAGE_PREFIX))
    return models.Message.id.in_(carried)


def name_pattern(words: Words) -> str:
    """``LIKE`` pattern for a term: its words in order, anything around and between them."""
    return "%" + "%".join(w.lower() for w in words) + "%"


def named(
    terms: Sequence[Words],
    candidates: Candidates,
    text_term: Callable[[int, type[models.Message]], ColumnElement[bool]],
) -> Select[Any]:
    """The ids of the candidate messages found through their files: at least one term is in a
    file's name, and every term is in the message's text or one of its file names.

    ``candidates(entity)``: the candidate-set conditions on a ``messages`` entity (the reader's
    conversations, live messages); ``text_term(i, entity)``: the full-text condition for term ``i``
    alone, on that entity's row. Not correlated with the outer query: planned and run once.
    """
    ma, u = models.MessageAttachment, models.Upload
    carrier = aliased(models.Message, name="carrier")
    per_term = [or_(_named_here(words, carrier), text_term(i, carrier)) for i, words in enumerate(terms)]
    matching_files = select(u.id).where(or_(*(_name_has(u, words) for words in terms)))
    return (
        select(carrier.id)
        .join(ma, ma.message_id == carrier.id)
        .where(ma.upload_id.in_(matching_files), *candidates(carrier), carrier.redacted_at.is_(None), *per_term)
    )


def _name_has(upload: type[models.Upload], words: Words) -> ColumnElement[bool]:
    return func.lower(upload.name).like(name_pattern(words))


def _named_here(words: Words, message: type[models.Message]) -> ColumnElement[bool]:
    """One of this message's files has ``words`` in its name (a probe of the message's own rows)."""
    ma = aliased(models.MessageAttachment, name="other_file")
    u = aliased(models.Upload, name="other_upload")
    return exists().where(ma.message_id == message.id, u.id == ma.upload_id, _name_has(u, words))
