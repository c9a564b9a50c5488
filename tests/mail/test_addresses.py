"""Reply and channel addresses, and the Message-IDs Salon recognises as its own."""

from __future__ import annotations

import pytest

from chat.mail.addresses import (
    BadAddress,
    ChannelAddress,
    ReplyAddress,
    channel_address,
    new_channel_token,
    notification_message_id,
    our_message,
    parse_local_part,
    reply_address,
)

KEY = b"k" * 64
DOMAIN = "chat.example.com"


def local(address: str) -> str:
    return address.rsplit("@", 1)[0]


def test_a_reply_address_names_its_user_and_message_and_survives_case_folding() -> None:
    address = reply_address(KEY, DOMAIN, 7, 981)
    assert address.endswith("@" + DOMAIN) and address == address.lower()
    assert parse_local_part(KEY, local(address)) == ReplyAddress(7, 981)
    assert parse_local_part(KEY, local(address).upper()) == ReplyAddress(7, 981)


@pytest.mark.parametrize(
    "forged",
    [
        lambda a: a.replace("r.7.", "r.8.", 1),  # another user
        lambda a: a.replace(".981.", ".982.", 1),  # another message
        lambda a: a[:-1] + ("0" if a[-1] != "0" else "1"),  # a guessed signature
    ],
)
def test_a_forged_reply_address_is_refused(forged: object) -> None:
    address = local(reply_address(KEY, DOMAIN, 7, 981))
    with pytest.raises(BadAddress, match="signature"):
        parse_local_part(KEY, forged(address))  # type: ignore[operator]
    with pytest.raises(BadAddress):  # signed with another server's key
        parse_local_part(b"x" * 64, address)


def test_channel_addresses_and_unknown_local_parts() -> None:
    token = new_channel_token()
    assert token != new_channel_token() and token.isalnum() and token == token.lower()
    assert parse_local_part(KEY, local(channel_address(token, DOMAIN))) == ChannelAddress(token)
    for unknown in ("postmaster", "r.1.2", "c.short", "r.1.2.zzzzzzzzzzzzzzzzzzzz"):
        with pytest.raises(BadAddress, match="no such address"):
            parse_local_part(KEY, unknown)


def test_our_message_ids_are_recognised_and_others_are_not() -> None:
    mid = notification_message_id(981, DOMAIN)
    assert our_message(mid, DOMAIN) == 981
    assert our_message(mid, "other.example.com") is None
    assert our_message("<CAF=abc@mail.gmail.com>", DOMAIN) is None
