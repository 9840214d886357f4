"""Who will convert or churn within H days: a transparent chain baseline beside a learned model, validated on
a later period than it was trained on, with reasons in words for every score.

Time-based validation (the scoring cutoff is just after the data's last event, so that an open journey is what it
is on every page, or the midnight UTC that ends ``as_of``; the other cutoffs are whole horizons before it):

- *validation cutoff* ``v = scoring - H``: the models score the customers open at ``v`` from their events
  before ``v`` and are judged on what those customers did in ``[v, scoring)``;
- *training cutoffs* ``v - H``, ``v - 2H``, ... (up to ``snapshots``, each with at least ``H`` days of history
  before it): features before each cutoff, labels from the following ``H`` days, so no training label
  reaches past ``v``; older snapshots are left out once both outcomes have what the row cap below keeps;
- the baseline is the order-k chain (:mod:`journeys.analyses.state_chain`) fitted on the events before ``v``;
- the learned model is a logistic regression, or gradient-boosted trees when they beat it measurably; it is
  offered only when its validation AUC beats the baseline's, else the baseline is offered and the result says so;
- with fewer than 200 positive or 200 negative training rows there is no model, and one sentence says why;
- the offered model is refitted with the validation period's labels added before it scores every customer
  whose journey is open at the scoring cutoff;
- above 100,000 training rows the models see the rarer outcome whole and a seeded sample of the other, weighted
  up by the inverse of the sampled share (:func:`journeys.analyses.predict_validation.cap_rows`); validation and
  scoring always use every customer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from journeys.analyses.base import known_touchpoints, to_frame
from journeys.analyses.predict_features import (
    STATE_SEP,
    FeaturePlan,
    Target,
    definition_events,
    fetch,
    labelled,
    last_day_of,
    plan_features,
    scoring_cutoff,
    states,
    to_matrix,
)
from journeys.analyses.predict_validation import (
    TRAIN_ROWS_MAX,
    BoostedModel,
    LogisticModel,
    Metrics,
    Model,
    cap_rows,
    measurably_better,
    metrics_for,
    reasons,
)
from journeys.analyses.state_chain import StateChain, build_chain, transitions
from journeys.errors import QueryError
from journeys.outcomes import Outcomes, data_end, inactivity_threshold

HORIZON_DEFAULT = timedelta(days=28)
HORIZONS = (timedelta(days=7), timedelta(days=28))
ORDER_DEFAULT = 2
SNAPSHOTS_DEFAULT = 12
SNAPSHOTS_MAX = 52
MIN_OUTCOMES = 200
#: how to read the reasons beside a score (they are each one value's effect alone, not shares of the score)
REASONS_NOTE = ("Each reason is how far that one value moves the score on its own, in percentage points (the "
                "score with that value against the score with a typical one). Reasons overlap, so they do not add "
                "up to the score.")
ModelName = Literal["baseline (Markov chain)", "logistic regression", "gradient boosting"]
BASELINE: ModelName = "baseline (Markov chain)"
SCORE_COLUMNS = ["customer_id", "score", "model", "reasons", "score_baseline", "state"]
VALIDATION_COLUMNS = ["customer_id", "score_baseline", "score_model", "actual"]


@dataclass(frozen=True, slots=True)
class PredictQuery:
    """P(``target`` within ``horizon``) for every open journey at ``as_of`` (default: the data's last day)."""

    target: Target = "conversion"
    outcomes: Outcomes = field(default_factory=Outcomes)
    horizon: timedelta = HORIZON_DEFAULT
    as_of: date | None = None
    order: int = ORDER_DEFAULT
    snapshots: int = SNAPSHOTS_DEFAULT

    def validate(self, known: list[str] | None = None) -> None:
        if self.target not in ("conversion", "churn"):
            raise QueryError(f"Predict conversion or churn, not '{self.target}'.")
        if self.target == "conversion" and not self.outcomes.goals:
            raise QueryError("Predicting conversion needs a goal touchpoint.", hint="Name one with --goal.")
        if not timedelta(days=1) <= self.horizon <= timedelta(days=366):
            raise QueryError(f"The horizon must be 1 to 366 days, not {self.horizon.days} days.")
        if not 1 <= self.order <= 4:
            raise QueryError(f"The chain order must be 1 to 4, not {self.order}.")
        if not 1 <= self.snapshots <= SNAPSHOTS_MAX:
            raise QueryError(f"Use 1 to {SNAPSHOTS_MAX} training snapshots, not {self.snapshots}.")
        self.outcomes.validate(known)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "outcomes": self.outcomes.to_params(), "horizon_days": self.horizon.days,
                "as_of": self.as_of.isoformat() if self.as_of else None, "order": self.order,
                "snapshots": self.snapshots}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PredictQuery:
        outcomes, _ = Outcomes.from_params({k: [v] for k, v in (d.get("outcomes") or {}).items()})
        return cls(target=d.get("target", "conversion"), outcomes=outcomes,
                   horizon=timedelta(days=int(d.get("horizon_days", 28))),
                   as_of=date.fromisoformat(d["as_of"]) if d.get("as_of") else None,
                   order=int(d.get("order", ORDER_DEFAULT)), snapshots=int(d.get("snapshots", SNAPSHOTS_DEFAULT)))


