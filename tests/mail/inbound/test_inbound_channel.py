"""Channel addresses: managed over REST, and mail to them becomes messages, through the real receiver."""

from __future__ import annotations

import smtplib

import pytest
from sqlalchemy import select

from chat.mail.inbound import topic_from_subject
from chat.mail.targets import EXTERNAL_MARK
from chat.store import models
from tests.mail.inbound.support import DOMAIN, Mailroom, mail

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.mark.parametrize(
    ("subject", "topic"),
    [
        ("Re: Fwd: RE : Invoice 42", "Invoice 42"),
        ("TR: Fw: tr : Devis", "Devis"),
        ("   ", "(no subject)"),
        ("Re: Re:", "(no subject)"),
        ("x" * 200, "x" * 60),
        ("Reply needed: contract", "Reply needed: contract"),
    ],
)
def test_the_subject_becomes_the_topic_without_its_prefixes(subject: str, topic: str) -> None:
    assert topic_from_subject(subject) == topic


async def _address(room: Mailroom, conversation: int) -> str:
    r = await room.api("POST", f"/conversations/{conversation}/mail-address", room.cast.alice)
    assert r.status_code == 200, r.text
    address = r.json()["address"]
    assert address.startswith("c.") and address.endswith("@" + DOMAIN)
    return str(address)


async def test_the_address_is_managed_by_those_who_manage_and_read_by_members(room: Mailroom) -> None:
    cast = room.cast
    conversation = await room.channel(cast.alice, "support", cast.bob)
    r = await room.api("GET", f"/conversations/{conversation}/mail-address", cast.bob)
    assert r.json() == {"address": None, "outside_senders": False, "can_manage": False}
    address = await _address(room, conversation)
    r = await room.api("GET", f"/conversations/{conversation}/mail-address", cast.bob)
    assert r.json() == {"address": address, "outside_senders": False, "can_manage": False}
    assert (await room.api("POST", f"/conversations/{conversation}/mail-address", cast.bob)).status_code == 403
    r = await room.api("PATCH", f"/conversations/{conversation}/mail-address", cast.bob, json={"outside_senders": True})
    assert r.status_code == 403
    assert (await room.api("GET", f"/conversations/{conversation}/mail-address", cast.carol)).status_code == 403
    assert (await room.api("GET", f"/conversations/{conversation}/mail-address", cast.gus)).status_code == 404
    r = await room.api("PATCH", f"/conversations/{conversation}/mail-address", cast.maya, json={"outside_senders": 1})
    assert r.status_code == 422
    r = await room.api(
        "PATCH", f"/conversations/{conversation}/mail-address", cast.maya, json={"outside_senders": True}
    )
    assert r.json()["outside_senders"] is True and r.json()["can_manage"] is True
    async with room.db.read() as s:
        events = list(
            await s.scalars(
                select(models.Event)
                .where(models.Event.kind == "conversation.mail_address_changed")
                .order_by(models.Event.id)
            )
        )
    assert [e.payload for e in events] == [
        {"enabled": True, "outside_senders": False, "regenerated": False},
        {"enabled": True, "outside_senders": True, "regenerated": False},
    ]
    assert all(e.audience == "members" and address.split("@")[0][2:] not in str(e.payload) for e in events)


async def test_regenerating_revokes_the_old_address_and_delete_revokes_it(room: Mailroom) -> None:
    cast = room.cast
    await room.verify(cast.bob, "bob@example.org")
    conversation = await room.channel(cast.alice, "support", cast.bob)
    old = await _address(room, conversation)
    new = await _address(room, conversation)
    assert new != old
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await room.send(mail("bob@example.org", old, "Hello", "hi"), old, "bob@example.org")
    assert b"revoked" in refused.value.recipients[old][1]
    await room.send(mail("bob@example.org", new, "Hello", "hi"), new, "bob@example.org")
    r = await room.api("DELETE", f"/conversations/{conversation}/mail-address", cast.alice)
    assert r.json()["address"] is None
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await room.send(mail("bob@example.org", new, "Hello again", "hi"), new, "bob@example.org")
    assert [m.body for m in await room.messages(conversation)] == ["hi"]


