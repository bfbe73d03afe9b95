"""``/perf digest subscribe|unsubscribe|list|preview``: digest subscriptions per channel.

Bad input is answered with the usage and nothing is stored; subscribing and unsubscribing
are written with their audit row in one transaction."""

from __future__ import annotations

from collections.abc import Callable

from bot.app import Perfbot
from bot.digests.model import DigestKind, Scope
from bot.digests.schedule import USAGE as WHEN_USAGE
from bot.digests.schedule import parse_when
from bot.digests.service import Subscription, subscription
from bot.render.blocks import SlackMessage, section
from bot.render.digest import digest_message
from bot.render.mrkdwn import escape, inert
from bot.storage.audit import audit_row

USAGE = ("Usage: `/perf digest subscribe daily 09:00 [Zone] [team T | service S]`, "
         "`/perf digest subscribe weekly mon 09:00 [Zone] [team T | service S]`, "
         "`/perf digest unsubscribe [daily|weekly]`, `/perf digest list`, "
         "`/perf digest preview [daily|weekly] [team T | service S]`")

Tell = Callable[[SlackMessage], None]


def _said(text: str) -> SlackMessage:
    return SlackMessage(text=text, blocks=(section(text),))


def split_scope(words: list[str]) -> tuple[list[str], Scope]:
    """``[..., "team", "payments"]`` → the words before and the scope; ValueError when the
    tail is not ``team T`` or ``service S``."""
    for index, word in enumerate(words):
        if word.lower() in ("team", "service"):
            tail = words[index + 1:]
            if len(tail) != 1:
                raise ValueError(f"expected `{word.lower()} NAME` at the end")
            scope = (Scope(team=tail[0]) if word.lower() == "team"
                     else Scope(service=tail[0]))
            return words[:index], scope
    return words, Scope()


def describe(sub: Subscription) -> str:
    scope = inert(sub.scope.label)
    where = "" if sub.configured else f" in <#{sub.channel}>"
    origin = " _(configured)_" if sub.configured else f" (by <@{sub.created_by}>)"
    return f"• {escape(sub.when)}{where}: {scope}{origin}"


class DigestCommands:
    def __init__(self, perfbot: Perfbot) -> None:
        self.perfbot = perfbot

    def command(self, args: str, channel: str, user: str, tell: Tell) -> None:
        word, *rest = args.split(maxsplit=1) or ["list"]
        more = "".join(rest)
        word = word.lower()
        if word == "subscribe":
            self.subscribe(more, channel, user, tell)
        elif word == "unsubscribe":
            self.unsubscribe(more, channel, user, tell)
        elif word == "list":
            self.listing(channel, tell)
        elif word == "preview":
            self.preview(more, tell)
        else:
            tell(_said(USAGE))

    def subscribe(self, args: str, channel: str, user: str, tell: Tell) -> None:
        try:
            words, scope = split_scope(args.split())
            when = parse_when(" ".join(words), self.perfbot.settings.timezone)
        except ValueError as exc:
            tell(_said(f"{escape(str(exc))}\n{USAGE}"))
            return
        now = self.perfbot.now()
        sub = subscription(channel, when, scope, created_by=user, created_at=now)
        audit = audit_row(at=now, user=user, action="digest-subscribe", target=channel,
                          allowed=True, detail=f"{when.text} {scope.label}"[:500])
        self.perfbot.digest_store.subscribe(sub, audit)
        tell(_said(f"Subscribed <#{channel}> to the {when.kind} digest of "
                   f"{inert(scope.label)}, {escape(when.text)}."))

    def unsubscribe(self, args: str, channel: str, user: str, tell: Tell) -> None:
        words = args.split()
        if len(words) > 1 or (words and words[0].lower() not in ("daily", "weekly")):
            tell(_said(f"expected `daily`, `weekly` or nothing (both)\n{USAGE}"))
            return
        kind: DigestKind | None = None
        if words:
            kind = "daily" if words[0].lower() == "daily" else "weekly"
        now = self.perfbot.now()
        removed = self.perfbot.digest_store.unsubscribe(
            channel, kind, lambda gone: audit_row(
                at=now, user=user, action="digest-unsubscribe", target=channel,
                allowed=True, detail=", ".join(s.when for s in gone)[:500] or "none"))
        if not removed:
            tell(_said(f"<#{channel}> has no {kind or 'digest'} subscription."))
            return
        tell(_said(f"Unsubscribed <#{channel}> from:\n"
                   + "\n".join(describe(s) for s in removed)))

    def listing(self, channel: str, tell: Tell) -> None:
        here = self.perfbot.digest_store.subscriptions(channel)
        configured = list(self.perfbot.digests.configured)
        lines = [describe(s) for s in here] or ["• none in this channel"]
        text = "*Digests in this channel*\n" + "\n".join(lines)
        if configured:
            text += "\n*Configured (perfbot.yaml)*\n" + "\n".join(
                f"{describe(s)} in <#{s.channel}>" for s in configured)
        tell(_said(text))

    def preview(self, args: str, tell: Tell) -> None:
        try:
            words, scope = split_scope(args.split())
            if len(words) > 1 or (words and words[0].lower() not in ("daily", "weekly")):
                raise ValueError("expected `daily` or `weekly`")
        except ValueError as exc:
            tell(_said(f"{escape(str(exc))}\n{USAGE}"))
            return
        kind: DigestKind = "weekly" if words and words[0].lower() == "weekly" else "daily"
        digest = self.perfbot.build_digest(kind, self.perfbot.data_now(), scope)
        tell(digest_message(digest, self.perfbot.settings.zone))


def subscription_lines(perfbot: Perfbot) -> list[str]:
    """App Home's "Your subscriptions": every stored and configured subscription."""
    return [describe(s) if not s.configured else f"{describe(s)} in <#{s.channel}>"
            for s in perfbot.digests.subscriptions()]


__all__ = ["USAGE", "WHEN_USAGE", "DigestCommands", "subscription_lines"]