@dataclass(frozen=True, slots=True)
class PredictResult:
    """``offered`` is the model behind ``scores`` (None: too few outcomes, see ``message``). ``metrics`` maps
    each validated model to its figures; ``validation`` is the evaluated set (``VALIDATION_COLUMNS``) and
    ``scores`` one row per open customer (``SCORE_COLUMNS``, highest score first)."""

    query: PredictQuery
    offered: ModelName | None
    learned: ModelName | None
    message: str
    metrics: dict[str, Metrics]
    validation: pd.DataFrame
    scores: pd.DataFrame
    scoring_cutoff: datetime
    validation_cutoff: datetime
    training_cutoffs: tuple[datetime, ...]
    training_positive: int
    training_negative: int
    inactivity_days: int
    features: int

    @property
    def what(self) -> str:
        """``conversion to purchase within 28 days`` or ``churn within 28 days, where churned = no event for 158
        days`` for titles and captions (inside "P(...)": no nested brackets)."""
        o, days = self.query.outcomes, self.query.horizon.days
        if self.query.target == "conversion":
            return f"conversion to {' or '.join(o.goals)} within {days} days"
        return f"churn within {days} days, where {o.describe(self.inactivity_days)}"

    @property
    def note(self) -> str:
        """A caveat for churn by inactivity: the label is a silence and recency is a feature, so it is near-circular."""
        if self.query.target != "churn" or self.query.outcomes.churn_touchpoints:
            return ""
        return (f"Churn here means {self.inactivity_days} days without an event, and days since the last event is "
                "one of the features, so recency dominates the score: read it as who has gone quiet, not why.")


def cutoffs(first: datetime, scoring: datetime, query: PredictQuery) -> tuple[datetime, list[datetime]]:
    """The validation cutoff and the training cutoffs (latest first); a sentence when the data is too short."""
    h = query.horizon
    validation = scoring - h
    training = [validation - h * j for j in range(1, query.snapshots + 1) if validation - h * j >= first + h]
    if not training:
        span = (scoring - first).days
        longest = span // 3  # training needs H days of history, H of labels, and validation H more
        raise QueryError(f"A horizon of {h.days} days needs at least {3 * h.days} days of data before the scoring "
                         f"date (history, training labels, validation labels); this data covers {span} days.",
                         hint=f"Choose a horizon of at most {longest} days" + (
                             "." if query.as_of is None else ", or a later as-of date (or none: the data's last day)."))
    return validation, training


def outcome_chain(events: ir.Table, cutoff: datetime, query: PredictQuery, inactivity: int | None = None,
                  actions: tuple[str, ...] = ()) -> StateChain:
    """The order-k chain of the query's outcome from the events before ``cutoff`` (baseline and NBA)."""
    o = query.outcomes
    if query.target == "conversion":
        success, failure, end_is = o.goals, o.churn_touchpoints, "failure"
    elif o.churn_mode == "explicit":
        success, failure, end_is = o.churn_touchpoints, (), "failure"
    else:  # inactivity: a journey that stops (no next event within the horizon) is the churn
        success, failure, end_is = (), (), "success"
    counts, supports = transitions(events, cutoff, order=query.order, horizon=query.horizon, success=success,
                                   failure=failure, end_is=end_is, actions=actions)  # type: ignore[arg-type]
    del inactivity
    return build_chain(counts, query.order, supports)


