"""Predict: engine features and labels by hand, the chain by hand, metrics against plain references, honest
limits, and a planted at-risk effect that the validated model finds and explains."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeys.analyses import predict
from journeys.analyses.predict import BASELINE, PredictQuery, compute_predict, cutoffs
from journeys.analyses.predict_features import fetch, labelled, plan_features, snapshot, states, to_matrix
from journeys.analyses.predict_validation import auc, calibration, cap_rows, delong, top_decile
from journeys.analyses.state_chain import MIN_ROW, build_chain, transitions
from journeys.errors import QueryError
from journeys.outcomes import Outcomes
from tests.conftest import BASE, frame

DAY = 24 * 60  # conftest.frame takes minutes after BASE


def _events(duck, rows, **extra):
    return duck.table(frame(rows, extra or None))


# ---- features and labels --------------------------------------------------------------------------

def test_snapshot_features_by_hand_and_nothing_from_the_cutoff_on(duck):
    rows = [("A", 1 * DAY, "home", "web"), ("A", 20 * DAY, "chat", "chat"), ("A", 25 * DAY, "call_centre", "phone"),
            ("A", 30 * DAY, "purchase", "web"), ("A", 40 * DAY, "purchase", "web"),
            ("B", 2 * DAY, "home", "web")]
    scores = [None, 4.0, 1.0, None, None, None]
    t = _events(duck, rows, score=scores, device=["mobile"] * 5 + ["desktop"])
    plan = plan_features(t, order=2)
    cut = BASE + timedelta(days=30)  # A's purchase at exactly the cutoff is the future
    f = fetch(snapshot(t, plan, cut)).set_index("customer_id")
    a = f.loc["A"]
    assert (a["n7:call_centre"], a["n30:chat"], a["n30:home"], a["n7:chat"], a["n30:purchase"]) == (1, 1, 1, 0, 0)
    assert (a["frequency"], a["recency"], a["tenure"]) == (3, 5.0, 29.0)
    assert (a["score_min30"], a["score_mean"], a["scored30"]) == (1.0, 2.5, 2)
    x, features = to_matrix(f.reset_index(), plan)
    keys = [feat.key for feat in features]
    row = dict(zip(keys, x[0], strict=True))
    assert row["last:call_centre"] == 1.0 and row["last:chat"] == 0.0
    assert row["share:web"] == pytest.approx(1 / 3) and row["attr:device=mobile"] == 1.0
    assert states(f.reset_index(), 2) == [("chat", "call_centre"), ("home",)]
    assert features[keys.index("n7:call_centre")].words(1) == "1 × call_centre in 7 days"


def test_labels_and_who_is_open(duck):
    rows = [("A", 10 * DAY, "home"), ("A", 40 * DAY, "purchase"),      # open, converts in [30, 44)
            ("B", 10 * DAY, "home"), ("B", 50 * DAY, "purchase"),      # open, converts too late
            ("C", -5 * DAY, "home"), ("C", 35 * DAY, "purchase"),      # silent for 35 days at the cutoff: not open
            ("D", 5 * DAY, "home"), ("D", 20 * DAY, "account_closed"), ("D", 41 * DAY, "purchase")]  # churned
    t = _events(duck, rows)
    plan = plan_features(t, order=1)
    out = fetch(labelled(t, plan, BASE + timedelta(days=30), timedelta(days=14), "conversion",
                         Outcomes(goals=("purchase",), churn_touchpoints=("account_closed",)), 30, with_label=True))
    assert dict(zip(out.customer_id, out.label, strict=True)) == {"A": 1, "B": 0}
    churn = fetch(labelled(t, plan, BASE + timedelta(days=30), timedelta(days=14), "churn",
                           Outcomes(goals=("purchase",), inactivity_days=25), 25, with_label=True))
    # inactivity 25 days, no churn touchpoint: D is open too. By day 44, B's last event (day 10) is 34 days old:
    # churned; A and D were seen on days 40 and 41
    assert dict(zip(churn.customer_id, churn.label, strict=True)) == {"A": 0, "B": 1, "D": 0}


def test_cutoffs_and_a_horizon_longer_than_the_data():
    first = datetime(2025, 1, 1)
    q = PredictQuery(outcomes=Outcomes(goals=("p",)), horizon=timedelta(days=7), snapshots=3)
    v, train = cutoffs(first, datetime(2025, 3, 1), q)
    assert v == datetime(2025, 2, 22) and train == [datetime(2025, 2, 15), datetime(2025, 2, 8), datetime(2025, 2, 1)]
    with pytest.raises(QueryError, match="A horizon of 28 days needs at least 84 days of data"):
        cutoffs(first, datetime(2025, 2, 1), PredictQuery(outcomes=Outcomes(goals=("p",))))


# ---- the chain by hand ------------------------------------------------------------------------------

def _paths(groups: list[tuple[int, list[str]]], start: int = 0) -> list[tuple[str, float, str]]:
    rows, n = [], start
    for count, path in groups:
        for _ in range(count):
            rows += [(f"c{n:04d}", k, tp) for k, tp in enumerate(path)]
            n += 1
    return rows


def test_order_one_chain_by_hand(duck):
    t = _events(duck, _paths([(40, ["x", "y", "goal"]), (40, ["x", "y"]), (20, ["x", "z", "goal"])]))
    counts, _ = transitions(t, BASE + timedelta(days=1), order=1, horizon=timedelta(days=28), success=("goal",),
                            failure=())
    chain = build_chain(counts, 1)
    assert chain.prob(["y"]) == pytest.approx(0.5)
    assert chain.prob(["z"]) == pytest.approx(1.0)
    assert chain.prob(["x"]) == pytest.approx(0.8 * 0.5 + 0.2 * 1.0)
    # the very next move: from y half go to the goal, from x nobody does (they go to y or z first)
    assert chain.prob(["y"], next_step=True) == pytest.approx(0.5)
    assert chain.prob(["x"], next_step=True) == 0.0 and chain.prob(["z"], next_step=True) == pytest.approx(1.0)


def test_inactivity_churn_baseline_is_the_chance_the_next_move_is_the_end(duck):
    # churn by inactivity = the journey ends (no next event within the horizon): absorption would be 1 for
    # everyone; the baseline is the share of moves from a state that are the end
    t = _events(duck, _paths([(30, ["x", "y"]), (10, ["x", "x", "y"]), (20, ["y", "x"])]))
    counts, _ = transitions(t, BASE + timedelta(days=1), order=1, horizon=timedelta(days=28), success=(),
                            failure=(), end_is="success")
    chain = build_chain(counts, 1)
    assert chain.prob(["x"]) == pytest.approx(1.0) and chain.prob(["y"]) == pytest.approx(1.0)
    # from x: 30 + 10 go on to y, 10 to x, 20 end -> 20 / 70; from y: 20 go on to x, 40 end -> 40 / 60
    assert chain.prob(["x"], next_step=True) == pytest.approx(20 / 70)
    assert chain.prob(["y"], next_step=True) == pytest.approx(40 / 60)


@pytest.mark.parametrize(("n", "expect_a", "expect_b"), [(40, 1.0, 0.0), (10, 0.5, 0.5)])
def test_order_two_backs_off_to_the_shorter_history_when_rare(duck, n, expect_a, expect_b):
    t = _events(duck, _paths([(n, ["a", "y", "goal"]), (n, ["b", "y"])]))
    counts, _ = transitions(t, BASE + timedelta(days=1), order=2, horizon=timedelta(days=28), success=("goal",),
                            failure=())
    chain = build_chain(counts, 2)
    assert (n >= MIN_ROW) == (expect_a == 1.0)
    assert chain.prob(["a", "y"]) == pytest.approx(expect_a)
    assert chain.prob(["b", "y"]) == pytest.approx(expect_b)


def test_a_gap_longer_than_the_horizon_ends_the_chain(duck):
    rows = [(f"c{i}", 0, "x") for i in range(10)] + [(f"c{i}", 10 * DAY, "goal") for i in range(10)]
    counts, _ = transitions(_events(duck, rows), BASE + timedelta(days=20), order=1, horizon=timedelta(days=7),
                            success=("goal",), failure=())
    assert build_chain(counts, 1).prob(["x"]) == 0.0


# ---- metrics against plain references ----------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1, allow_nan=False), st.booleans()), min_size=2, max_size=60))
def test_auc_top_decile_and_calibration_match_plain_python(pairs):
    score = np.array([p[0] for p in pairs])
    actual = np.array([int(p[1]) for p in pairs])
    pos, neg = score[actual == 1], score[actual == 0]
    if len(pos) and len(neg):
        wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
        assert auc(score, actual) == pytest.approx(wins / (len(pos) * len(neg)))
    k = -(-len(score) // 10)
    order = sorted(range(len(score)), key=lambda i: (-score[i], i))[:k]
    precision, lift = top_decile(score, actual)
    assert precision == pytest.approx(sum(actual[i] for i in order) / k)
    if actual.sum():
        assert lift == pytest.approx(precision / actual.mean())
    bins = calibration(score, actual)
    assert sum(b[2] for b in bins) == len(score)
    for low, high, n, mean, rate in bins:
        inside = [i for i in range(len(score)) if low <= score[i] < high or (high == 1.0 and score[i] == 1.0)]
        assert n == len(inside) and mean == pytest.approx(score[inside].mean())
        assert rate == pytest.approx(actual[inside].mean())


# ---- honest limits ---------------------------------------------------------------------------------

def test_too_few_outcomes_is_no_model_and_one_sentence(duck):
    rows = _paths([(30, ["home", "product_view"])]) + [(f"c{i:04d}", 90 * DAY + i, "home") for i in range(30)]
    r = compute_predict(_events(duck, rows), PredictQuery(outcomes=Outcomes(goals=("product_view",)),
                                                          horizon=timedelta(days=7)))
    assert r.offered is None and r.scores.empty and not r.metrics
    assert r.message.startswith("No model: the training periods hold 0 customers with conversion within 7 days")
    assert "at least 200 of each are needed (too few positive outcomes)." in r.message


def test_unknown_goal_is_a_did_you_mean(duck):
    t = _events(duck, _paths([(3, ["home", "purchase"])]))
    with pytest.raises(QueryError, match="Did you mean 'purchase'"):
        compute_predict(t, PredictQuery(outcomes=Outcomes(goals=("purchace",))))


# ---- a planted effect: angry callers close their account ----------------------------------------------

def planted(customers: int = 16000, days: int = 150, seed: int = 3) -> pd.DataFrame:
    """Customers browse every few days; some call the call centre. An unhappy call (score 1-2) is followed by
    account_closed 2-6 days later with probability 0.7; a happy one (4-5) never is."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, float, str, str, float | None]] = []
    for c in range(customers):
        t = rng.uniform(0, days - 20) * DAY
        unhappy = rng.random() < 0.35
        for _ in range(rng.integers(3, 14)):
            t += rng.exponential(3.0) * DAY
            if t > days * DAY:
                break
            if rng.random() < 0.15:
                score = float(rng.integers(1, 3)) if unhappy else float(rng.integers(4, 6))
                rows.append((f"K{c:05d}", t, "call_centre", "phone", score))
                if unhappy and rng.random() < 0.7:
                    t += rng.uniform(2, 6) * DAY
                    if t <= days * DAY:
                        rows.append((f"K{c:05d}", t, "account_closed", "phone", None))
                    break
            else:
                rows.append((f"K{c:05d}", t, str(rng.choice(["home", "product_view", "purchase"], p=[.4, .5, .1])),
                             "web", None))
    rows.sort(key=lambda r: (r[1], r[0]))
    df = frame([(c, m, tp, ch) for c, m, tp, ch, _ in rows])
    df["score"] = [s for *_, s in rows]
    return df


