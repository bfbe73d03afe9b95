"""The detector's parameters, and the direction of the deviations that hurt per signal."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from bot.metrics.base import Signal


class Direction(StrEnum):
    """Which deviations count: rises only (latency, error ratio), falls only (throughput), both."""

    UP = "up"
    DOWN = "down"
    BOTH = "both"


class DetectorConfig(BaseModel):
    """Every parameter of the detector; one configuration serves every series.

    Defaults were chosen on the Numenta Anomaly Benchmark (58 series of 1k-23k rows at
    5-minute to 1-hour steps; ``benchmarks/nab.py``). Windows count rows, so they scale with
    the step.
    """

    model_config = ConfigDict(frozen=True)

    level_alpha: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="Weight of the newest row in the EW level and every EW error scale: a memory "
        "of ~100 rows, steady under a spike yet following drift.",
    )
    seasonal_alpha: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="Weight of the newest day in each time-of-day slot: about five days of "
        "memory, so a changed routine is learnt within a week.",
    )
    seasonal_gain: float = Field(
        0.5,
        gt=0,
        description="The daily profile replaces the level only while its EW error is below this "
        "fraction of the level's: a marginal gain is not worth the profile's own noise.",
    )
    seasonal_min_days: int = Field(
        1,
        ge=1,
        description="Days of profile errors needed before the profile may be used (so at least "
        "two days of history).",
    )
    shift_window: int = Field(
        80,
        ge=2,
        description="Rows averaged by the shift test: long enough for a small sustained shift to "
        "stand out of the noise, short enough to report it within hours at a 5-minute step.",
    )
    shift_alpha: float = Field(
        0.001,
        gt=0,
        lt=1,
        description="Weight of the newest row in the shift test's scale: its values are strongly "
        "autocorrelated, so the scale needs a memory of many windows.",
    )
    tail_threshold: float = Field(
        3.0,
        gt=0,
        description="Test value (in EW error units, ≈ sigmas) above which the tail is fitted.",
    )
    tail_alpha: float = Field(
        0.0003,
        gt=0,
        lt=1,
        description="Weight of the newest row in the tail fit: ~3,000 rows, since values above "
        "the threshold are rare and the fit needs dozens of them.",
    )
    tail_prior_rows: float = Field(
        300.0,
        gt=0,
        description="Weight, in rows, of the prior tail that the fit starts from and is shrunk "
        "towards, so a young series is not judged heavy- or light-tailed on a few points "
        "(300 beat 500 under configuration-level LOCO on NAB).",
    )
    tail_prior_rate: float = Field(
        0.0027,
        gt=0,
        lt=1,
        description="Prior rate of values above the threshold: Gaussian, two-sided, 3 sigma.",
    )
    tail_prior_log_excess: float = Field(
        0.2,
        gt=0,
        description="Prior mean of ln(value / threshold) above the threshold: a Laplace tail's "
        "(~0.2) rather than a Gaussian's (~0.1), as metrics are heavier-tailed than Gaussian.",
    )
    novelty_margin: float | None = Field(
        0.01,
        ge=0,
        description="Range novelty (None: off): a value further beyond the range of every "
        "earlier value of its series than this fraction of that range is novel. Catches a "
        "record spike in a spiky series, whose tail fit has learnt to shrug large errors off.",
    )
    novelty_nats: float = Field(
        5.0,
        gt=0,
        description="Surprise (nats) added to a novel value: with a test's few nats short of "
        "alarming, a record is enough; alone, a record is not.",
    )
    novelty_sigmas: float = Field(
        0.0,
        ge=0,
        description="...and by more than this many error scales (≈ sigmas): 0 counts every "
        "record, 1 spares the small records that pure noise keeps setting.",
    )
    warmup: int = Field(
        50,
        ge=0,
        description="Valid rows a series needs before it is scored at all.",
    )
    hold_rows: int = Field(
        100,
        ge=0,
        description="A row scores zero unless its surprise beats every surprise of this many "
        "previous rows: one incident, one alarm (0 turns this off).",
    )
    score_half: float = Field(
        7.0,
        gt=0,
        description="Surprise (nats) mapped to a score of 0.5: odds of about 1 in 1,100.",
    )
    spread_floor: float = Field(
        1e-9,
        ge=0,
        description="Smallest error scale, relative to the level: a constant series is not "
        "alarmed by rounding noise, yet any real change of it is.",
    )
    direction: Direction = Field(Direction.BOTH, description="Direction for series given none.")


DEFAULT_CONFIG = DetectorConfig()

# The deviations that hurt, per signal: slower, more errors, busier machines; less traffic.
SIGNAL_DIRECTIONS: dict[Signal, Direction] = {
    Signal.LATENCY: Direction.UP,
    Signal.ERROR_RATIO: Direction.UP,
    Signal.CPU: Direction.UP,
    Signal.MEMORY: Direction.UP,
    Signal.THROUGHPUT: Direction.DOWN,
}

