"""A bot that answers where it is mentioned: "Hello @alice, you said: …", in the same topic.

Create the bot (prints its token once), add it to a channel, run it::

    chat create-bot echo --owner alice
    python examples/mention_bot.py --url http://127.0.0.1:8000 --token "$TOKEN" --cursor-file echo.cursor

With ``--cursor-file`` a restarted bot resumes where it stopped: it answers the
mentions posted while it was away, and never answers one twice. It never
answers a bot (two echo bots would answer each other forever).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
from typing import Any

from chat.bot import Bot, Event, FileCursorStore

# "@name" as the server recognises a mention; a zero-width space after "@" keeps a quoted one from pinging again
_MENTION = re.compile(r"(?<![\w.+\-/=@])@(?=[a-z0-9_.\-])", re.IGNORECASE)


def reply_text(author: str, body: str, me: str) -> str:
    said = re.sub(rf"(?<![\w.+\-/=@])@{re.escape(me)}(?![\w\-])", "", body, flags=re.IGNORECASE)
    said = _MENTION.sub("@\u200b", " ".join(said.split()))
    return f"Hello @{author}, you said: {said}" if said else f"Hello @{author}!"


class MentionBot:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.members: dict[int, dict[int, dict[str, Any]]] = {}  # conversation -> user id -> member
        bot.on("message.posted")(self.on_message)

    async def on_message(self, event: Event) -> None:
        message = event["data"]["message"]
        me = self.bot.user
        if message["author"] == me["id"] or me["id"] not in message.get("mentions", ()):
            return
        author = await self.member(message["conversation"], message["author"])
        if author is None or author["is_bot"]:
            return
        body = reply_text(author["username"], event["data"].get("body", ""), me["username"])
        await self.bot.post(message["conversation"], body, topic=message["topic"] or None)

    async def member(self, conversation: int, user_id: int) -> dict[str, Any] | None:
        known = self.members.get(conversation, {})
        if user_id not in known:
            found = await self.bot.api("GET", f"/conversations/{conversation}/members")
            known = self.members[conversation] = {m["id"]: m for m in found["members"]}
        return known.get(user_id)


async def main(url: str, token: str, cursor_file: str | None) -> None:
    """Run until SIGINT or SIGTERM; the cursor file is up to date when it returns."""
    bot = Bot(url, token, cursor_store=FileCursorStore(cursor_file) if cursor_file else None)
    MentionBot(bot)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def close_on_signal() -> None:
        await stop.wait()
        await bot.close()

    async with bot:
        logging.getLogger("chat.bot").info("connected as @%s", bot.user["username"])
        closer = asyncio.create_task(close_on_signal())
        try:
            await bot.run()
        finally:
            closer.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="the bot's API token (chat create-bot prints it)")
    parser.add_argument("--cursor-file", help="remember the last handled event here, to resume after a restart")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(args.url, args.token, args.cursor_file))