@pytest.fixture(scope="module")
def planted_result(duck):
    df = planted()
    table = duck.table(df)
    q = PredictQuery(target="churn", outcomes=Outcomes(churn_touchpoints=("account_closed",)),
                     horizon=timedelta(days=14), snapshots=12, as_of=(BASE + timedelta(days=130)).date())
    return compute_predict(table, q), df


def test_planted_effect_is_validated_on_a_later_period_and_ranks_the_angry_callers_first(planted_result):
    r, df = planted_result
    assert r.training_positive >= 200 and r.offered is not None
    assert r.scoring_cutoff == datetime(2025, 7, 10) and r.validation_cutoff == datetime(2025, 6, 26)
    assert max(r.training_cutoffs) + r.query.horizon == r.validation_cutoff  # no training label after it
    learned = r.metrics[r.learned or ""]
    assert learned.n_positive >= 200 and learned.auc > 0.8 and r.metrics[BASELINE].auc > 0.65
    assert learned.top_decile_lift > 3
    seen = df[df.ts < r.scoring_cutoff].sort_values(["customer_id", "ts", "seq"]).groupby("customer_id").tail(1)
    last_call = seen[seen.touchpoint == "call_centre"]
    rank = pd.Series(np.arange(len(r.scores)) / len(r.scores), index=r.scores.customer_id)
    scored = set(rank.index)  # open journeys only: seen within the inactivity threshold
    angry = set(last_call.customer_id[last_call.score <= 2]) & scored
    happy = set(last_call.customer_id[last_call.score >= 4]) & scored
    assert len(angry) >= 10 and len(angry) < 0.1 * len(r.scores)
    assert (rank[list(angry)] < 0.1).mean() >= 0.9  # the planted at-risk customers: in the top decile
    assert rank[list(happy)].median() > rank[list(angry)].quantile(0.95)  # calling is not the risk; an unhappy call is
    top = r.scores[r.scores.customer_id.isin(angry)]
    assert top["reasons"].str.contains("score|call_centre").all()


