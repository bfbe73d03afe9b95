"""The bot's own database (``storage.url``: SQLite by default, PostgreSQL by URL): one engine
per process, one schema, migrations run on start, and the stores that live in it."""

from bot.storage.database import Database, StorageError

__all__ = ["Database", "StorageError"]
