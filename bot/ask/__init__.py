"""Questions typed in chat: text → ``Query`` (``parse``), then answered from the ``Query``."""

from bot.ask.parsing.parser import parse
from bot.ask.query import Query

__all__ = ["Query", "parse"]
