"""Question text → ``Query``: deterministic, no network, and never raises.

Steps, each a pure function of the text and the catalog:

1. ``normalise``: Slack markup (mentions, channels, links, ``*bold*``, ``_italic_``, code,
   ``~struck-out~`` text, which is dropped as retracted), entities, emoji, control characters,
   smart quotes and case are flattened into plain lowercase ASCII; only the first
   ``MAX_TEXT`` characters are read. A typed path is kept as typed (its dots too), so it
   matches a catalog route only as written (``bot.catalog.resolve``: else "did you mean").
2. Shorthands are expanded ("yday", "wk", "hr", unless the catalog uses the word); near-miss
   words are corrected towards the catalog's words first, then the parser's vocabulary
   ("latnecy" → "latency"; "ruote" → the route word "quote", not the filler "route").
3. Time expressions are read (``timeexpr``) and removed.
3½. Catalog names spelled like the parser's words ("pricing", "traffic", "status") are kept
   from the phrases when the rest of the question says what to measure (``names``).
4. Phrases are read and removed: the measure ("p95", "error rate", "how many 5xx", "cost per
   1k requests"), ranking ("top 5", "slowest"), change ("got slower"), comparison ("vs",
   "before and after"), SLO words, and actions the bot does not take ("deploy", SQL).
5. What is left, split at connectors and filler words, is looked up in the catalog, piece by
   piece; only catalog keys and service names ever reach the ``Query``'s subjects.

Defaults, chosen to match what people expect:

* window: the last 24h for latency, errors, traffic, CPU and memory ("right now" = the last
  15 minutes); for cost, this month so far when a total is asked, else the last 7 days (a per
  day, per 1k requests or projected figure wants a full week of traffic); for SLOs, the last
  30 days (the usual rolling SLO period);
* statistic: p95 for latency; none for other measures unless named (avg, max, "peak");
* ranking: 5 rows (at most 50), worst first; "worst" means highest values first for every
  measure (slowest, most errors, most expensive, busiest); "got slower" ranks the change
  against a comparison window, by default the same span just before;
* comparisons: "vs last week" / "since last week" = the same span shifted back 7 days,
  "compared to yesterday" = shifted 1 day, "vs last month" = 1 calendar month; "before and after
  <moment>" = equal spans either side of it (as long as has passed since, at most 24h), with
  ``window`` the "after" and ``comparison`` the "before"; with no reference, the span before;
* a change question without a measure ("which endpoints regressed?") is about latency;
* no subject means every endpoint; a subject without a measure ("how is checkout doing?")
  asks for an overview (``measure`` None).

Anything not understood goes to ``not_understood``. The intent is ``help`` (never a guess)
when words name no endpoint, service, measure or time the parser knows ("p95 of checkout for
the mobile app": answering for all of checkout would answer another question), when a time
cannot be used (in the future, no such date), when the text asks for an action ("deploy",
SQL, shell), or when nothing asks for a figure. Stray query syntax (braces, digits) next to a
known subject is reported but does not stop the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.ask.parsing.intents import build, help_query
from bot.ask.parsing.names import add_claims, claim_names, take_claims
from bot.ask.parsing.normalise import MAX_TEXT, normalise
from bot.ask.parsing.phrases import PHRASES, Draft
from bot.ask.parsing.subjects import Names, find_subjects
from bot.ask.parsing.timeexpr import find_times
from bot.ask.parsing.vocabulary import lexicon_for, spell
from bot.ask.query import Intent, Query, Subjects
from bot.catalog import Catalog


def parse(text: str, catalog: Catalog, now: datetime, tz: ZoneInfo) -> Query:
    """Read one question. Never raises: anything it cannot use ends up in a help query."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        return _parse(text, catalog, now, tz)
    except Exception as exc:  # a bug must not reach the asker as a traceback
        return Query(
            text="",
            intent=Intent.HELP,
            not_understood=(f"I could not read this question ({type(exc).__name__})",),
        )


def _parse(text: str, catalog: Catalog, now: datetime, tz: ZoneInfo) -> Query:
    clean = normalise(text if isinstance(text, str) else "")
    draft = Draft()
    if len(clean) > MAX_TEXT:
        clean = clean[:MAX_TEXT].rsplit(" ", 1)[0]
        draft.not_understood.append(f"only the first {MAX_TEXT} characters were read")
    if not clean:
        draft.help = True
        return help_query(clean, draft, None, Subjects(), [])

    lexicon = lexicon_for(catalog)
    names = Names(catalog, lexicon)
    spelled = spell(clean, lexicon, draft.understood, draft.read_as)
    hits = find_times(spelled, now, tz)
    rest = _blank(spelled, [(h.start, h.end) for h in hits])
    claims, notes = claim_names(rest, names, lexicon, draft, _read_phrases)
    draft.understood.extend(notes)
    draft.read_as.extend(notes)
    rest = _read_phrases(take_claims(rest, claims), draft)
    subjects, unknown = find_subjects(rest, names, draft)
    add_claims(claims, subjects, draft)
    return build(clean, spelled, draft, hits, subjects, unknown, now, tz)


def _read_phrases(rest: str, draft: Draft) -> str:
    """Step 4: the phrases read into ``draft``; returns ``rest`` without them."""
    for pattern, action in PHRASES:
        spans = []
        for match in pattern.finditer(rest):
            action(match, draft)
            spans.append((match.start(), match.end()))
        rest = _blank(rest, spans)
    return rest


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """Replace each span by a separator of the same length, so positions stay valid."""
    for start, end in spans:
        text = text[:start] + ";" + " " * (end - start - 1) + text[end:]
    return text
