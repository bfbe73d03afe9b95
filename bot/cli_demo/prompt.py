"""The demo's prompt: after the walk, in a terminal, questions, acts and digests typed at
``perfbot>`` on the bot as the walk left it."""

from __future__ import annotations

from datetime import timedelta
from typing import TextIO

from bot.cli_demo.walk import Walk, indent
from bot.cli_demo.world import SECOND, TEAM

PROMPT_HELP = """Commands (the clock stands at the end of the walk):
  <a question>      answered as in Slack, e.g. "p95 of order history over the last 6h"
  incidents         the open incidents in the demo's store
  ack INC-1         acknowledge, as @{user} (allowed by slack.allowed_users)
  resolve INC-1     resolve, as @{user}
  digest daily      the team digest now; digest weekly: the manager digest
  help · quit       (end of input quits too)"""


def prompt(walk: Walk, source: TextIO) -> None:
    # Wall time goes on (acts are timed), the data stays at its end: the last hour has data.
    assert walk.perfbot.demo is not None
    walk.clock.as_of = walk.perfbot.demo.end
    print("\n" + PROMPT_HELP.format(user=SECOND), file=walk.out)
    while True:
        print("\nperfbot> ", end="", file=walk.out, flush=True)
        line = source.readline()
        if not line:
            print(file=walk.out)
            return
        if not command(walk, line.strip()):
            return


def command(walk: Walk, line: str) -> bool:
    """One prompt line; False to stop."""
    words = line.split()
    if not words:
        return True
    head = words[0].lower()
    walk.clock.advance(timedelta(minutes=1))
    if head in ("quit", "exit", "q"):
        return False
    if head == "help":
        print(PROMPT_HELP.format(user=SECOND), file=walk.out)
    elif head in ("ack", "resolve"):
        if len(words) != 2:
            print(f"  usage: {head} INC-1 (one incident id), got {line!r}", file=walk.out)
        else:
            walk.act(head, words[1], SECOND)
    elif head == "digest":
        if len(words) != 2 or words[1].lower() not in ("daily", "weekly"):
            print(f"  usage: digest daily | digest weekly, got {line!r}", file=walk.out)
        else:
            digest_now(walk, words[1].lower())
    elif head == "incidents" and len(words) == 1:
        from bot.render.incident_lists import incidents_text

        found = walk.perfbot.incident_store.listed(open_only=False, limit=50)
        print(incidents_text(found, walk.perfbot.settings.zone, walk.clock.now()),
              file=walk.out)
    else:
        walk.ask(line, None)
    return True


def digest_now(walk: Walk, kind: str) -> None:
    from bot.digests.model import Scope
    from bot.render.digest import digest_message
    from bot.render.terminal import message_text

    scope = Scope(team=TEAM) if kind == "daily" else Scope()
    digest = walk.perfbot.build_digest("daily" if kind == "daily" else "weekly",
                                       walk.perfbot.data_now(), scope)
    message = digest_message(digest, walk.perfbot.settings.zone)
    print(indent(message_text(message.text, message.blocks)), file=walk.out)
