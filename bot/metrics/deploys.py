"""The deploys port: a release event (``Deploy``) and where to read them from (``DeploySource``).

Pure types, no I/O. Detection and the playbooks' evidence correlate a change with a release
of the same service shortly before it; any backend that knows releases answers
``DeploySource``. The demo answers with its workload's releases; ``NoDeploys`` stands in
where nothing records them yet (Prometheus, until a deploy metric is read).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict


class Deploy(BaseModel):
    """A release of one service; the demo's scenarios follow some of them."""

    model_config = ConfigDict(frozen=True)

    service: str
    version: str
    time: datetime
    note: str = ""


@runtime_checkable
class DeploySource(Protocol):
    """Where the releases come from."""

    def deploys(self, start: datetime, end: datetime) -> list[Deploy]:
        """The releases with ``start < time <= end``, in time order."""
        ...


class NoDeploys:
    """A ``DeploySource`` that knows of no release: the evidence then says no deploy."""

    def deploys(self, start: datetime, end: datetime) -> list[Deploy]:
        return []