def _next_step(q: PredictQuery) -> bool:
    """Churn by inactivity is the chain's end: every journey ends eventually, so the baseline is the chance that a
    customer's very next move is the end (no event within the horizon), not absorption (1 for everyone)."""
    return q.target == "churn" and q.outcomes.churn_mode == "inactivity"


def _chain_scores(chain: StateChain, frame: pd.DataFrame, q: PredictQuery) -> np.ndarray:
    return np.array([chain.prob(s, next_step=_next_step(q)) if s else np.nan for s in states(frame, q.order)],
                    dtype="float64")


def compute_predict(events: ir.Table, query: PredictQuery | None = None, *, end: Any = None) -> PredictResult:
    """Validate both models on the latest labelled period and score every open journey (see the module doc).
    ``end``: the dataset's last event when ``events`` are a segment's (default: their own last event).

    scikit-learn runs on one thread: its OpenMP pool spins against the engine and other work on a shared
    2-core machine (a 60-tree fit took 2.8 s on one thread and 30 s on two under load)."""
    with threadpool_limits(limits=1):
        return score_predict(train_predict(events, query, end=end))


@dataclass(frozen=True, slots=True)
class Trained:
    """The validated models, before scoring: ``result`` holds everything but the scores; ``model`` is the
    offered learned model refitted with the validation labels (None when the baseline is offered)."""

    result: PredictResult
    model: Model | None
    plan: FeaturePlan
    events: ir.Table


def train_predict(events: ir.Table, query: PredictQuery | None = None, *, end: Any = None) -> Trained:
    """Features, labels, both models and their validation; the offered model refitted for scoring."""
    with threadpool_limits(limits=1):
        return _train(events, query or PredictQuery(), end)


def _snapshots(snap: Callable[[datetime], pd.DataFrame], cuts: list[datetime]) -> pd.DataFrame:
    """The training snapshots, latest first, until both classes hold what the row cap keeps of each (half of
    TRAIN_ROWS_MAX): older snapshots would only change which rows the cap samples, and cost a pass over the
    events each (on a large dataset one or two snapshots are enough). ``attrs["cuts"]``: the cutoffs used."""
    frames: list[pd.DataFrame] = []
    pos = neg = 0
    for cut in cuts:
        frames.append(snap(cut))
        k = int(frames[-1]["label"].sum()) if len(frames[-1]) else 0
        pos, neg = pos + k, neg + len(frames[-1]) - k
        if min(pos, neg) >= TRAIN_ROWS_MAX // 2:
            break
    out = pd.concat(frames, ignore_index=True)
    out.attrs["cuts"] = cuts[:len(frames)]
    return out