def test_validation_set_recomputes_the_metrics(planted_result):
    r, _ = planted_result
    v = r.validation
    assert list(v.columns) == ["customer_id", "score_baseline", "score_model", "actual"]
    assert auc(v.score_baseline.to_numpy(), v.actual.to_numpy()) == pytest.approx(r.metrics[BASELINE].auc)
    assert auc(v.score_model.to_numpy(), v.actual.to_numpy()) == pytest.approx(r.metrics[r.learned or ""].auc)


def test_cli_predict_json_csv_and_validation_csv_match_the_function(tmp_path: Path, planted_result):
    r, _ = planted_result
    src = tmp_path / "planted.csv"
    df = planted()
    df["timestamp"] = pd.to_datetime(df.pop("ts")).dt.strftime("%Y-%m-%dT%H:%M:%S")
    df.drop(columns=["seq"]).to_csv(src, index=False)
    home = tmp_path / "home"
    env = {**os.environ, "JOURNEYS_HOME": str(home)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "journeys", *args], capture_output=True, text=True, env=env,
                              check=False)

    assert cli("ingest", str(src), "--name", "planted", "--map", "score=score").returncode == 0
    common = ["predict", "planted", "--churn-touchpoints", "account_closed", "--horizon", "14d", "--snapshots", "12",
              "--as-of", r.query.as_of.isoformat()]
    out = cli(*common, "--format", "json", "--validation-csv", str(tmp_path / "v.csv"))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["offered"] == r.offered and data["training_positive"] == r.training_positive
    for name, m in r.metrics.items():
        assert data["models"][name]["auc"] == pytest.approx(m.auc)
        assert data["models"][name]["top_decile_lift"] == pytest.approx(m.top_decile_lift)
        assert data["models"][name]["n_positive"] == m.n_positive
    v = pd.read_csv(tmp_path / "v.csv")
    assert auc(v.score_model.to_numpy(), v.actual.to_numpy()) == pytest.approx(data["models"][r.learned]["auc"])
    csv = pd.read_csv(io.StringIO(cli(*common, "--format", "csv").stdout))
    assert list(csv.columns) == ["customer_id", "score", "model", "reasons"]
    assert list(csv.customer_id[:20]) == list(r.scores.customer_id[:20])
    bad = cli("predict", "planted", "--churn-touchpoints", "acount_closed", "--format", "json")
    assert bad.returncode == 2 and "Did you mean 'account_closed'" in bad.stderr and "Traceback" not in bad.stderr


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.booleans()), min_size=4, max_size=40))
def test_delong_covariance_matches_the_pairwise_definition(rows):
    actual = np.array([int(r[2]) for r in rows])
    if not 2 <= actual.sum() <= len(actual) - 2:
        return
    a, b = np.array([r[0] for r in rows], float), np.array([r[1] for r in rows], float)
    aucs, cov = delong([a, b], actual)

    def psi(x, y):
        return 1.0 if x > y else 0.5 if x == y else 0.0

    comps = []
    for s in (a, b):
        pos, neg = s[actual == 1], s[actual == 0]
        comps.append(([np.mean([psi(x, y) for y in neg]) for x in pos], [np.mean([psi(x, y) for x in pos]) for y in neg]))
    m, n = int(actual.sum()), int(len(actual) - actual.sum())
    for i in range(2):
        assert aucs[i] == pytest.approx(np.mean(comps[i][0]))
        for j in range(2):
            expect = np.cov(comps[i][0], comps[j][0])[0, 1] / m + np.cov(comps[i][1], comps[j][1])[0, 1] / n
            assert cov[i, j] == pytest.approx(expect, abs=1e-12)


