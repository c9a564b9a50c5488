"""``chat serve --smtp-port N``: a real server process whose receiver takes mail for its channel
addresses, from an outside sender, and bounces forged addresses at ``RCPT TO``."""

from __future__ import annotations

import smtplib
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import pytest

from tests.integration.server import ServerProcess, free_port
from tests.mail.inbound.support import DOMAIN, mail


class SmtpServerProcess(ServerProcess):
    """``chat serve`` with ``--smtp-port``."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, env={"CHAT_MAIL_DOMAIN": DOMAIN, "CHAT_POST_LIMIT_PER_USER": "0"})
        self.smtp_port = free_port()

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = log = self.log_path.open("ab")
        argv = ["serve", "--port", str(self.port), "--smtp-port", str(self.smtp_port), "--data-dir", str(self.data_dir)]
        self.proc = subprocess.Popen([sys.executable, "-m", "chat.cli", *argv], env=self.env, stdout=log, stderr=log)  # noqa: S603
        self._wait_ready(timeout)


@pytest.fixture
def server(tmp_path: Path) -> SmtpServerProcess:
    process = SmtpServerProcess(tmp_path / "data")
    process.start()
    yield process  # type: ignore[misc]
    process.stop()


def test_the_served_receiver_delivers_to_a_channel_address_and_bounces_forgeries(server: SmtpServerProcess) -> None:
    _, token = server.user_with_token("alice")
    r = server.api("POST", "/conversations", token, json={"kind": "public", "name": "intake"})
    conversation = r.json()["id"]
    assert server.api("POST", f"/conversations/{conversation}/mail-address", token).status_code == 200
    r = server.api("PATCH", f"/conversations/{conversation}/mail-address", token, json={"outside_senders": True})
    address = r.json()["address"]
    raw = mail("Client <client@example.net>", address, "Fwd: Broken invoice", "Invoice 17 is wrong.")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as smtp:
        assert smtp.sendmail("client@example.net", [address], raw.as_bytes(policy=policy.SMTP)) == {}
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.sendmail("client@example.net", [f"r.1.1.0123456789abcdef0123@{DOMAIN}"], b"Subject: x\r\n\r\nx\r\n")
    assert refused.value.recipients[f"r.1.1.0123456789abcdef0123@{DOMAIN}"][0] == 550
    deadline = time.monotonic() + 30
    while True:
        page = server.api("GET", f"/conversations/{conversation}/messages", token).json()
        if page["messages"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    [message] = page["messages"]
    assert (message["topic"], message["body"]) == ("Broken invoice", "Invoice 17 is wrong.")
    users = server.api("GET", "/users", token).json()
    author = next(u for u in users["users"] if u["id"] == message["author"])
    assert (author["display_name"], author["role"]) == ("Client (client@example.net)", "guest")
