"""Error budgets, as the SRE workbook defines them: an objective allows a share of bad
requests over a window; spent = bad / allowed; burn rate = bad share / allowed share.
Pure; the answers (``bot.ask.slo``) and the digests read them from here."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict


class Budget(BaseModel):
    """One objective over a window: how many bad requests it allowed and how many there were."""

    model_config = ConfigDict(frozen=True)

    objective: str  # "99% of requests without a 5xx"
    allowed_ratio: float  # share of requests allowed to be bad
    requests: float
    bad: float

    @property
    def allowed(self) -> float:
        return self.allowed_ratio * self.requests

    @property
    def bad_ratio(self) -> float:
        return self.bad / self.requests if self.requests > 0 else math.nan

    @property
    def spent(self) -> float | None:
        """Share of the budget used (1.0 = all of it); None with no budget at all."""
        return self.bad / self.allowed if self.allowed > 0 else None

    @property
    def remaining(self) -> float | None:
        spent = self.spent
        return None if spent is None else 1 - spent

    @property
    def burn_rate(self) -> float | None:
        if self.allowed_ratio <= 0 or not math.isfinite(self.bad_ratio):
            return None
        return self.bad_ratio / self.allowed_ratio

    @property
    def met(self) -> bool:
        return self.bad <= self.allowed


def error_budget(target: float, requests: float, error_ratio: float) -> Budget:
    """The 5xx objective: ``target`` is the allowed error ratio (0.01 for 99%)."""
    bad = (error_ratio if math.isfinite(error_ratio) else 0.0) * requests
    return Budget(objective=f"{objective_share(1 - target)} of requests without a 5xx",
                  allowed_ratio=target, requests=requests, bad=bad)


def latency_budget(quantile: float, threshold_text: str, requests: float,
                   within: float) -> Budget:
    """The latency objective from the share of requests ``within`` the threshold
    (``threshold_text``: how it reads, "500 ms")."""
    slow = (1 - within) * requests if math.isfinite(within) else 0.0
    objective = f"{objective_share(quantile)} of requests within {threshold_text}"
    return Budget(objective=objective, allowed_ratio=1 - quantile, requests=requests,
                  bad=max(0.0, slow))


def objective_share(share: float) -> str:
    """99.9% stays 99.9%: objectives are written with the digits they were set with."""
    return f"{round(share * 100, 6):g}%"
