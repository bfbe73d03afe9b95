"""Every test in this folder is an integration test: it starts real processes (Prometheus,
PostgreSQL, the bot, the Slack stand-in). The marker is added here, once, so a new module
cannot forget it and ``pytest -m "not integration"`` runs none of them."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.integration)
