"""Statistics shared by every view that tests or bounds a number: one place, one convention each.

- 2x2 tables: odds ratio with a Wald 95% interval on the log odds ratio (Haldane +0.5 on every cell only
  when a cell is 0), lift, and a p-value from Fisher's exact test when any expected cell is < 5, else
  Pearson's chi-square (no continuity correction);
- Benjamini-Hochberg q-values over a family of p-values;
- Wilson score interval for a rate and Newcombe's hybrid score interval for a difference of two rates;
- a percentile bootstrap over resampled units (journeys, customers) with a fixed seed.

Inputs are counts or plain numbers that the engine has already aggregated; nothing here touches a table.

Examples:
    >>> t = two_by_two(30, 70, 10, 90)
    >>> round(t.odds_ratio, 4), t.test
    (3.8571, 'chi-square')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

#: two-sided 95% normal quantile (scipy.stats.norm.ppf(0.975); scipy loads only when a test needs it)
Z95 = 1.959963984540054
#: below this expected count in any cell the chi-square approximation is not trusted
FISHER_EXPECTED_BELOW = 5.0
#: added to every cell when one cell is zero (Haldane-Anscombe)
HALDANE = 0.5

Test = Literal["fisher", "chi-square"]


@dataclass(frozen=True, slots=True)
class TwoByTwo:
    """A 2x2 table ``[[a, b], [c, d]]``: rows exposed / unexposed, columns outcome yes / no.

    ``odds_ratio`` and its interval use the Haldane-corrected cells when a cell is 0 (``corrected``);
    ``lift`` is rate_with / rate_without (nan when either side is empty, inf when only the unexposed
    rate is 0).
    """

    a: int
    b: int
    c: int
    d: int
    rate_with: float
    rate_without: float
    lift: float
    odds_ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    test: Test
    corrected: bool

    @property
    def min_cell(self) -> int:
        return min(self.a, self.b, self.c, self.d)


def _rate(k: int, n: int) -> float:
    return k / n if n else math.nan


def odds_ratio_ci(a: int, b: int, c: int, d: int, *, z: float = Z95) -> tuple[float, float, float, bool]:
    """``(odds_ratio, low, high, corrected)``: Wald interval on log(OR); +0.5 on every cell only if one is 0."""
    corrected = min(a, b, c, d) == 0
    fa, fb, fc, fd = (float(x) + (HALDANE if corrected else 0.0) for x in (a, b, c, d))
    log_or = math.log(fa * fd / (fb * fc))
    se = math.sqrt(1 / fa + 1 / fb + 1 / fc + 1 / fd)
    return math.exp(log_or), math.exp(log_or - z * se), math.exp(log_or + z * se), corrected


def expected_cells(a: int, b: int, c: int, d: int) -> tuple[float, float, float, float]:
    """Expected counts under independence (row total x column total / n)."""
    n = a + b + c + d
    if n == 0:
        return (0.0, 0.0, 0.0, 0.0)
    r1, r2, c1, c2 = a + b, c + d, a + c, b + d
    return (r1 * c1 / n, r1 * c2 / n, r2 * c1 / n, r2 * c2 / n)


def independence_p(a: int, b: int, c: int, d: int) -> tuple[float, Test]:
    """Two-sided p-value: Fisher exact when any expected cell is < 5, else chi-square (1 df, no correction)."""
    if min(expected_cells(a, b, c, d)) < FISHER_EXPECTED_BELOW:
        from scipy import stats as sps

        return float(sps.fisher_exact([[a, b], [c, d]], alternative="two-sided").pvalue), "fisher"
    n = a + b + c + d
    r1, r2, c1, c2 = a + b, c + d, a + c, b + d
    chi2 = n * (a * d - b * c) ** 2 / (r1 * r2 * c1 * c2)
    from scipy import stats as sps

    return float(sps.chi2.sf(chi2, 1)), "chi-square"


def two_by_two(a: int, b: int, c: int, d: int) -> TwoByTwo:
    """Every statistic of one 2x2 table (exposed converted, exposed not, unexposed converted, unexposed not)."""
    if min(a, b, c, d) < 0:
        raise ValueError(f"2x2 counts must be >= 0, got {(a, b, c, d)}")
    rw, rwo = _rate(a, a + b), _rate(c, c + d)
    if math.isnan(rw) or math.isnan(rwo):
        lift = math.nan
    elif rwo == 0:
        lift = math.inf if rw > 0 else math.nan
    else:
        lift = rw / rwo
    if a + b == 0 or c + d == 0 or a + c == 0 or b + d == 0:
        # a whole row or column is empty: nothing to compare, no association to test
        return TwoByTwo(a, b, c, d, rw, rwo, lift, math.nan, math.nan, math.nan, 1.0, "fisher", False)
    odds, low, high, corrected = odds_ratio_ci(a, b, c, d)
    p, test = independence_p(a, b, c, d)
    return TwoByTwo(a, b, c, d, rw, rwo, lift, odds, low, high, p, test, corrected)


def bh_qvalues(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order; NaN p-values stay NaN, untested."""
    idx = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    m = len(idx)
    out = [math.nan] * len(p_values)
    if m == 0:
        return out
    order = sorted(idx, key=lambda i: p_values[i])
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        out[i] = running
    return out


def wilson(k: int, n: int, *, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion k/n; (nan, nan) when n is 0."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe_diff(k1: int, n1: int, k2: int, n2: int, *, z: float = Z95) -> tuple[float, float, float]:
    """``(p1 - p2, low, high)``: Newcombe's hybrid score interval (method 10) from two Wilson intervals."""
    if n1 == 0 or n2 == 0:
        return (math.nan, math.nan, math.nan)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, z=z)
    l2, u2 = wilson(k2, n2, z=z)
    diff = p1 - p2
    low = diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (diff, low, high)


@dataclass(frozen=True, slots=True)
class BootstrapBand:
    """A statistic on the full data and the percentile band of its resamples (NaN resamples are skipped)."""

    estimate: float
    low: float
    high: float
    resamples: int
    failed: int


def bootstrap(
    units: int,
    statistic: Callable[[np.ndarray], float],
    *,
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> BootstrapBand:
    """Percentile bootstrap: ``statistic(weights)`` gets how often each of ``units`` units was drawn.

    Weights (multinomial counts summing to ``units``) let the caller re-aggregate per-unit numbers
    without copying rows; the full-data estimate is ``statistic(ones)``.
    """
    if units <= 0:
        raise ValueError("bootstrap needs at least one unit")
    rng = np.random.default_rng(seed)
    estimate = float(statistic(np.ones(units, dtype=np.int64)))
    draws = rng.multinomial(units, np.full(units, 1.0 / units), size=resamples)
    values = np.array([statistic(w) for w in draws], dtype=float)
    ok = values[~np.isnan(values)]
    if ok.size == 0:
        return BootstrapBand(estimate, math.nan, math.nan, resamples, resamples)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ok, [tail, 100 - tail])
    return BootstrapBand(estimate, float(low), float(high), resamples, int(resamples - ok.size))


def pvalue_text(v: float | None) -> str | None:
    """A p- or q-value in two significant digits; one too small for a float (it underflowed to 0) reads as a
    bound, not as zero. Missing: None."""
    if v is None or v != v:
        return None
    return "< 1e-300" if v == 0 else f"{v:.2g}"
