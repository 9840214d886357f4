"""The P(alive) product: hold-out check, at-risk high-value list, warnings, and expected purchases at extreme fits."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from journeys.analyses.palive import (
    BGNBDParams,
    PAliveQuery,
    PAliveResult,
    expected_purchases,
    fit_bgnbd,
    purchase_summary,
)
from journeys.analyses.palive_product import at_risk_high_value, customer_value, fit_warnings, holdout_check
from journeys.errors import QueryError
from tests.conftest import frame
from tests.test_palive import generated_log


def test_holdout_fits_before_the_split_and_counts_purchase_days_after_it(duck):
    df = generated_log(900)
    h = holdout_check(duck.table(df), PAliveQuery(), holdout_weeks=8)
    assert (h.until, h.split, h.holdout_weeks) == (date(2025, 8, 30), date(2025, 7, 5), 8.0)
    cal = purchase_summary(duck.table(df), ("purchase",), h.split).customers
    assert h.fit.params == fit_bgnbd(cal.frequency, cal.recency, cal["T"]).params
    # the purchase days after the split, counted in pandas for the calibration buyers only
    days = df[df.touchpoint == "purchase"].assign(day=df.ts.dt.date)
    after = days[(days.day > h.split) & (days.day <= h.until)].groupby("customer_id").day.nunique()
    actual = cal.customer_id.map(after).fillna(0)
    assert h.actual_total == int(actual.sum()) > 0
    groups = actual.groupby(cal.frequency.clip(upper=7).to_numpy()).mean()
    np.testing.assert_allclose(h.table.actual, groups.to_numpy())
    assert h.table.customers.sum() == len(cal)
    expected = expected_purchases(h.fit.params, 8.0, cal.frequency, cal.recency, cal["T"])
    assert h.predicted_total == pytest.approx(float(expected.sum()))


def test_a_hold_out_too_long_for_the_data_is_a_sentence(duck):
    with pytest.raises(QueryError, match=r"^The hold-out check fits on the data up to 2025-07-05, 8 weeks before the "
                                         r"end: P\(alive\) needs at least 500 customers with a purchase; this data has"):
        holdout_check(duck.table(generated_log(700)), PAliveQuery(), holdout_weeks=8)


def _result(rows: list[tuple[str, int, float]]) -> PAliveResult:
    customers = pd.DataFrame({"customer_id": [r[0] for r in rows], "frequency": [r[1] for r in rows],
                              "recency": 1.0, "T": 2.0, "p_alive": [r[2] for r in rows], "expected_purchases": 0.5})
    return PAliveResult(params=BGNBDParams(1, 1, 1, 1), log_likelihood=0.0, converged=True, message="",
                        customers=customers, customers_modelled=len(rows), customers_without_purchase=0,
                        bands={}, until=date(2025, 1, 1), horizon_weeks=39.0, purchases=("purchase",))


def test_at_risk_high_value_is_the_at_risk_band_in_the_top_quarter_by_value():
    r = _result([("a", 1, 0.5), ("b", 2, 0.31), ("c", 3, 0.9), ("d", 1, 0.2), ("e", 0, 0.7), ("f", 1, 0.4)])
    values = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e", "f"], "value": [100.0, 80.0, 500.0, 900.0, 10, 5]})
    picked, threshold = at_risk_high_value(r, values)
    # the 0.75 quantile of 5, 10, 80, 100, 500, 900 is 400 by linear interpolation: nobody at risk reaches it
    assert threshold == 400.0 and picked.empty
    picked, threshold = at_risk_high_value(r, values, quantile=0.5)
    assert threshold == 90.0 and list(picked.customer_id) == ["a"]  # c and d are worth more but not at risk
    picked, _ = at_risk_high_value(r, values, quantile=0.0)
    assert list(picked.customer_id) == ["a", "b", "e", "f"]  # most valuable first; 0.7 is still at risk


def test_customer_value_sums_purchase_values_up_to_the_day(duck):
    day = 24 * 60
    t = duck.table(frame([("a", 0, "purchase", None, 10.0), ("a", day, "purchase", None, 5.0),
                          ("a", 3 * day, "purchase", None, 7.0), ("b", 0, "home", None, 99.0),
                          ("b", day, "purchase", None, None)]))
    got = customer_value(t, ("purchase",), date(2025, 3, 2)).set_index("customer_id").value.to_dict()
    assert got == {"a": 15.0, "b": 0.0}  # a's purchase on day 3 is after the day; b's home is not a purchase


def test_warnings_say_when_to_read_with_care():
    few = _result([(str(i), 1 if i < 4 else 0, 0.9) for i in range(100)])
    assert fit_warnings(few) == [("Only 4 of 100 buyers (4.0%) bought on two different days: the model has "
                                  "little repeat behaviour to learn from.")]
    enough = _result([(str(i), 1 if i < 5 else 0, 0.9) for i in range(100)])
    assert fit_warnings(enough) == []


def test_expected_purchases_at_a_huge_a_equals_lifetimes():
    lifetimes = pytest.importorskip("lifetimes")  # dev-only reference
    fitter = lifetimes.BetaGeoFitter()
    fitter.params_ = pd.Series({"r": 0.0063, "alpha": 0.1247, "a": 15792.7, "b": 6.33e-05})
    x, tx, age = np.array([0.0, 1, 2]), np.array([0.0, 5, 3]), np.array([30.0, 20, 10])
    theirs = fitter.conditional_expected_number_of_purchases_up_to_time(39, x, tx, age)
    ours = expected_purchases(BGNBDParams(0.0063, 0.1247, 15792.7, 6.33e-05), 39, x, tx, age)
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


def test_segment_filter_on_a_p_alive_band(duck):
    from journeys.analyses.base import journeys_for
    from journeys.analyses.palive import BANDS, band_of, compute_palive
    from journeys.segments import Filter, Segment
    from journeys.shaping import Shaping

    t = duck.table(generated_log(700))
    scored = compute_palive(t).customers
    for band in BANDS:
        seg = Segment((Filter("alive", (band, "purchase")),))
        got = sorted(journeys_for(t, Shaping(), seg).select("customer_id").distinct().to_pandas().customer_id)
        assert got == sorted(scored.customer_id[band_of(scored.p_alive) == band]), band
        assert got  # every band has customers on this log
    assert Segment((Filter("alive", ("at risk",)),)).describe() == "customers who are at risk by P(alive)"
    with pytest.raises(QueryError, match="A P\\(alive\\) filter starts with a band"):
        Segment((Filter("alive", ("half",)),)).validate()


def test_palive_cautions_explain_one_time_buyers_once():
    from dataclasses import replace as _replace

    from journeys.analyses.palive_product import palive_cautions

    few = _result([(str(i), 1 if i < 4 else 0, 0.9) for i in range(100)])
    cautions = palive_cautions(few)
    assert cautions[0].startswith("96 of 100 modelled buyers (96%) made only one purchase day.")
    assert "With only 4 repeat buyers the bands say little" in cautions[0]
    assert not any(c.startswith("Only 4 of 100") for c in cautions)  # the note already counts the repeat buyers
    stuck = palive_cautions(_replace(few, converged=False, message="The fit ran to the edge of (a, b)."))
    assert stuck[1] == "The fit did not converge: the fit ran to the edge of (a, b). Treat P(alive) as a rough guide."
