"""P(alive) (BG/NBD): the published CDNOW fit, the engine step by hand, the model's formulas, honest limits."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import date, datetime
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import hyp2f1

from journeys.analyses import palive
from journeys.analyses.palive import (
    BGNBDParams,
    PAliveQuery,
    band_of,
    compute_palive,
    expected_purchases,
    fit_bgnbd,
    judged_at,
    p_alive,
    purchase_summary,
)
from journeys.errors import QueryError
from tests.conftest import frame

CDNOW = Path(__file__).parent / "data" / "cdnow" / "cdnow_customers_summary.csv"
PUBLISHED = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)  # Fader, Hardie & Lee (2005), CDNOW, weeks
DAY = 24 * 60  # conftest.frame takes minutes after 2025-03-01 09:00


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(CDNOW)


def columns(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return df["frequency"].to_numpy(), df["recency"].to_numpy(), df["T"].to_numpy()


def test_fit_reproduces_the_published_cdnow_estimates(cdnow):
    fit = fit_bgnbd(*columns(cdnow))
    assert len(cdnow) == 2357 and fit.converged
    got = fit.params
    assert (round(got.r, 3), round(got.alpha, 3), round(got.a, 3), round(got.b, 3)) == (0.243, 4.414, 0.793, 2.426)
    assert round(fit.log_likelihood, 1) == -9582.4


def test_a_fit_cut_short_says_so(cdnow):
    fit = fit_bgnbd(*columns(cdnow), max_iterations=2)
    assert not fit.converged
    assert "ITERATIONS REACHED LIMIT" in fit.message


def test_same_as_lifetimes_per_customer(cdnow):
    lifetimes = pytest.importorskip("lifetimes")  # an optional test reference (dev extra), never a dependency
    x, tx, age = columns(cdnow)
    theirs = lifetimes.BetaGeoFitter().fit(x, tx, age)
    ours = fit_bgnbd(x, tx, age).params
    assert [ours.r, ours.alpha, ours.a, ours.b] == pytest.approx(list(theirs.params_[["r", "alpha", "a", "b"]]), rel=1e-4)
    # the formulas, compared at the same parameters
    theirs.params_ = pd.Series({"r": ours.r, "alpha": ours.alpha, "a": ours.a, "b": ours.b})
    np.testing.assert_allclose(p_alive(ours, x, tx, age), theirs.conditional_probability_alive(x, tx, age), rtol=1e-12)
    for weeks in (1.0, 39.0, 104.0):
        np.testing.assert_allclose(expected_purchases(ours, weeks, x, tx, age),
                                   theirs.conditional_expected_number_of_purchases_up_to_time(weeks, x, tx, age),
                                   rtol=1e-9)


def test_p_alive_by_hand():
    r, alpha, a, b = PUBLISHED.r, PUBLISHED.alpha, PUBLISHED.a, PUBLISHED.b
    # CDNOW customer 1: 2 repeat purchases, the last at 30.43 weeks, observed for 38.86 weeks
    by_hand = 1 / (1 + a / (b + 2 - 1) * ((alpha + 38.86) / (alpha + 30.43)) ** (r + 2))
    assert p_alive(PUBLISHED, [2], [30.43], [38.86])[0] == pytest.approx(by_hand, rel=1e-12)
    assert round(by_hand, 4) == 0.7266
    # the model lets customers leave only right after a purchase: no repeat purchase, still alive
    assert list(p_alive(PUBLISHED, [0, 0], [0.0, 0.0], [1.0, 70.0])) == [1.0, 1.0]
    # longer silence since the last purchase, lower P(alive)
    assert list(np.argsort(p_alive(PUBLISHED, [3, 3, 3], [30.0, 20.0, 10.0], [38.0, 38.0, 38.0]))) == [2, 1, 0]


def test_expected_purchases_is_equation_10_as_printed():
    r, alpha, a, b = PUBLISHED.r, PUBLISHED.alpha, PUBLISHED.a, PUBLISHED.b

    def as_printed(t: float, x: int, tx: float, age: float) -> float:
        z = t / (alpha + age + t)
        head = (a + b + x - 1) / (a - 1) * (1 - ((alpha + age) / (alpha + age + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z))
        return head / (1 + (x > 0) * a / (b + max(x, 1) - 1) * ((alpha + age) / (alpha + tx)) ** (r + x))

    for t, x, tx, age in [(39, 2, 30.43, 38.86), (39, 0, 0.0, 38.86), (1, 1, 1.71, 38.86), (104, 14, 35.0, 38.86)]:
        assert expected_purchases(PUBLISHED, t, [x], [tx], [age])[0] == pytest.approx(as_printed(t, x, tx, age), rel=1e-10)
    assert round(float(expected_purchases(PUBLISHED, 39, [2], [30.43], [38.86])[0]), 3) == 1.226
    # a very frequent buyer: the printed form overflows (0 * inf), Euler's form stays below the purchases
    # expected with no drop-out at all, 39 weeks at the posterior rate (r + x) / (alpha + T)
    with np.errstate(all="ignore"):
        assert math.isnan(as_printed(39, 2000, 78.0, 78.0))
    big = float(expected_purchases(PUBLISHED, 39, [2000], [78.0], [78.0])[0])
    assert 700 < big < 39 * (r + 2000) / (alpha + 78)


def test_bands():
    assert list(band_of([0.0, 0.29, 0.3, 0.5, 0.7, 0.71, 1.0])) == [
        "likely lost", "likely lost", "at risk", "at risk", "at risk", "active", "active"]


# A: purchases on day 0 (twice), day 3 (09:00 and 23:50: one day), day 14, and store_purchase on day 21
# B: one purchase on day 7, another on day 20 at 23:00 | C: no purchase; its visit on day 35 ends the data
# D: purchases on day 2 and day 30 | E: a visit on day 25 only | F: one purchase on day 10
ROWS = [
    ("A", 0, "purchase"), ("A", 30, "purchase"), ("A", DAY, "home"), ("A", 3 * DAY, "purchase"),
    ("A", 3 * DAY + 890, "purchase"), ("A", 14 * DAY, "purchase"), ("A", 21 * DAY, "store_purchase"),
    ("B", 5 * DAY, "home"), ("B", 7 * DAY, "purchase"), ("B", 20 * DAY + 840, "purchase"),
    ("C", 0, "home"), ("C", 35 * DAY, "home"),
    ("D", 2 * DAY, "purchase"), ("D", 30 * DAY, "purchase"),
    ("E", 25 * DAY, "home"),
    ("F", 10 * DAY, "purchase"),
]


@pytest.fixture
def events(duck):
    return duck.table(frame(ROWS))


def summary_rows(summary) -> dict[str, tuple[int, float, float]]:
    return {r.customer_id: (r.frequency, r.recency, r.T) for r in summary.customers.itertuples()}


def test_engine_step_by_hand(events):
    s = purchase_summary(events, ("purchase",))
    assert s.until == date(2025, 4, 5)  # day 35, C's last visit: the data's last day, purchase or not
    assert list(s.customers.columns) == ["customer_id", "frequency", "recency", "T"]
    assert summary_rows(s) == {
        "A": (2, 2.0, 5.0),  # days 0, 3 and 14: 2 repeat days, last at 14/7 weeks, 35/7 weeks observed
        "B": (1, 13 / 7, 4.0),  # days 7 and 20
        "D": (1, 4.0, 33 / 7),  # days 2 and 30
        "F": (0, 0.0, 25 / 7),  # one purchase: no repeat, recency 0
    }
    assert s.without_purchase == 2  # C and E


def test_engine_step_until_cuts_events_off(events):
    s = purchase_summary(events, ("purchase",), until=date(2025, 3, 21))  # day 20, inclusive
    assert summary_rows(s) == {
        "A": (2, 2.0, 20 / 7),
        "B": (1, 13 / 7, 13 / 7),  # the day-20 purchase at 23:00 is on the until day: it counts
        "D": (0, 0.0, 18 / 7),  # day 30 is after until
        "F": (0, 0.0, 10 / 7),
    }
    assert s.without_purchase == 1  # C; E is not seen yet


def test_engine_step_with_two_purchase_touchpoints(events):
    s = summary_rows(purchase_summary(events, ("purchase", "store_purchase")))
    assert s["A"] == (3, 3.0, 5.0) and s["F"] == (0, 0.0, 25 / 7)


def generated_log(customers: int, seed: int = 7) -> pd.DataFrame:
    """Purchases from the BG/NBD story (Gamma rates, Beta drop-out) over 26 weeks, one non-buyer per 10."""
    g = np.random.default_rng(seed)
    rows = []
    for i in range(customers):
        cid = f"c{i:04d}"
        if i % 10 == 9:
            rows.append((cid, int(g.integers(0, 182)) * DAY, "home"))
            continue
        rate, drop = g.gamma(0.5, 1 / 3.0), g.beta(1.0, 3.0)
        day = int(g.integers(0, 182))
        while day < 182:
            rows.append((cid, day * DAY, "purchase"))
            if g.random() < drop:
                break
            day += 1 + int(g.exponential(7 / max(rate, 1e-9)))
    rows.append(("c9999", 182 * DAY, "home"))  # the data's last day: day 182
    return frame(rows)


def test_compute_palive_end_to_end(duck):
    t = duck.table(generated_log(700))
    r = compute_palive(t, PAliveQuery(horizon_weeks=13))
    assert r.converged and r.until == date(2025, 8, 30)
    assert (r.customers_modelled, r.customers_without_purchase) == (630, 71)  # 70 generated non-buyers + c9999
    assert list(r.customers.columns) == ["customer_id", "frequency", "recency", "T", "p_alive", "expected_purchases"]
    assert r.customers.customer_id.is_monotonic_increasing and len(r.customers) == 630
    s = purchase_summary(t, ("purchase",))
    fit = fit_bgnbd(*columns(s.customers))
    assert r.params == fit.params and r.log_likelihood == fit.log_likelihood
    x, tx, age = columns(s.customers)
    np.testing.assert_array_equal(r.customers.p_alive, p_alive(fit.params, x, tx, age))
    np.testing.assert_array_equal(r.customers.expected_purchases, expected_purchases(fit.params, 13, x, tx, age))
    assert (r.customers.loc[r.customers.frequency == 0, "p_alive"] == 1.0).all()
    counts = pd.Series(band_of(r.customers.p_alive)).value_counts()
    assert r.bands == {band: int(counts.get(band, 0)) for band in ("likely lost", "at risk", "active")}
    assert sum(r.bands.values()) == 630 and min(r.bands.values()) > 0


def test_a_fit_that_did_not_converge_is_reported(duck, monkeypatch):
    monkeypatch.setattr(palive, "fit_bgnbd", partial(fit_bgnbd, max_iterations=1))
    r = compute_palive(duck.table(generated_log(700)))
    assert not r.converged and "ITERATIONS REACHED LIMIT" in r.message
    assert r.customers_modelled == 630  # the customers are still scored; the page warns


def message(events, query: PAliveQuery) -> str:
    with pytest.raises(QueryError) as err:
        compute_palive(events, query)
    assert err.value.code == "bad_query"
    return err.value.message


def test_bad_input_sentences(events, duck):
    assert message(events, PAliveQuery(purchases=())) == "P(alive) needs at least one purchase touchpoint."
    assert message(events, PAliveQuery(horizon_weeks=0)) == "The horizon must be a positive number of weeks, not 0."
    assert message(events, PAliveQuery(purchases=("purchse",))) == "Unknown touchpoint 'purchse'. Did you mean 'purchase'?"
    assert message(events, PAliveQuery(until=date(2025, 2, 28))) == (
        "No customer did 'purchase' up to 2025-02-28: P(alive) needs purchases.")
    assert message(events, PAliveQuery(purchases=("store_purchase", "purchase"), until=date(2025, 3, 1))) == (
        "No customer did 'store_purchase' or 'purchase' on two different days up to 2025-03-01: "
        "without repeat purchases P(alive) cannot be estimated.")
    assert message(events, PAliveQuery()) == "P(alive) needs at least 500 customers with a purchase; this data has 4."
    with pytest.raises(QueryError) as err:
        judged_at(PAliveQuery(until=date(2030, 1, 1)), datetime(2025, 4, 5, 18))
    assert err.value.message == ("P(alive) can be judged up to the data's last day (2025-04-05), not at 2030-01-01: "
                                 "nobody could have been seen after it.")
    assert judged_at(PAliveQuery(), datetime(2025, 4, 5, 18)).until == date(2025, 4, 5)
    assert judged_at(PAliveQuery(until=date(2025, 4, 5)), datetime(2025, 4, 5, 18)).until == date(2025, 4, 5)
    assert message(duck.table(generated_log(520)), PAliveQuery()) == (
        "P(alive) needs at least 500 customers with a purchase; this data has 468.")


@pytest.mark.spark
def test_engine_step_identical_on_spark(duck, spark):
    df = frame(ROWS)
    for until in (None, date(2025, 3, 21)):
        d = purchase_summary(duck.table(df), ("purchase",), until)
        s = purchase_summary(spark.table(df), ("purchase",), until)
        assert (d.until, d.without_purchase) == (s.until, s.without_purchase)
        pd.testing.assert_frame_equal(d.customers, s.customers)


def test_lifetimes_is_never_imported_by_the_core():
    code = "import sys, journeys.analyses.palive; print('lifetimes' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "False"
