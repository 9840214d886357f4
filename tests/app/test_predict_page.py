"""Predict page: both models validated on the sample (churn by inactivity), page = CLI, band in the link, no model
as one sentence, and a customer's timeline opened from the list."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest

from journeys.analyses.predict import PredictQuery, compute_predict
from journeys.outcomes import Outcomes
from tests.app.conftest import app, texts


def frame_with(at, column: str):
    """The first table on the page with ``column`` (AppTest finds dataframes by position, not key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.fixture(scope="module")
def predicted(home, sample_id):
    from app import state

    # the sidebar's goal (purchase) is the purchase whose gaps set the default inactivity threshold, as on Retention
    return compute_predict(state.store().table(sample_id), PredictQuery(
        target="churn", horizon=timedelta(days=28), outcomes=Outcomes(goals=("purchase",))))


def test_page_shows_both_models_validated_like_the_cli(home, sample_id, predicted):
    at = app("screens/predict.py", ds=sample_id)
    assert not at.exception, at.exception
    metrics = frame_with(at, "top-decile lift")
    assert set(metrics["model"]) == set(predicted.metrics)
    for _, row in metrics.iterrows():
        assert row["AUC"] == pytest.approx(predicted.metrics[row["model"]].auc)
        assert row["positives"] == predicted.metrics[row["model"]].n_positive
    assert metrics.loc[metrics.offered == "✓", "model"].tolist() == [predicted.offered]
    env = {**os.environ, "JOURNEYS_HOME": str(home)}
    out = subprocess.run([sys.executable, "-m", "journeys", "predict", sample_id, "--churn", "--goal", "purchase",
                          "--format", "json"],
                         capture_output=True, text=True, env=env, check=True)
    data = json.loads(out.stdout)
    assert data["offered"] == predicted.offered
    assert data["note"] == predicted.note and "recency dominates" in data["note"]  # churn by inactivity
    assert any("recency dominates" in t for t in texts(at, "info"))
    assert {k: m["auc"] for k, m in data["models"].items()} == pytest.approx(
        {k: m.auc for k, m in predicted.metrics.items()})
    top = frame_with(at, "reasons")
    assert list(top.customer_id[:10]) == list(predicted.scores.customer_id[:10])
    assert all(link.startswith("customer?") and "cust=" in link for link in top["open"][:10])


def test_band_filter_round_trips_through_the_link(sample_id, predicted):
    at = app("screens/predict.py", ds=sample_id, band="0.5:0.9")
    assert not at.exception
    assert at.slider(key="pr_band").value == (0.5, 0.9)
    shown = frame_with(at, "reasons")
    expected = predicted.scores[(predicted.scores.score >= 0.5) & (predicted.scores.score <= 0.9)]
    assert len(shown) == min(400, len(expected)) and shown.score.between(0.5, 0.9).all()
    assert at.query_params["band"] in ("0.5:0.9", ["0.5:0.9"])


def test_too_few_outcomes_is_one_sentence(sample_id):
    at = app("screens/predict.py", ds=sample_id, ct="account_closed")  # 40 closed accounts: too few to learn
    assert not at.exception
    info = " ".join(texts(at, "info"))
    assert "No model: the training periods hold" in info and "at least 200 of each are needed" in info
    assert not at.get("plotly_chart")


def test_a_customer_opens_from_the_list(sample_id, predicted):
    at = app("screens/predict.py", ds=sample_id)
    first = predicted.scores.customer_id.iloc[0]
    at.selectbox(key="pick_pr_top").set_value(first).run()
    at.button(key="open_pr_top").click().run()
    assert not at.exception
    assert at.text_input(key="cu_id").value == first
    events = frame_with(at, "touchpoint")
    assert len(events) > 0 and events["touchpoint"].notna().all()
    assert any(t.startswith("• ") for t in texts(at, "text"))  # the reasons, as plain text


def test_customer_link_opens_the_timeline(sample_id, predicted):
    from app import state
    from journeys.analyses.predict import customer_timeline

    who = predicted.scores.customer_id.iloc[-1]
    expected, total = customer_timeline(state.store().table(sample_id), who)
    at = app("screens/customer.py", ds=sample_id, cust=who)
    assert not at.exception
    events = frame_with(at, "touchpoint")
    # newest first: what the customer did last is what a person reads first
    assert list(events["touchpoint"]) == list(expected["touchpoint"])[::-1] and len(events) == total
    at = app("screens/customer.py", ds=sample_id, cust="nobody")
    assert "No customer 'nobody' in this dataset." in texts(at, "info")


def test_reasons_are_readable_percentage_points(predicted):
    """Reasons used to read "no event for 30 days: odds ×344617621.7"; every one is now a bounded pp effect."""
    parts = [p for r in predicted.scores.reasons for p in str(r).split("; ") if p]
    assert parts and not any("odds" in p for p in parts)
    sizes = [p.rsplit(": ", 1)[1] for p in parts]
    assert all(re.fullmatch(r"\+\d+(\.\d)? pp|under \+0\.1 pp", s) for s in sizes), sizes[:5]
    assert max(float(s.split()[0]) for s in sizes if not s.startswith("under")) <= 100


def test_customer_on_data_too_short_for_the_model_still_shows_the_timeline(sample_id, predicted):
    who = predicted.scores.customer_id.iloc[0]
    at = app("screens/customer.py", ds=sample_id, cust=who, pasof="2025-01-10")
    assert not at.exception and not texts(at, "error")
    info = " ".join(texts(at, "info"))
    assert "A horizon of 28 days needs at least 84 days of data" in info and "'As of' date" in info
    assert "--as-of" not in " ".join([*texts(at, "caption"), info])
    assert len(frame_with(at, "touchpoint")) > 0


def test_a_typed_horizon_that_is_not_a_number_is_a_sentence():
    # the page's horizon box accepts typed options; what it reads goes through horizon_days (told, not raised)
    import pytest

    from journeys.act_view import horizon_days
    from journeys.errors import QueryError

    assert horizon_days(" 21 ") == 21 and horizon_days("14d") == 14
    for typed, reason in (("abc", "type a whole number of days such as 28"), ("0", "a horizon is 1 to 366 days")):
        with pytest.raises(QueryError) as err:
            horizon_days(typed)
        assert err.value.message == f"'{typed}' is not a horizon the page can use: {reason}."