def test_capped_training_rows_keep_the_rarer_class_and_reweight_the_other():
    y = np.array([1] * 50 + [0] * 950)
    x = np.arange(1000, dtype=float)[:, None]
    xs, ys, w = cap_rows(x, y, limit=250)
    assert len(ys) == 250 and ys.sum() == 50 and w is not None
    assert xs[:50, 0].tolist() == list(range(50))  # every positive, first
    assert w[ys == 1].tolist() == [1.0] * 50 and w[ys == 0].sum() == pytest.approx(950)
    assert cap_rows(x, y, limit=1000)[2] is None
    _, ys, w = cap_rows(x, 1 - y, limit=250)  # the rarer class may be the negatives
    assert (ys == 0).sum() == 50 and len(ys) == 250 and w[ys == 1].sum() == pytest.approx(950)
    _, ys, w = cap_rows(np.zeros((1000, 1)), np.array([1, 0] * 500), limit=100)  # both common: half each
    assert (ys == 1).sum() == 50 and w.sum() == pytest.approx(1000)


def test_reasons_are_percentage_points_at_the_base_rate_and_never_explode():
    """A rare outcome puts the fitted intercept far out; a huge standardised value used to read as "odds ×3e8".
    The effect is sigmoid(b0 + contribution) - sigmoid(b0) with b0 = logit(training base rate): at most
    100 x (1 - base rate) points up."""
    from scipy.special import expit

    from journeys.analyses.predict_features import Feature
    from journeys.analyses.predict_validation import LogisticModel, points, reasons

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 2))
    y = (x[:, 0] + rng.normal(scale=0.3, size=2000) > 1.2).astype(int)  # about 12% positive
    m = LogisticModel(x, y)
    assert m.base_rate == pytest.approx(y.mean())
    far = np.array([[40.0, 0.0], [0.5, 0.0]])
    _score, lo, pp = m.contributions(far)
    assert pp[0, 0] == pytest.approx((expit(m.b0 + lo[0, 0]) - expit(m.b0)) * 100)
    assert 0 < pp[0, 0] <= 100 * (1 - m.base_rate) + 1e-9
    words = reasons(far, lo, pp, [Feature("recency", "recency"), Feature("tenure", "tenure")])
    assert words[0].startswith("no event for 40 days: +") and words[0].endswith(" pp") and "odds" not in words[0]
    assert float(words[0].split(": ")[1].split(" ")[0]) <= 100 * (1 - m.base_rate) + 0.5
    assert [points(34.4), points(0.44), points(0.01)] == ["+34 pp", "+0.4 pp", "under +0.1 pp"]


