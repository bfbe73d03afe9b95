"""Causal anomaly scores for many time series at once, in plain numpy.

A row is scored from itself and the rows before it, never from later ones. Three forms give
the same numbers (to rounding):

- :func:`score_series`: one series, optionally with timestamps (which enable a daily profile);
- :func:`score_batch`: a 2-D array (series × time), vectorised along both axes;
- :class:`DetectorState` with :func:`update`: one new value per series per tick.

The first two are in ``batch``, the last in ``streaming``; both build on ``surprise`` (the
tests, their calibration and the score), ``slots`` (the time of day) and ``config``.

How a row is scored. Every step is a linear recursive filter, a cumulative sum or a running
extreme, which is why the batch form needs no Python loop over time.

1. **Two baselines predict each value**: an exponentially weighted (EW) level and, when the
   time of day is known, a daily profile (an EW mean per time-of-day slot over past days). The
   profile takes over only while its recent errors are well below the level's, so series with
   no daily rhythm, or too little history, stay on the level.
2. **Three tests** compare the data with that prediction, each in units of its own EW mean
   absolute error: the *point* error (spikes), the *change* of the error since the previous row
   (jumps in smooth series) and the *shift*: the mean of the last ``shift_window`` rows against
   the baseline as it stood before them (level shifts too small to show in one point). A
   direction keeps only rises (latency, error ratio) or only falls (throughput). A return
   towards the baseline (the end of a dip or a spike) is never a jump.
3. **Each test is calibrated per series**. Its earlier values give an EW estimate of how often
   it exceeds ``tail_threshold`` and how heavy its tail is beyond (a Hill estimator, shrunk
   towards a prior), turning the test into a surprise ``S = -ln P(a value this extreme)``: a
   series whose errors are often large (tweet counts) needs a far larger error to surprise.
   The fit keeps learning during an incident, so a sustained change scores highest at its onset
   and fades as it persists: the detector reports changes, not states.
4. **The surprise of a row** is the largest of the three, plus ``novelty_nats`` when the value
   lies beyond the range of every earlier value of its series (by ``novelty_margin`` of that
   range): a record spike in a spiky series, whose tail fit has learnt to discount large
   errors, still stands out. The surprise is zero during the warm-up and, so that one incident
   raises one alarm, zero unless it beats every surprise of the previous ``hold_rows`` rows.
5. **The score** is ``S / (S + score_half)``: 0.5 means odds of about ``e^-score_half``.

Missing values (NaN or ±inf) score zero and leave every baseline and scale where it was: each
EW mean is kept as a pair of sums (weighted values, weights) that a missing row decays alike.
"""

