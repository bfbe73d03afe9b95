"""The alerts posted lately, in memory: what "Show chart" uploads and where ``/perf ack ID``
finds the message to update. Lost on restart; the incident store replaces it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from bot.alerts.message import AlertMessage


@dataclass(frozen=True)
class Posted:
    """Where an alert's message is, and its blocks as perfbot last wrote them."""

    channel: str
    ts: str
    text: str
    blocks: tuple[dict[str, Any], ...]
    resolved: bool = False


class AlertBook:
    """The alerts posted lately, by finding id: what "Show chart" uploads, and where
    ``/perf ack|resolve|snooze ID`` finds the message to update."""

    def __init__(self, limit: int = 500) -> None:
        self._alerts: OrderedDict[str, AlertMessage] = OrderedDict()
        self._posted: dict[str, Posted] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def remember(self, alert: AlertMessage, posted: Posted | None = None) -> None:
        with self._lock:
            self._alerts[alert.finding_id] = alert
            self._alerts.move_to_end(alert.finding_id)
            if posted is not None:
                self._posted[alert.finding_id] = posted
            while len(self._alerts) > self._limit:
                gone, _ = self._alerts.popitem(last=False)
                self._posted.pop(gone, None)

    def get(self, finding_id: str) -> AlertMessage | None:
        with self._lock:
            return self._alerts.get(finding_id)

    def posted(self, finding_id: str) -> Posted | None:
        with self._lock:
            return self._posted.get(finding_id)

    def updated(self, finding_id: str, blocks: list[dict[str, Any]], resolved: bool) -> None:
        """The message now shows ``blocks`` (after a press or a command)."""
        with self._lock:
            old = self._posted.get(finding_id)
            if old is not None:
                self._posted[finding_id] = replace(old, blocks=tuple(blocks),
                                                   resolved=old.resolved or resolved)
