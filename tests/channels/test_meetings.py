"""Meeting links: each provider is recognised, lookalikes are not, and /meet makes unguessable rooms."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from chat.channels.meetings import Meeting, detect_meetings, new_meeting_url, parse_meet_command
from chat.channels.render import render_markdown


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("https://meet.jit.si/WeeklySalesSync", "jitsi"),
        ("https://jitsi.example.org/board-meeting", "jitsi"),
        ("https://video.jitsi.example.org/room42", "jitsi"),
        ("https://zoom.us/j/1234567890?pwd=abc", "zoom"),
        ("https://acme.zoom.us/j/98765432101", "zoom"),
        ("https://us02web.zoom.us/my/jane.doe", "zoom"),
        ("https://meet.google.com/abc-defg-hij", "meet"),
        ("https://meet.google.com/abc-defg-hij?authuser=1", "meet"),
        ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0?context=%7b%7d", "teams"),
        ("https://teams.live.com/meet/9876543210", "teams"),
        ("https://acme.webex.com/meet/jane.doe", "webex"),
        ("https://acme.webex.com/join/jane.doe", "webex"),
        ("https://acme.webex.com/acme/j.php?MTID=m0123456789abcdef", "webex"),
        ("http://meet.jit.si/plain-http", "jitsi"),
        ("HTTPS://MEET.GOOGLE.COM/abc-defg-hij", "meet"),
    ],
)
def test_each_provider_is_recognised(url: str, provider: str) -> None:
    assert detect_meetings([url]) == (Meeting(provider=provider, url=url),)


@pytest.mark.parametrize(
    "url",
    [
        "https://zoom.us.evil.com/j/1234567890",
        "https://evilzoom.us/j/1234567890",
        "https://meet.google.com.evil.org/abc-defg-hij",
        "https://meet.google.com@evil.com/abc-defg-hij",
        "https://user:pw@meet.google.com/abc-defg-hij",
        "https://evil.com\\@meet.google.com/abc-defg-hij",
        "https://meet.google.com%2eevil.com/abc-defg-hij",
        "https://teams.microsoft.com.evil.net/l/meetup-join/x",
        "https://webex.com.evil.net/meet/jane",
        "https://evilwebex.com/meet/jane",
        "https://meet.jit.si.evil.com/room",
        "https://notjitsi.example/room",
        "https://meet.google.com:8443/abc-defg-hij",
        "javascript://meet.google.com/abc-defg-hij",
        "ftp://meet.jit.si/room",
        "//meet.jit.si/room",
        "meet.jit.si/room",
        "https://meet.jit.si/",
        "https://meet.jit.si",
        "https://zoom.us/",
        "https://zoom.us/j/",
        "https://zoom.us/pricing",
        "https://meet.google.com/",
        "https://meet.google.com/landing",
        "https://teams.microsoft.com/",
        "https://teams.microsoft.com/l/meetup-join/",
        "https://teams.live.com/",
        "https://acme.webex.com/",
        "https://acme.webex.com/acme/j.php",
        "https://acme.webex.com/acme/j.php?RCID=1",
        "https://[::1]/room",
        "mailto:meet@meet.jit.si",
        "not a url at all",
        "",
    ],
)
def test_lookalikes_and_non_meetings_are_ignored(url: str) -> None:
    assert detect_meetings([url]) == ()


def test_detect_meetings_keeps_order_and_drops_duplicates() -> None:
    links = [
        "https://example.com/agenda",
        "https://zoom.us/j/1234567890",
        "https://meet.jit.si/Room",
        "https://zoom.us/j/1234567890",
    ]

    assert detect_meetings(links) == (
        Meeting("zoom", "https://zoom.us/j/1234567890"),
        Meeting("jitsi", "https://meet.jit.si/Room"),
    )


def test_meeting_found_in_a_rendered_message() -> None:
    rendered = render_markdown("Call now: https://meet.google.com/abc-defg-hij.", mentionable={})

    assert detect_meetings(rendered.links) == (Meeting("meet", "https://meet.google.com/abc-defg-hij"),)


def test_new_meeting_url_is_an_unguessable_jitsi_room() -> None:
    first, second = new_meeting_url(), new_meeting_url()

    assert first != second
    assert first.startswith("https://meet.jit.si/")
    room = urlsplit(first).path.removeprefix("/")
    assert len(room) >= 22  # 16 random bytes, base64url
    assert detect_meetings([first]) == (Meeting("jitsi", first),)


def test_new_meeting_url_on_a_self_hosted_base() -> None:
    url = new_meeting_url("https://jitsi.example.org/")

    assert url.startswith("https://jitsi.example.org/")
    assert "//" not in url.removeprefix("https://")


@pytest.mark.parametrize("base", ["javascript:alert(1)", "meet.jit.si", "https://user@meet.jit.si"])
def test_new_meeting_url_rejects_bad_base(base: str) -> None:
    with pytest.raises(ValueError, match="base URL"):
        new_meeting_url(base)


@pytest.mark.parametrize(
    ("body", "title"),
    [
        ("/meet", ""),
        ("  /meet  ", ""),
        ("/meet Q3 tender review", "Q3 tender review"),
        ("/meet   Weekly\n  sync ", "Weekly sync"),
        ("/meet\tStandup", "Standup"),
        ("/meeting tomorrow", None),
        ("/meetup", None),
        ("let's /meet later", None),
        ("/MEET", None),
        ("/me waves", None),
        ("", None),
    ],
)
def test_parse_meet_command(body: str, title: str | None) -> None:
    assert parse_meet_command(body) == title
