"""Silences in Alertmanager (its API v2): created for an incident that came from it, with
the alert's matchers, and deleted by "unsilence". The bot stores only the silence's id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.alerts.alertmanager import matchers

# httpx (with the click, rich and pygments of its command line: ~5 MB resident, ~0.5 s) is
# imported at the first silence, not by every `perfbot run` at start.
if TYPE_CHECKING:
    import httpx


class SilenceError(Exception):
    """Alertmanager did not create or delete the silence; the text says why."""


class AlertmanagerSilences:
    def __init__(self, url: str, timeout: float) -> None:
        self.url, self.timeout = url.rstrip("/"), timeout

    def create(self, labels: dict[str, str], created_by: str, comment: str,
               starts: datetime, ends: datetime) -> str:
        """A silence of exactly ``labels``; its id."""
        body = {"matchers": matchers(labels), "createdBy": created_by,
                "comment": comment or "silenced from Slack",
                "startsAt": starts.astimezone(UTC).isoformat(),
                "endsAt": ends.astimezone(UTC).isoformat()}
        answer = self._call("POST", "/api/v2/silences", body)
        try:
            silence_id = answer.json()["silenceID"]
        except (ValueError, KeyError, TypeError):
            raise SilenceError("Alertmanager's answer carried no silenceID") from None
        return str(silence_id)

    def delete(self, silence_id: str) -> None:
        import httpx

        self._call("DELETE", f"/api/v2/silence/{httpx.URL(silence_id).path}", None)

    def _call(self, method: str, path: str, body: object) -> httpx.Response:
        import httpx

        try:
            answer = httpx.request(method, self.url + path, json=body, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise SilenceError(f"could not reach Alertmanager at {self.url}: "
                               f"{type(exc).__name__}") from None
        if answer.status_code >= 300:
            raise SilenceError(f"Alertmanager answered {answer.status_code}: "
                               f"{answer.text[:200]}")
        return answer
