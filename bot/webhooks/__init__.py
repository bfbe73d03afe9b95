"""Webhooks the bot receives on its operational port (Alertmanager's today)."""
