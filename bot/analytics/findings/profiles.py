"""Named profiles of the findings configuration for data that are not the bot's own metrics."""

from __future__ import annotations

from bot.analytics.anomaly.config import DEFAULT_CONFIG
from bot.analytics.findings.model import DEFAULT_FINDINGS, FindingsConfig, Guard

# The z of the NAB profile's guards: the one the bot's own guards use.
NAB_Z = DEFAULT_FINDINGS.guards[next(iter(DEFAULT_FINDINGS.guards))].z


def nab_profile(z: float = NAB_Z, surprise_alarm: float | None = None) -> FindingsConfig:
    """The bot's decision for a generic metric (the Numenta Anomaly Benchmark's series): the
    guards that only mean something for the bot's signals do not apply (a minimum change in
    milliseconds or percent, a minimum traffic, the errors needed to count an error ratio);
    the z guard, the seasonal baseline, the spread and the persistence (with its fast tiers)
    are the bot's. ``z`` is the z guard of every signal (``math.inf``: the z rule off);
    ``surprise_alarm`` the surprise tier's (NAB sweeps it; the tier's guards are then only the
    direction)."""
    guards = {signal: Guard(min_abs=0.0, min_rel=0.0, z=z) for signal in DEFAULT_FINDINGS.guards}
    return DEFAULT_FINDINGS.model_copy(update={"guards": guards, "min_requests": 0.0,
                                               "min_errors": 0.0,
                                               "surprise_alarm": surprise_alarm,
                                               # the scorer's own (chosen on NAB)
                                               "surprise_novelty_sigmas":
                                                   DEFAULT_CONFIG.novelty_sigmas})


NAB_FINDINGS = nab_profile()
