"""The retention, lifecycle, churn and palive commands: the core's numbers, the issue's JSON and CSV, sentences."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from journeys.analyses.churn import ChurnQuery, compute_churn
from journeys.analyses.lifecycle import compute_lifecycle
from journeys.analyses.palive import CUSTOMER_COLUMNS, PAliveQuery, compute_palive
from journeys.analyses.palive_product import at_risk_high_value, customer_value
from journeys.analyses.retention import RetentionQuery, compute_retention
from journeys.engine.store import Store
from journeys.outcomes import Outcomes, data_end

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "shop_events.csv"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("retention_cli")
    store = Store(path)
    store.ingest(SAMPLE, name="shop")
    store.close()
    return path


@pytest.fixture(scope="module")
def events(home: Path):
    store = Store(home, read_only=True)
    yield store.table("shop")
    store.close()


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JOURNEYS_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "journeys", *args], capture_output=True, text=True, env=env,
                          check=False)


def test_retention_json_has_the_issues_cohorts(home, events):
    out = cli(home, "retention", "shop", "--cohort", "month", "--period", "week", "--periods", "4", "--calendar",
              "--mode", "on-or-after", "--return", "purchase")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    q = RetentionQuery(cohort="month", period="week", periods=4, calendar=True, mode="on_or_after",
                       returns=("purchase",))
    assert data["cohorts"] == compute_retention(events, q).cohorts()
    first = data["cohorts"][0]
    assert set(first) == {"cohort", "size", "retained", "revenue"} and len(first["retained"]) == 5
    assert first["cohort"] == "2025-01-01"
    assert data["cohorts"][-1]["retained"][-1] is None  # the last month's week 4 lies past the data's end
    assert data["elapsed_s"] >= 0


def test_lifecycle_csv_and_churn_json_equal_the_core(home, events):
    out = cli(home, "lifecycle", "shop", "--format", "csv")
    assert out.returncode == 0, out.stderr
    csv = pd.read_csv(io.StringIO(out.stdout))
    core = compute_lifecycle(events).periods
    assert list(csv.new) == list(core.new) and list(csv.dormant) == list(core.dormant)
    out = cli(home, "churn", "shop", "--churn-touchpoints", "account_closed", "--last-k", "3")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    r = compute_churn(events, ChurnQuery(outcomes=Outcomes(churn_touchpoints=("account_closed",)), last_k=3))
    assert (data["customers"], data["churned"], data["active_not_yet_known"]) == (r.customers, r.churned, r.active)
    assert data["definition"] == "churned = did account_closed"
    assert [p["customers"] for p in data["paths"]] == list(r.links.customers)
    top = data["overrepresented"][0]
    assert top["touchpoint"] == r.overrepresented.touchpoint.iloc[0]


def test_palive_csv_has_one_row_per_customer(home, events):
    out = cli(home, "palive", "shop", "--format", "csv", "--horizon", "13w")
    assert out.returncode == 0, out.stderr
    csv = pd.read_csv(io.StringIO(out.stdout), dtype={"customer_id": str})
    assert list(csv.columns) == CUSTOMER_COLUMNS
    core = compute_palive(events, PAliveQuery(horizon_weeks=13)).customers
    assert list(csv.customer_id) == list(core.customer_id)
    pd.testing.assert_series_equal(csv.p_alive, core.p_alive, check_exact=False, rtol=1e-9)
    data = json.loads(cli(home, "palive", "shop", "--holdout", "8w").stdout)
    assert set(data["params"]) == {"r", "alpha", "a", "b"} and "log_likelihood" in data
    assert data["holdout"]["weeks"] == 8 and sum(b["customers"] for b in data["holdout"]["by_frequency"]) > 0
    assert data["converged"] and data["warnings"] == []  # the sample's planted repeat buyers: a clean fit
    risky = json.loads(cli(home, "palive", "shop", "--only", "at-risk-high-value").stdout)["customers"]
    core_risky, _ = at_risk_high_value(compute_palive(events, PAliveQuery()),
                                       customer_value(events, ("purchase",), data_end(events).date()))
    assert len(risky) > 0 and [c["customer_id"] for c in risky] == list(core_risky.customer_id)


@pytest.mark.parametrize(("args", "sentence"), [
    (("retention", "shop", "--return", "purchse"), "Unknown touchpoint 'purchse'. Did you mean 'purchase'?"),
    (("retention", "shop", "--goal", "purchse"), "Unknown touchpoint 'purchse'. Did you mean 'purchase'?"),
    (("lifecycle", "shop", "--goal", "purchse"), "Unknown touchpoint 'purchse'. Did you mean 'purchase'?"),
    (("churn", "shop", "--inactive", "400d"), "The inactivity threshold (400 days) is longer than the data spans"),
    (("palive", "shop", "--purchase", "account_closed"), "without repeat purchases P(alive) cannot be estimated"),
    (("palive", "shop", "--purchase", "review"), "P(alive) needs at least 500 customers with a purchase"),
    (("palive", "shop", "--horizon", "soon"), "'soon' is not a number of weeks."),
])
def test_bad_input_is_one_sentence(home, args, sentence):
    out = cli(home, *args)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert sentence in out.stderr and out.stderr.count("\n") == 1


def test_stored_steps_give_what_ordering_by_ts_and_seq_gives(events):
    """Retention and churn read the stored step numbers when they can: the same numbers as without them."""
    from journeys.analyses.base import journeys_for, one_journey_per_customer
    from journeys.shaping import Shaping

    shaped = journeys_for(events, Shaping(goal="purchase"))
    assert "step" in shaped.columns and one_journey_per_customer(shaped)
    bare = events.drop("step", "next_touchpoint", "next_ts")
    for q in (RetentionQuery(breakdown="device"), RetentionQuery(mode="on_or_after", calendar=True)):
        a, b = compute_retention(shaped, q), compute_retention(bare, q)
        pd.testing.assert_frame_equal(a.table, b.table)
    for o in (Outcomes(goals=("purchase",)), Outcomes(churn_touchpoints=("account_closed",))):
        a, b = compute_churn(shaped, ChurnQuery(outcomes=o)), compute_churn(bare, ChurnQuery(outcomes=o))
        pd.testing.assert_frame_equal(a.links, b.links)
        pd.testing.assert_frame_equal(a.overrepresented, b.overrepresented)
        pd.testing.assert_frame_equal(a.paths, b.paths)
