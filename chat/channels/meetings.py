"""Meeting-link detection (join cards) and the ``/meet`` command.

Hosts are compared exactly or by dot-suffix after ``urllib.parse``; URLs with userinfo, odd
ports or non-hostname characters are never recognised, so lookalikes do not get a join card.
Pure functions: no database, no I/O.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qs, urlsplit

PROVIDERS = ("jitsi", "zoom", "meet", "teams", "webex")
DEFAULT_JITSI_BASE = "https://meet.jit.si"

_HOSTNAME = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")
_ROOM = re.compile(r"/[^/?#]+/?")  # one non-empty path segment
_ZOOM_PATH = re.compile(r"/(?:j/[0-9]{9,12}|my/[A-Za-z0-9._-]+)/?")
_MEET_PATH = re.compile(r"/[a-z]{3}-[a-z]{4}-[a-z]{3}/?")
_TEAMS_PATH = re.compile(r"/l/meetup-join/.+|/meet/[^/]+/?")  # classic join links; new-style /meet/<id>
_TEAMS_LIVE_PATH = re.compile(r"/meet/[^/]+/?")
_WEBEX_PATH = re.compile(r"/(?:meet|join)/[^/?#]+.*|/[A-Za-z0-9_-]+/j\.php")
_MEET_COMMAND = re.compile(r"/meet(?:\s+(?P<title>.*))?", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Meeting:
    """A recognised video-meeting link, rendered as a one-click join card."""

    provider: str  # one of PROVIDERS
    url: str


def detect_meetings(links: Iterable[str]) -> tuple[Meeting, ...]:
    """Recognised meeting links among ``links`` (e.g. ``Rendered.links``), in order, without duplicates."""
    found: dict[str, Meeting] = {}
    for link in links:
        provider = meeting_provider(link)
        if provider and link not in found:
            found[link] = Meeting(provider=provider, url=link)
    return tuple(found.values())


def meeting_provider(url: str) -> str | None:
    """The provider name for a meeting URL, or None for anything else (including lookalikes)."""
    parts = _split_web_url(url)
    if parts is None:
        return None
    host = (parts.hostname or "").rstrip(".")
    for provider, host_matches, path_matches in _RULES:
        if host_matches(host) and path_matches(parts):
            return provider
    return None


def new_meeting_url(base: str = DEFAULT_JITSI_BASE) -> str:
    """A Jitsi room URL on ``base`` whose room name is unguessable (128 random bits)."""
    if _split_web_url(base) is None:
        raise ValueError(f"not an http(s) base URL: {base!r}")
    return f"{base.rstrip('/')}/{secrets.token_urlsafe(16)}"


def parse_meet_command(body: str) -> str | None:
    """The title after ``/meet`` ("" when none), or None when ``body`` is not a ``/meet`` command."""
    match = _MEET_COMMAND.fullmatch(body.strip())
    if match is None:
        return None
    return " ".join((match.group("title") or "").split())


def _split_web_url(url: str) -> SplitResult | None:
    """Parsed absolute http(s) URL with a plain hostname, no userinfo and a default port; else None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc or port not in (None, 80, 443):
        return None
    if not _HOSTNAME.fullmatch(host.rstrip(".")) or ".." in host:
        return None
    return parts


def _is(*hosts: str) -> Callable[[str], bool]:
    return lambda host: host in hosts


def _under(domain: str) -> Callable[[str], bool]:
    return lambda host: host == domain or host.endswith("." + domain)


def _path(pattern: re.Pattern[str]) -> Callable[[SplitResult], bool]:
    return lambda parts: pattern.fullmatch(parts.path) is not None


def _is_jitsi_host(host: str) -> bool:
    return host == "meet.jit.si" or host.startswith("jitsi.") or ".jitsi." in host


def _is_webex_meeting(parts: SplitResult) -> bool:
    if _WEBEX_PATH.fullmatch(parts.path) is None:
        return False
    return not parts.path.endswith("/j.php") or bool(parse_qs(parts.query).get("MTID"))


_RULES: tuple[tuple[str, Callable[[str], bool], Callable[[SplitResult], bool]], ...] = (
    ("jitsi", _is_jitsi_host, _path(_ROOM)),
    ("zoom", _under("zoom.us"), _path(_ZOOM_PATH)),
    ("meet", _is("meet.google.com"), _path(_MEET_PATH)),
    ("teams", _is("teams.microsoft.com"), _path(_TEAMS_PATH)),
    ("teams", _is("teams.live.com"), _path(_TEAMS_LIVE_PATH)),
    ("webex", lambda host: host.endswith(".webex.com"), _is_webex_meeting),
)
