"""Question text → ``Query``, in one direction: ``parser.parse`` runs the steps in order.

normalise (Slack markup → plain words) → vocabulary (spelling) → timeexpr (time expressions,
on timegrammar and ``bot.ask.timerange``) → phrases (what is asked) → subjects (catalog
names) → timing (window and comparison) and intents (the ``Query``). Nothing here reads
metrics or composes answers.
"""
