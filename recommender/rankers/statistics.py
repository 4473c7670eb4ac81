"""Ranking statistics, one owner for the benchmark, the studies and `recommend`. Gains and regrets are in accuracy
points everywhere (a fraction never carries those names)."""
from __future__ import annotations

import numpy as np
from scipy import stats


TIE_TOLERANCE = 1e-9  # relative: a spread below this fraction of the values' size is rounding, not signal


def standardise(values) -> np.ndarray:
    """z-scores over one target's sources; all 0 when the values do not vary beyond their numerical precision
    (a spread of at most TIE_TOLERANCE × their largest magnitude), so rounding noise never decides an order:
    ten LogME values equal to 13 digits would otherwise become ±1."""
    values = np.asarray(values, float)
    spread = values.std()
    if not spread > TIE_TOLERANCE * max(1.0, float(np.abs(values).max(initial=0.0))):
        return np.zeros_like(values)
    return (values - values.mean()) / spread


def weighted_tau(score, gain) -> float:
    """Weighted Kendall tau (Vigna, WWW 2015; scipy's hyperbolic weigher: the top of the order counts most)
    between a ranking's score and the measured gains; 0 when either is constant."""
    score, gain = np.asarray(score, float), np.asarray(gain, float)
    if np.ptp(score) == 0 or np.ptp(gain) == 0:
        return 0.0
    value = stats.weightedtau(score, gain).statistic
    return float(value) if np.isfinite(value) else 0.0


def decision_regret(measured_points, chosen: int | None) -> float:
    """Accuracy points lost by a decision against the best of {every source, ImageNet}: `chosen` is the index
    of the source started from, or None for ImageNet (gain 0 by definition). Never negative."""
    measured = np.asarray(measured_points, float)
    best = max(0.0, float(measured.max()))
    return best - (0.0 if chosen is None else float(measured[chosen]))


def t_interval(values, level: float = 0.95) -> tuple[float, float]:
    """(mean, half-width) of the Student-t interval of the mean of `values` (half nan with one value)."""
    values = np.asarray(values, float)
    if len(values) < 2:
        return float(values.mean()) if len(values) else float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(half)
