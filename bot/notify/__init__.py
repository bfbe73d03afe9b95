"""Senders to people and systems outside the bot (Slack's Web API today)."""
