"""Two digest "replicas" racing on a real PostgreSQL (tests/postgres_server.py, a fresh
database per test): one post per subscription and period."""

from __future__ import annotations

import pytest

from tests.unit.test_digest_service import race

pytestmark = pytest.mark.integration


def test_two_replicas_on_postgresql_post_once_per_period(postgres_db: str) -> None:
    poster = race(postgres_db, replicas=2, minutes=5)
    keys = [key for _, key, _, _ in poster.posts]
    assert len(keys) == 4 and len(set(keys)) == 4  # 2 channels x 2 days, each once
    assert sorted(channel for channel, _, _, _ in poster.posts) == ["C1", "C1", "C2", "C2"]


def test_four_replicas_on_postgresql_post_once_per_period(postgres_db: str) -> None:
    poster = race(postgres_db, replicas=4, minutes=3)
    keys = [key for _, key, _, _ in poster.posts]
    assert len(keys) == len(set(keys)) == 4