def _train(events: ir.Table, q: PredictQuery, end: Any = None) -> Trained:
    q.validate(known_touchpoints(events))
    span = to_frame(events.aggregate(first=events.ts.min(), last=events.ts.max())).iloc[0]
    if pd.isna(span["last"]):
        raise QueryError("The data has no events.")
    first = pd.Timestamp(span["first"]).to_pydatetime()
    last = pd.Timestamp(span["last"] if end is None else end)
    last_day = last.date()
    if q.as_of is not None and not first.date() <= q.as_of <= last_day:
        when = "before the data starts" if q.as_of < first.date() else "after the data ends"
        raise QueryError(f"The as-of date {q.as_of} is {when}: this data runs from {first.date()} to {last_day}.",
                         hint="Pick a date in that range, or leave it empty for the data's last day.")
    scoring = scoring_cutoff(q.as_of, last)
    validation_cut, training_cuts = cutoffs(first, scoring, q)
    known = events.filter(events.ts < pd.Timestamp(scoring).to_pydatetime())
    # the inactivity threshold also bounds who is "open": seen within it (explicit churn included)
    inactivity = inactivity_threshold(known, replace(q.outcomes, churn_touchpoints=()), end=scoring).days
    plan = plan_features(known, q.order)

    def snap(cut: datetime) -> pd.DataFrame:
        return fetch(labelled(known, plan, cut, q.horizon, q.target, q.outcomes, inactivity, with_label=True))

    train = _snapshots(snap, training_cuts)
    training_cuts = training_cuts[:len(train.attrs.pop("cuts"))]
    valid = snap(validation_cut)
    y_train = train["label"].to_numpy("int64") if len(train) else np.zeros(0, dtype="int64")
    pos, neg = int(y_train.sum()), int(len(y_train) - y_train.sum())
    base: dict[str, Any] = {"query": q, "scoring_cutoff": scoring, "validation_cutoff": validation_cut,
            "training_cutoffs": tuple(training_cuts), "training_positive": pos, "training_negative": neg,
            "inactivity_days": inactivity, "features": len(plan.features)}
    if pos < MIN_OUTCOMES or neg < MIN_OUTCOMES:
        which = "positive" if pos < MIN_OUTCOMES else "negative"
        message = (f"No model: the training periods hold {pos:,} customers with {q.target} within "
                   f"{q.horizon.days} days and {neg:,} without; at least {MIN_OUTCOMES} of each are needed "
                   f"(too few {which} outcomes).")
        result = PredictResult(offered=None, learned=None, message=message, metrics={},
                               validation=pd.DataFrame(columns=VALIDATION_COLUMNS),
                               scores=pd.DataFrame(columns=SCORE_COLUMNS), **base)
        return Trained(result, None, plan, known)
    x_train, _ = to_matrix(train, plan)
    x_valid, _ = to_matrix(valid, plan)
    y_valid = valid["label"].to_numpy("int64")
    chain_v = outcome_chain(known, validation_cut, q, inactivity)
    s_base = np.nan_to_num(_chain_scores(chain_v, valid, q), nan=0.0)
    x_fit, y_fit, w_fit = cap_rows(x_train, y_train)
    lr = LogisticModel(x_fit, y_fit, w_fit)
    gb = BoostedModel(x_fit, y_fit, w_fit)
    scored = [s_base, lr.score(x_valid), gb.score(x_valid)]
    if 0 < y_valid.sum() < len(y_valid):
        found, cov = metrics_for(scored, y_valid)
        better = measurably_better(found, cov, 2, 1)
    else:
        found, better = [], False
    learned_name: ModelName = "gradient boosting" if better else "logistic regression"
    metrics: dict[str, Metrics] = dict(zip([BASELINE, "logistic regression", "gradient boosting"], found, strict=False))
    l_auc = metrics[learned_name].auc if metrics else float("nan")
    b_auc = metrics[BASELINE].auc if metrics else float("nan")
    v_pos, v_neg = int(y_valid.sum()), int(len(y_valid) - y_valid.sum())
    period = f"{validation_cut.date()} to {last_day_of(scoring)}"
    offered: ModelName | None
    if min(v_pos, v_neg) < MIN_OUTCOMES:  # too few to judge any model, however many the training periods held
        offered = None
        message = (f"No model: the validation period ({period}) holds {v_pos:,} customers with {q.target} within "
                   f"{q.horizon.days} days and {v_neg:,} without; at least {MIN_OUTCOMES} of each are needed to "
                   f"judge a model (too few {'positive' if v_pos < MIN_OUTCOMES else 'negative'} outcomes).")
    elif l_auc > b_auc:
        offered = learned_name
        message = (f"{learned_name.capitalize()} beats the baseline on the later period (AUC {l_auc:.3f} against "
                   f"{b_auc:.3f}) and scores the customers.")
    else:
        offered = BASELINE
        message = (f"{learned_name.capitalize()} does not beat the baseline on the later period (AUC {l_auc:.3f} "
                   f"against {b_auc:.3f}), so the baseline scores the customers.")
    if offered is not None and (bm := metrics.get(BASELINE)) is not None and bm.auc_low <= 0.5:
        ranks = "worse than chance" if bm.auc_high < 0.5 else "no better than chance"
        why = ("which touchpoints tend to come last says little about who goes quiet"
               if q.target == "churn" and not q.outcomes.churn_touchpoints else
               "where the last touchpoints lead in the long run says little about what happens")
        message += (f" The baseline ranks {ranks} here (AUC {bm.auc:.3f}, 95% {bm.auc_low:.3f} to {bm.auc_high:.3f}): "
                    f"{why} in the next {q.horizon.days} days.")
    validation = pd.DataFrame({"customer_id": valid["customer_id"].astype(str), "score_baseline": s_base,
                               "score_model": scored[2 if better else 1], "actual": y_valid})
    final: Model | None = None
    if offered not in (None, BASELINE):  # refit with the validation period's labels too: the latest behaviour counts most
        x_all, y_all, w_all = cap_rows(np.vstack([x_train, x_valid]), np.concatenate([y_train, y_valid]))
        final = BoostedModel(x_all, y_all, w_all) if better else LogisticModel(x_all, y_all, w_all)
    result = PredictResult(offered=offered, learned=learned_name, message=message, metrics=metrics,
                           validation=validation, scores=pd.DataFrame(columns=SCORE_COLUMNS), **base)
    return Trained(result, final, plan, known)


