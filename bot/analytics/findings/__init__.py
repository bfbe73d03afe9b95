"""From metric series to findings: anomalies with production guards, grouped, with severity.

Pure: arrays in, findings out. The pipeline, vectorised over every series of a batch:

1. **Seasonal robust baseline** per point: the median of the same time of day over the
   previous ``baseline_days`` days plus the same time and weekday of earlier weeks (so the
   last week's weekday counts twice and older weeks' weekdays once).
2. **Robust spread**: the median of the previous days' median absolute residuals (× 1.4826).
3. **Guards** before a point counts as *exceeding*: a z-score beyond ``z`` in the signal's
   bad direction, a minimum absolute and relative change, and a minimum traffic (requests in
   the point, and errors for the error ratio). Throughput counts drops (surges as info).
4. **Persistence**: ``k`` exceeding points among the last ``n`` fire; a firing anomaly stays
   active until ``recovery`` points pass without firing; a series that fires again within
   ``reopen_within`` of its last anomaly reopens it (no flapping). **The surprise tier**
   fires a single point at once where the anomaly scorer (``bot.analytics.anomaly``, run
   from one to two ``surprise_context`` before it, in the signal's direction; only on the
   series, and over the anchors, where a judged point passed the other guards) scores it at
   least ``surprise_alarm`` and every guard but the z passes: a record spike in a series
   whose median spread calls it ordinary, or a change so surprising it needs no persistence.
5. **Trend** (slow leaks): the 24-hour mean grew in the bad direction in each of the last
   ``trend_days`` days, by at least a minimum per day and in total.
6. **The scorer** (``bot.analytics.anomaly``) also runs over the whole read on the series
   that fired only (it is much slower than the guards) and dates the onset: the best-scored
   point just before the firing, when it scores at least ``onset_score``.
7. **Severity** from the distance to the baseline and the SLO (multi-window burn rates).
8. **Grouping**: anomalies of one service that start within ``group_gap`` of each other, or
   while another is still active (and within ``group_window``), are one finding; its first
   mover is the earliest.

Causal: the decision at a point uses only points up to it (baseline and spread from earlier
days, persistence and trend from windows that end at it).

The modules, in the pipeline's order: ``model`` (series, thresholds, anomalies, findings),
``baseline`` (1), ``decision`` (2 to 5), ``anomalies`` (6, and the runs that make an anomaly),
``severity`` (7) and ``grouping`` (8, and ``find``, the whole pipeline).
"""