async def test_mail_from_a_member_becomes_a_message_with_its_files_and_replies_thread(room: Mailroom) -> None:
    cast = room.cast
    await room.verify(cast.bob, "Bob@Example.org")
    conversation = await room.channel(cast.alice, "support", cast.bob)
    address = await _address(room, conversation)
    first = mail("Bob <bob@example.org>", address, "Fwd: Re: Printer on floor 2", "The printer is jammed again.")
    first.add_attachment(PNG, maintype="application", subtype="octet-stream", filename="photo.png")
    first.add_attachment(b"toner: 12%\n", maintype="text", subtype="plain", filename="status.txt")
    await room.send(first, address, "bob@example.org")
    answer = mail(
        "bob@example.org",
        address,
        "Something else entirely",
        "Fixed now.\n\nOn Tue, Bob wrote:\n> The printer is jammed again.\n",
        In_Reply_To=str(first["Message-ID"]),
    )
    await room.send(answer, address, "bob@example.org")
    other = mail("bob@example.org", address, "TR: Coffee machine", "Broken too.", References="<unknown@example.org>")
    await room.send(other, address, "bob@example.org")
    stored = await room.messages(conversation)
    assert [(m.author_id, m.topic, m.body) for m in stored] == [
        (cast.bob.id, "Printer on floor 2", "The printer is jammed again."),
        (cast.bob.id, "Printer on floor 2", "Fixed now."),
        (cast.bob.id, "Coffee machine", "Broken too."),
    ]
    async with room.db.read() as s:
        files = (
            await s.execute(
                select(models.Upload.name, models.Upload.content_type, models.Upload.uploader_id)
                .join(models.MessageAttachment, models.MessageAttachment.upload_id == models.Upload.id)
                .where(models.MessageAttachment.message_id == stored[0].id)
                .order_by(models.Upload.id)
            )
        ).all()
    assert [tuple(f) for f in files] == [
        ("photo.png", "image/png", cast.bob.id),  # sniffed from the bytes, not the mail's type
        ("status.txt", "text/plain", cast.bob.id),
    ]


async def test_a_sender_who_is_not_a_user_is_refused_unless_outside_senders_are_on(room: Mailroom) -> None:
    cast = room.cast
    conversation = await room.channel(cast.alice, "helpdesk", cast.bob)
    other = await room.channel(cast.alice, "elsewhere")
    address = await _address(room, conversation)
    await room.verify(cast.carol, "carol@example.org")  # a user, but not a member of this private group
    group = await room.channel(cast.alice, "board", kind="private")
    group_address = await _address(room, group)
    client = "Jane Client <jane@client.example>"
    before = await room.snapshot()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await room.send(mail(client, address, "Order 17", "Where is my order?"), address, "jane@client.example")
    assert refused.value.smtp_code == 550 and b"only from people who may post" in refused.value.smtp_error
    with pytest.raises(smtplib.SMTPDataError) as not_member:
        await room.send(mail("carol@example.org", group_address, "Hi", "let me in"), group_address, "carol@example.org")
    assert b"you may not post" in not_member.value.smtp_error
    assert await room.snapshot() == before

    r = await room.api(
        "PATCH", f"/conversations/{conversation}/mail-address", cast.alice, json={"outside_senders": True}
    )
    assert r.status_code == 200
    await room.send(mail(client, address, "Order 17", "Where is my order?"), address, "jane@client.example")
    await room.send(mail(client, address, "Re: Order 17", "Any news?"), address, "jane@client.example")
    stored = await room.messages(conversation)
    async with room.db.read() as s:
        guest = await s.get(models.User, stored[-1].author_id)
        assert guest is not None
        memberships = list(
            await s.scalars(select(models.Membership.conversation_id).where(models.Membership.user_id == guest.id))
        )
    assert [(m.author_id, m.topic, m.body) for m in stored] == [
        (guest.id, "Order 17", "Where is my order?"),
        (guest.id, "Order 17", "Any news?"),
    ]
    assert (guest.role, guest.is_bot, guest.password_hash, guest.active) == ("guest", False, None, True)
    assert guest.display_name == "Jane Client (jane@client.example)"
    assert guest.preferences == {EXTERNAL_MARK: "jane@client.example"}
    assert memberships == [conversation] and other not in memberships
