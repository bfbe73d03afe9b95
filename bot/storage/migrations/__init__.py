"""Alembic's migrations of the bot's database (run by ``bot.storage.database.migrate``)."""
