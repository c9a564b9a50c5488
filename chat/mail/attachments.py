"""A mail's attachments as uploads: the same checks as ``POST /api/v1/uploads``, without a request.

``store_attachments`` runs, per file and before any database write, what the upload endpoint
runs (``chat.web.api.uploads``): the size limit (``upload_max_bytes``), the type sniffed from
the bytes (never the mail's ``Content-Type``), the scan command, the preview (an image too
large to decode is refused), then the content-addressed store. A refusal refuses the whole
mail (:class:`MailRefused`). The rows are recorded later, in the delivery's transaction, as
the poster's uploads (``chat.channels.uploads.record_upload``, quota checked there): bytes of a
mail refused after this point belong to no row, and the hourly file cleanup removes them.
"""

from __future__ import annotations

from chat.channels.uploads import NewUpload, keep_file
from chat.config import Settings
from chat.errors import Invalid
from chat.files.sniff import SNIFF_BYTES, clean_file_name, sniff
from chat.files.storage import store_for
from chat.mail.parse import Attachment, MailRefused


async def store_attachments(settings: Settings, attachments: tuple[Attachment, ...]) -> list[NewUpload]:
    store = store_for(settings.upload_path)
    stored: list[NewUpload] = []
    for attachment in attachments:
        name = clean_file_name(attachment.name)
        if len(attachment.data) > settings.upload_max_bytes:
            raise MailRefused(f"the attachment {name!r} is larger than {settings.upload_max_bytes} bytes")
        out, path = store.temp_file()
        with out:
            out.write(attachment.data)
        try:
            new = await keep_file(
                store,
                path,
                name=name,
                size=len(attachment.data),
                content_type=sniff(attachment.data[:SNIFF_BYTES]),
                scan_argv=settings.scan_argv,
                scan_timeout_s=settings.upload_scan_timeout_s,
            )
        except Invalid as exc:
            if exc.code == "file_rejected":
                raise MailRefused(f"the server's scan refused the attachment {name!r}") from None
            raise MailRefused(f"the image {name!r} is too large to process") from None
        stored.append(new)
    return stored
