"""The one exception of the bot client: a stable ``code`` and a human ``message``."""

from __future__ import annotations

from typing import Any


class BotError(Exception):
    """An error frame from the server, an HTTP error body, or the client's own refusal.

    ``code`` is the server's stable snake_case code (``conversation_not_found``,
    ``rate_limited``, ``not_authenticated`` …) or one of the client's own:
    ``closed`` (the bot was closed while the call waited), ``deactivated``
    (the account was deactivated while connected), ``frame_too_large`` (refused
    before sending), ``not_started`` (a request before ``start``), ``unreachable``
    (a REST call could not reach the server), ``http_error`` (an HTTP error
    without a JSON error body), ``internal_error`` (the client failed on a frame
    it did not understand; it stops).
    ``data`` holds the error's other fields (``field``, ``retry_after`` …).
    """

    def __init__(self, code: str, message: str, **data: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data

    @property
    def retry_after(self) -> float | None:
        """Seconds to wait before retrying, for ``rate_limited`` errors."""
        value = self.data.get("retry_after")
        return float(value) if isinstance(value, int | float) else None
