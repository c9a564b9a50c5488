"""``chat.bot``: a Python client for Salon's bot API (websocket), see docs/bot.md.

A client library: it depends on ``websockets`` and the standard library only,
never on the server's modules.
"""

from chat.bot.client import Bot, Handler
from chat.bot.cursor import CursorStore, FileCursorStore, MemoryCursorStore
from chat.bot.delivery import Event
from chat.bot.errors import BotError

__all__ = ["Bot", "BotError", "CursorStore", "Event", "FileCursorStore", "Handler", "MemoryCursorStore"]
