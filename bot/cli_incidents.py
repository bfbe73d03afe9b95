"""``perfbot incidents [list|show ID|ack ID|resolve ID|export ID]``: the incidents for operators
without Slack, read from and acted on in the database of ``storage.url``.

Acts go through the same capability as Slack's buttons (``Incidents.act``): a
compare-and-set on the incident, its timeline, its outbox and the audit record in one
transaction, so the Slack message follows once the running bot delivers the outbox. A bad
id, an unknown incident or a database that cannot be opened gets one line on stderr and
changes nothing; a missing SQLite file is reported, not created.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.alerts.acts import RULES, Act

# The CLI registers these commands at every start: what they use is imported when they run.
if TYPE_CHECKING:
    from bot.app import Perfbot
    from bot.incidents.lifecycle import Incident
    from bot.storage.incidents import OutboxItem

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_ID = re.compile(r"(?:inc-?)?(\d{1,9})", re.IGNORECASE)


class Failed(Exception):
    """A one-line reason to stop; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def add_incident_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    _common: argparse.ArgumentParser,
) -> None:
    """Register ``incidents`` and its actions on the CLI's subparsers. They take --config
    from ``common`` but not --at: acts happen now, and the database has no "as of"."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", help="YAML settings (default: "
                        "$PERFBOT_CONFIG, then ./perfbot.yaml, then built-in demo)")
    incidents = subparsers.add_parser(
        "incidents", help="list, show, acknowledge, resolve and export incidents (no Slack)",
        description="The incidents in the bot's database (storage.url), for operators "
        "without Slack. Acknowledging and resolving are recorded in the audit table, and the "
        "running bot updates the Slack message.",
        epilog="Examples:\n  perfbot incidents list --all\n  perfbot incidents show INC-42\n"
        "  perfbot incidents ack INC-42 --user U024BE7LH\n"
        "  perfbot incidents export INC-42 -o inc-42.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = incidents.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common],
                                 help="open incidents, newest first")
    listing.add_argument("--all", action="store_true", help="resolved ones too")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (50)")
    listing.set_defaults(func=cmd_list)
    show = actions.add_parser("show", parents=[common],
                              help="one incident, its timeline and its outbox")
    show.add_argument("id", metavar="ID", help="INC-42 or 42")
    show.set_defaults(func=cmd_show)
    for word, act in (("ack", Act.ACKNOWLEDGE), ("resolve", Act.RESOLVE)):
        acting = actions.add_parser(word, parents=[common],
                                    help=f"{RULES[act].verb} an incident, as --user")
        acting.add_argument("id", metavar="ID", help="INC-42 or 42")
        acting.add_argument("--user", required=True, metavar="NAME",
                            help="who you are, for the record and the Slack message: your "
                                 "Slack member id (U…) lets the message mention you")
        acting.set_defaults(func=_acting(act))
    export = actions.add_parser("export", parents=[common],
                                help="write a markdown postmortem (and its chart, as PNG)")
    export.add_argument("id", metavar="ID", help="INC-42 or 42")
    export.add_argument("-o", "--output", metavar="FILE",
                        help="the markdown file (default INC-<id>.md); the chart goes beside "
                             "it as <name>-chart.png")
    export.set_defaults(func=cmd_export)


def _guarded(command: Callable[[argparse.Namespace, TextIO], int]
             ) -> Callable[[argparse.Namespace, TextIO], int]:
    def run(args: argparse.Namespace, out: TextIO) -> int:
        from bot.storage import StorageError

        try:
            return command(args, out)
        except Failed as exc:
            print(f"perfbot: {exc}", file=sys.stderr)
            return exc.code
        except StorageError as exc:
            print(f"perfbot: {exc}", file=sys.stderr)
            return EXIT_FAILED
    return run


def _open(args: argparse.Namespace) -> Perfbot:
    """The bot for these commands; a SQLite file that is not there is an error here (a
    typo in storage.url must not leave an empty database behind)."""
    from bot.app import build
    from bot.config import load_settings

    settings = load_settings(args.config)
    missing = _missing_sqlite_file(settings.storage.url)
    if missing is not None:
        raise Failed(f"no database at {missing} (storage.url {settings.storage.url!r}); "
                     "perfbot run creates it")
    return build(settings)


def _missing_sqlite_file(url: str) -> Path | None:
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None  # the database says what is wrong with the URL
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:" or (
            name.startswith("file:")):
        return None
    return None if Path(name).exists() else Path(name)


def _number(text: str) -> int:
    found = _ID.fullmatch(text.strip())
    if found is None:
        raise Failed(f"expected an incident id like INC-42 or 42, got {text!r}", EXIT_USAGE)
    return int(found.group(1))


def _incident(perfbot: Perfbot, number: int) -> Incident:
    incident = perfbot.incident_store.get(number)
    if incident is None:
        raise Failed(f"there is no incident INC-{number}")
    return incident


@_guarded
def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    from bot.render.postmortem import markdown
    from bot.render.text import format_local, table

    if args.limit < 1:
        raise Failed(f"--limit: expected 1 or more, got {args.limit}", EXIT_USAGE)
    perfbot = _open(args)
    zone = perfbot.settings.zone
    found = perfbot.incident_store.listed(open_only=not args.all, limit=args.limit)
    if not found:
        print("No incidents." if args.all else "No open incidents.", file=out)
        return EXIT_OK
    rows = [[i.name, _state(i, zone), str(i.alert.severity), format_local(i.opened_at, zone),
             i.alert.service, i.channel, markdown(i.alert.title), _source(i)] for i in found]
    print(table(["ID", "STATE", "SEVERITY", "OPENED", "SERVICE", "CHANNEL", "TITLE", "FROM"],
                rows),
          file=out)
    if len(found) == args.limit:
        print(f"(the newest {args.limit}; --limit shows more)", file=out)
    return EXIT_OK


@_guarded
def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    from bot.durations import format_duration
    from bot.render.postmortem import markdown, times
    from bot.render.text import format_local, table

    number = _number(args.id)
    perfbot = _open(args)
    incident = _incident(perfbot, number)
    zone = perfbot.settings.zone
    store = perfbot.incident_store
    timeline = store.timeline(incident.id)
    alert = incident.alert
    to_ack, to_resolve = times(incident, timeline)
    print(f"{incident.name} · {alert.severity} · {_state(incident, zone)}", file=out)
    print(f"  {markdown(alert.title)}", file=out)
    where = [f"service {alert.service}"] + (
        [f"endpoint {alert.labels['endpoint']}"] if alert.labels.get("endpoint") else [])
    where += [f"channel {incident.channel}", f"{incident.urgency} urgency"]
    if incident.policy:
        where.append(f"policy {incident.policy}, level {incident.level}")
    print("  " + " · ".join(where), file=out)
    print(f"  opened {format_local(incident.opened_at, zone)}"
          + (f"; acknowledged after {format_duration(to_ack)}" if to_ack is not None else "")
          + (f"; resolved after {format_duration(to_resolve)}" if to_resolve is not None
             else ""), file=out)
    if incident.resolution:
        print(f"  {markdown(incident.resolution)}", file=out)
    print(f"  Slack message: {incident.message_ts or 'not posted yet'}", file=out)
    print("\nTimeline:", file=out)
    rows = [[format_local(e.at, zone), e.kind, e.user or "", markdown(e.text)] for e in timeline]
    print(table(["TIME", "EVENT", "BY", "DETAILS"], rows) if rows else "  (empty)", file=out)
    items = store.outbox(incident.id)
    print("\nOutbox:", file=out)
    rows = [[item.key, item.effect.kind, _delivery(item, zone)] for item in items]
    print(table(["KEY", "KIND", "STATE"], rows) if rows else "  (nothing decided)", file=out)
    return EXIT_OK


def _acting(act: Act) -> Callable[[argparse.Namespace, TextIO], int]:
    @_guarded
    def command(args: argparse.Namespace, out: TextIO) -> int:
        from bot.incidents.lifecycle import Refused
        from bot.render.postmortem import markdown
        from bot.storage.audit import audit_row

        user = args.user.strip()
        if not user:
            raise Failed("--user: expected who you are, got nothing", EXIT_USAGE)
        number = _number(args.id)
        perfbot = _open(args)
        now = perfbot.now()
        record = audit_row(at=now, user=user, action=act.value, target=f"INC-{number}",
                           allowed=True, detail="perfbot incidents (command line)")
        result = perfbot.incidents.act(number, act, user, now, record=record)
        if result is None:
            raise Failed(f"there is no incident INC-{number}")
        if isinstance(result, Refused):
            raise Failed(markdown(result.reason))
        print(f"{result.name} {RULES[act].done.lower()} by {user}; the running bot updates "
              "its Slack message", file=out)
        return EXIT_OK
    return command


@_guarded
def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    from bot.render.alert import alert_chart
    from bot.render.postmortem import postmortem

    number = _number(args.id)
    perfbot = _open(args)
    incident = _incident(perfbot, number)
    zone = perfbot.settings.zone
    path = Path(args.output or f"{incident.name}.md")
    chart = path.with_name(f"{path.stem}-chart.png") if incident.alert.chart else None
    text = postmortem(incident, perfbot.incident_store.timeline(incident.id), zone,
                      chart=chart.name if chart is not None else None)
    written: list[Path] = []
    try:
        if chart is not None and incident.alert.chart is not None:
            chart.write_bytes(alert_chart(incident.alert.chart, zone))
            written.append(chart)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        for done in written:  # nothing half-written stays behind
            done.unlink(missing_ok=True)
        raise Failed(f"cannot write {exc.filename or path}: {exc.strerror or exc}") from None
    print(f"wrote {path}" + (f" and {chart}" if chart is not None else ""), file=out)
    return EXIT_OK


def _source(incident: Incident) -> str:
    """Where it came from: the bot's detection, or Alertmanager with the alert's name."""
    from bot.alerts.alertmanager import SOURCE as ALERTMANAGER
    from bot.render.postmortem import markdown

    alert = incident.alert
    if alert.source == ALERTMANAGER:
        return f"alertmanager: {markdown(alert.labels.get('alertname', '?'))}"
    return alert.source


def _state(incident: Incident, zone: tzinfo) -> str:
    from bot.render.text import format_local

    if incident.silenced:
        return f"{incident.state} (silenced)"
    if incident.snoozed_until is not None and incident.is_open:
        return f"snoozed until {format_local(incident.snoozed_until, zone)}"
    return str(incident.state)


def _delivery(item: OutboxItem, zone: tzinfo) -> str:
    from bot.render.text import format_local

    if item.sent_at is not None and item.last_error:
        return f"given up after {item.attempts} attempt(s): {item.last_error}"
    if item.sent_at is not None:
        return f"sent {format_local(item.sent_at, zone)}"
    if item.attempts:
        return f"waiting, {item.attempts} failed attempt(s): {item.last_error}"
    return "waiting"


