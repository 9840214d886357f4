"""journeys.stats against hand values, published examples, scipy and statsmodels (test-only reference)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from journeys import stats


def test_odds_ratio_by_hand() -> None:
    t = stats.two_by_two(30, 70, 10, 90)
    assert t.odds_ratio == pytest.approx(30 * 90 / (70 * 10))
    se = math.sqrt(1 / 30 + 1 / 70 + 1 / 10 + 1 / 90)
    assert t.ci_low == pytest.approx(math.exp(math.log(30 * 90 / 700) - 1.959963984540054 * se))
    assert t.ci_high == pytest.approx(math.exp(math.log(30 * 90 / 700) + 1.959963984540054 * se))
    assert (t.rate_with, t.rate_without, t.lift) == pytest.approx((0.3, 0.1, 3.0))
    assert not t.corrected
    # all expected cells >= 5 -> chi-square: n (ad - bc)^2 / (r1 r2 c1 c2) = 200 * 2000^2 / (100*100*40*160)
    assert t.test == "chi-square"
    assert t.p_value == pytest.approx(sps.chi2.sf(200 * 2000**2 / (100 * 100 * 40 * 160), 1))


def test_haldane_only_when_a_cell_is_zero() -> None:
    t = stats.two_by_two(0, 40, 12, 30)
    assert t.corrected
    assert t.odds_ratio == pytest.approx(0.5 * 30.5 / (40.5 * 12.5))
    se = math.sqrt(1 / 0.5 + 1 / 40.5 + 1 / 12.5 + 1 / 30.5)
    assert math.log(t.ci_high) - math.log(t.odds_ratio) == pytest.approx(stats.Z95 * se)
    assert not stats.two_by_two(1, 40, 12, 30).corrected


def test_fisher_on_the_tea_tasting_table() -> None:
    # Fisher's lady tasting tea: two-sided p = 34/70 (R: fisher.test(matrix(c(3,1,1,3),2)) -> 0.4857)
    t = stats.two_by_two(3, 1, 1, 3)
    assert t.test == "fisher"
    assert t.p_value == pytest.approx(34 / 70)


def test_fisher_threshold_is_expected_cell_below_five() -> None:
    # expected cells of [[5,15],[15,45]]: 20*20/80 = 5.0 exactly -> chi-square; one fewer -> Fisher
    assert stats.two_by_two(5, 15, 15, 45).test == "chi-square"
    assert stats.two_by_two(4, 15, 15, 45).test == "fisher"


def test_empty_row_or_column_is_untestable() -> None:
    t = stats.two_by_two(0, 0, 5, 10)
    assert math.isnan(t.odds_ratio) and math.isnan(t.rate_with) and t.p_value == 1.0
    t = stats.two_by_two(0, 7, 0, 10)
    assert math.isnan(t.odds_ratio) and t.rate_without == 0.0
    with pytest.raises(ValueError):
        stats.two_by_two(-1, 2, 3, 4)


def test_lift_when_the_unexposed_never_convert() -> None:
    assert stats.two_by_two(3, 7, 0, 10).lift == math.inf


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 60), st.integers(0, 60), st.integers(0, 60), st.integers(0, 60))
def test_matches_statsmodels_and_scipy(a: int, b: int, c: int, d: int) -> None:
    t = stats.two_by_two(a, b, c, d)
    if min(a + b, c + d, a + c, b + d) == 0:
        assert math.isnan(t.odds_ratio)
        return
    cells = np.array([[a, b], [c, d]], dtype=float)
    ref = Table2x2(cells + 0.5 if min(a, b, c, d) == 0 else cells)
    low, high = ref.oddsratio_confint(alpha=0.05, method="normal")
    assert (t.odds_ratio, t.ci_low, t.ci_high) == pytest.approx((ref.oddsratio, low, high), rel=1e-9)
    expected = sps.contingency.expected_freq(cells)
    if expected.min() < 5:
        assert t.test == "fisher"
        assert t.p_value == pytest.approx(sps.fisher_exact(cells.astype(int)).pvalue, rel=1e-9)
    else:
        assert t.test == "chi-square"
        ref_p = sps.chi2_contingency(cells, correction=False).pvalue
        assert t.p_value == pytest.approx(ref_p, rel=1e-9, abs=1e-300)


def test_bh_by_hand() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> p*m/rank 0.02, 0.02, 0.04, 0.04 (monotone from the top)
    assert stats.bh_qvalues([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert stats.bh_qvalues([]) == []
    q = stats.bh_qvalues([0.5, math.nan, 0.01])
    assert math.isnan(q[1]) and q[0] == pytest.approx(0.5) and q[2] == pytest.approx(0.02)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=40))
def test_bh_matches_statsmodels(ps: list[float]) -> None:
    assert stats.bh_qvalues(ps) == pytest.approx(list(multipletests(ps, method="fdr_bh")[1]), abs=1e-12)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (56, 70), (1, 1000)])
def test_wilson_matches_statsmodels(k: int, n: int) -> None:
    assert stats.wilson(k, n) == pytest.approx(proportion_confint(k, n, method="wilson"), abs=1e-12)


def test_newcombe_published_example() -> None:
    # Newcombe (1998), Stat Med 17:873, Table II example (a): 56/70 - 48/80 = 0.2000, method 10: 0.0524 to 0.3339
    diff, low, high = stats.newcombe_diff(56, 70, 48, 80)
    assert diff == pytest.approx(0.2)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


@pytest.mark.parametrize(("k1", "n1", "k2", "n2"), [(9, 10, 3, 10), (0, 10, 0, 20), (5, 50, 20, 60), (10, 10, 0, 5)])
def test_newcombe_matches_statsmodels(k1: int, n1: int, k2: int, n2: int) -> None:
    low, high = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff")
    assert stats.newcombe_diff(k1, n1, k2, n2)[1:] == pytest.approx((low, high), abs=1e-12)


def test_bootstrap_band_of_a_mean() -> None:
    data = np.random.default_rng(7).normal(10.0, 2.0, size=400)

    def mean(w: np.ndarray) -> float:
        return float((data * w).sum() / w.sum())

    band = stats.bootstrap(len(data), mean, resamples=2000, seed=1)
    assert band.estimate == pytest.approx(data.mean())
    se = data.std(ddof=1) / math.sqrt(len(data))
    # percentile band of the mean ~ mean +/- 1.96 se (resampling noise well within 10% of its width)
    assert band.low == pytest.approx(data.mean() - 1.96 * se, abs=0.2 * se)
    assert band.high == pytest.approx(data.mean() + 1.96 * se, abs=0.2 * se)
    assert band.failed == 0
    assert stats.bootstrap(len(data), mean, resamples=50, seed=3) == stats.bootstrap(len(data), mean, resamples=50, seed=3)


def test_bootstrap_counts_failed_resamples() -> None:
    band = stats.bootstrap(3, lambda w: math.nan, resamples=10)
    assert band.failed == 10 and math.isnan(band.low)
    with pytest.raises(ValueError):
        stats.bootstrap(0, lambda w: 0.0)


def test_a_p_value_that_underflowed_reads_as_a_bound_not_zero():
    from journeys.report.model import PVALUE, _cell
    from journeys.stats import pvalue_text

    assert [pvalue_text(v) for v in (0.0, 3.14159e-22, 0.5, float("nan"), None)] == ["< 1e-300", "3.1e-22", "0.5", None, None]
    assert [_cell(v, PVALUE) for v in (0.0, 0.012, float("nan"))] == ["< 1e-300", "0.012", "–"]