def test_churn_by_inactivity_carries_a_note_and_explicit_churn_does_not(planted_result):
    r, _ = planted_result
    assert r.note == ""  # explicit churn (account_closed)
    inactive = replace(r, query=replace(r.query, outcomes=Outcomes()))
    assert inactive.note.startswith(f"Churn here means {r.inactivity_days} days without an event")
    assert "recency dominates" in inactive.note


def test_older_snapshots_are_left_out_once_both_outcomes_have_what_the_row_cap_keeps(monkeypatch):
    from datetime import datetime

    from journeys.analyses import predict

    monkeypatch.setattr(predict, "TRAIN_ROWS_MAX", 8)  # the cap keeps 4 of each outcome
    cuts = [datetime(2025, 3, d) for d in (20, 13, 6)]
    labels = {cuts[0]: [1, 1, 0, 0, 0, 0, 0], cuts[1]: [1, 1, 0], cuts[2]: [1, 1, 1]}
    asked = []

    def snap(cut):
        asked.append(cut)
        return pd.DataFrame({"label": labels[cut]})

    out = predict._snapshots(snap, cuts)
    assert asked == cuts[:2] and out.attrs["cuts"] == cuts[:2] and out.label.tolist() == [1, 1, 0, 0, 0, 0, 0, 1, 1, 0]
    asked.clear()
    monkeypatch.setattr(predict, "TRAIN_ROWS_MAX", 100)  # never enough: every snapshot is used
    assert predict._snapshots(snap, cuts).attrs["cuts"] == cuts and asked == cuts


