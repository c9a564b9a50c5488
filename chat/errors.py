"""One error type with stable codes.

The domain raises these; ``chat.web.errors`` maps them to a JSON body, an HTML
page or a websocket error frame. ``code`` is a stable snake_case string that
clients may switch on; ``message`` is for humans.
"""

from __future__ import annotations

from typing import Any


class ChatError(Exception):
    status = 400
    default_code = "bad_request"

    def __init__(self, code: str | None = None, message: str | None = None, **data: Any) -> None:
        self.code = code or self.default_code
        self.message = message or self.code.replace("_", " ")
        self.data = data
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        body.update(self.data)
        return body


class BadRequest(ChatError):
    status = 400
    default_code = "bad_request"


class Unauthorized(ChatError):
    status = 401
    default_code = "not_authenticated"


class Forbidden(ChatError):
    status = 403
    default_code = "forbidden"


class NotFound(ChatError):
    status = 404
    default_code = "not_found"


class Conflict(ChatError):
    status = 409
    default_code = "conflict"


class TooLarge(ChatError):
    status = 413
    default_code = "too_large"


class Invalid(ChatError):
    status = 422
    default_code = "invalid"


class RateLimited(ChatError):
    status = 429
    default_code = "rate_limited"

    def __init__(self, retry_after: float, code: str | None = None, message: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(
            code, message or f"too many attempts, retry in {self.retry_after}s", retry_after=self.retry_after
        )


class Unavailable(ChatError):
    """A temporary failure of the server's storage (disk full, database unreachable).

    Nothing was changed; the same request (a post with the same nonce) may be sent
    again after ``retry_after`` seconds.
    """

    status = 503
    default_code = "unavailable"

    def __init__(self, code: str | None = None, message: str | None = None, *, retry_after: int = 5) -> None:
        self.retry_after = retry_after
        super().__init__(code, message, retry_after=retry_after)