def score_predict(trained: Trained) -> PredictResult:
    """Score every journey open at the scoring cutoff with the offered model, with reasons in words."""
    r, q = trained.result, trained.result.query
    if r.offered is None:
        return r
    with threadpool_limits(limits=1):
        now = fetch(labelled(trained.events, trained.plan, r.scoring_cutoff, q.horizon, q.target, q.outcomes,
                             r.inactivity_days, with_label=False))
        x_now, features = to_matrix(now, trained.plan)
        chain_now = outcome_chain(trained.events, r.scoring_cutoff, q, r.inactivity_days)
        s_now = _chain_scores(chain_now, now, q)
        now_states = states(now, q.order)
        if trained.model is None:
            score = np.nan_to_num(s_now, nan=0.0)
            words = [_chain_reason(chain_now, s, p, _next_step(q)) for s, p in zip(now_states, score, strict=True)]
        else:
            score, lo, pp = trained.model.contributions(x_now)
            words = reasons(x_now, lo, pp, features)
    scores = pd.DataFrame({"customer_id": now["customer_id"].astype(str), "score": score, "model": r.offered,
                           "reasons": words, "score_baseline": s_now,
                           "state": [STATE_SEP.join(s) for s in now_states]})
    scores = scores.sort_values(["score", "customer_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return replace(r, scores=scores)


def _chain_reason(chain: StateChain, state: tuple[str, ...], p: float, next_step: bool = False) -> str:
    known = chain.state_of(state)
    if known is None:
        return ""
    if next_step:
        return f"last touchpoints {STATE_SEP.join(known)}: {p:.0%} of journeys from there have no next event in time"
    return f"last touchpoints {STATE_SEP.join(known)}: {p:.0%} of journeys from there reach it"


def band(scores: pd.DataFrame, low: float, high: float) -> pd.DataFrame:
    """The customers whose score lies in ``[low, high]``."""
    return scores[(scores["score"] >= low) & (scores["score"] <= high)]


def score_band_members(store: Any, dataset: str, definition: dict[str, Any], share: float, seed: int) -> pd.DataFrame:
    """Audience members of a score band: ``definition`` = {"predict": PredictQuery.to_dict(), "low", "high"} and
    optionally the segment (``seg``, ``goal``) it was drawn from."""
    from journeys.audiences import members_frame

    query = PredictQuery.from_dict(definition["predict"])
    r = compute_predict(definition_events(store, dataset, definition), query, end=data_end(store.table(dataset)))
    if r.offered is None:
        raise QueryError(r.message)
    rows = band(r.scores, float(definition.get("low", 0.0)), float(definition.get("high", 1.0)))
    return members_frame(rows["customer_id"], score=rows["score"], reason=rows["reasons"], share=share, seed=seed)



TIMELINE_ROWS = 500
TIMELINE_COLUMNS = ["ts", "touchpoint", "channel", "value", "score", "text"]


def customer_timeline(events: ir.Table, customer_id: str, *, limit: int = TIMELINE_ROWS) -> tuple[pd.DataFrame, int]:
    """One customer's events in ``(ts, seq)`` order (the last ``limit`` of them) and how many there are in all."""
    mine = events.filter(events.customer_id == customer_id)
    total = int(to_frame(mine.aggregate(n=mine.count()))["n"].iloc[0])
    cols = [c for c in TIMELINE_COLUMNS if c in events.columns]
    last = mine.order_by([ibis.desc(mine.ts), ibis.desc(mine.seq)]).limit(limit).select(*cols, "seq")
    frame = to_frame(last).sort_values(["ts", "seq"], kind="stable").drop(columns="seq").reset_index(drop=True)
    return frame, total