def test_open_journeys_are_those_seen_within_the_threshold_before_the_last_event(duck, monkeypatch):
    """Without an as-of date, Predict scores exactly the customers Retention and churn call active: last seen
    less than N days before the data's last event (not the midnight after it, which lost a few)."""
    monkeypatch.setattr(predict, "MIN_OUTCOMES", 20)  # who is open, not how many outcomes a model needs
    df = planted(customers=1500)
    r = compute_predict(duck.table(df), PredictQuery(target="churn", horizon=timedelta(days=7)))
    assert r.offered is not None
    last = df.groupby("customer_id").ts.max()
    end = df.ts.max()
    active = set(last.index[last > end - timedelta(days=r.inactivity_days)])
    assert set(r.scores.customer_id) == active and r.scoring_cutoff.date() == end.date()
    b = r.metrics[BASELINE]  # its interval holds 0.5 here: the page says so rather than let it pass for a model
    assert b.auc_low <= 0.5 < b.auc_high and r.message.endswith(
        f"The baseline ranks no better than chance here (AUC {b.auc:.3f}, 95% {b.auc_low:.3f} to {b.auc_high:.3f}): "
        "which touchpoints tend to come last says little about who goes quiet in the next 7 days.")


@pytest.mark.parametrize(("as_of", "when"), [("2024-12-31", "before the data starts"), ("2026-01-01", "after the data ends")])
def test_an_as_of_date_outside_the_data_is_one_sentence(duck, as_of, when):
    t = _events(duck, _paths([(3, ["home", "purchase"])]))
    first, last = (d.date() for d in t.aggregate(a=t.ts.min(), b=t.ts.max()).execute().iloc[0])
    with pytest.raises(QueryError, match=f"^The as-of date {as_of} is {when}: this data runs from {first} to {last}"):
        compute_predict(t, PredictQuery(outcomes=Outcomes(goals=("purchase",)), as_of=datetime.fromisoformat(as_of).date()))


def test_too_few_outcomes_in_the_validation_period_is_no_model(duck):
    """200 outcomes of each kind in training are not enough: the later period must hold them too, or no model's
    AUC can be trusted (4,000 customers give 47 churners in the 7-day validation period)."""
    df = planted(customers=4000)
    q = PredictQuery(target="churn", outcomes=Outcomes(churn_touchpoints=("account_closed",)),
                     horizon=timedelta(days=7), snapshots=12, as_of=(BASE + timedelta(days=130)).date())
    r = compute_predict(duck.table(df), q)
    assert r.training_positive >= 200 and r.offered is None and r.scores.empty
    assert r.message == ("No model: the validation period (2025-07-03 to 2025-07-09) holds 47 customers with churn "
                         "within 7 days and 1,287 without; at least 200 of each are needed to judge a model (too few "
                         "positive outcomes).")
