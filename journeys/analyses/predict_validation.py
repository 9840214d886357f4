"""Model fitting, validation metrics and reasons in words for :mod:`journeys.analyses.predict`.

Everything here works on the per-customer matrices the engine produced; nothing touches events.

- :func:`metrics_for`: AUC with its 95% DeLong interval, precision and lift in the top decile (the 10% highest scores, ties broken by customer
  order), and a calibration curve of ten equal-width score bins;
- :class:`LogisticModel`: median imputation, standardisation, L2 logistic regression (scikit-learn). Its reasons
  are the standardised contributions ``beta_j * z_j``, said in percentage points: how far that one value moves
  the score of an average customer (every feature at its training mean);
- :class:`BoostedModel`: scikit-learn's histogram gradient boosting, offered only when it beats the logistic
  regression on the validation AUC beyond the 95% paired DeLong interval (:func:`measurably_better`). Its reasons use the same
  for the most important features (by occlusion on a sample): how much lower this customer's log-odds and score
  would be with that one value as a typical customer without the outcome has it (the median of the training
  negatives; a mean would sit on the same side of a tree's split as most values and say nothing). It needs no
  model internals.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from journeys.analyses.predict_features import Feature
from journeys.stats import Z95

CALIBRATION_BINS = 10
TOP_SHARE = 0.10
REASONS = 3
BASE_RATE_CLIP = 0.001  # the reference rate stays within [0.1%, 99.9%] so its logit is finite
REASON_FLOOR_LOG_ODDS = 0.05  # odds x1.05: smaller pushes are not worth a sentence
OCCLUSION_FEATURES = 12
OCCLUSION_SAMPLE = 500
SEED = 0


@dataclass(frozen=True, slots=True)
class Metrics:
    """Validation figures of one model: ``calibration`` rows are (bin_low, bin_high, customers, mean_score,
    observed_rate)."""

    auc: float
    auc_low: float
    auc_high: float
    top_decile_precision: float
    top_decile_lift: float
    base_rate: float
    n_positive: int
    n_negative: int
    calibration: tuple[tuple[float, float, int, float, float], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"auc": self.auc, "auc_ci": [self.auc_low, self.auc_high],
                "top_decile_precision": self.top_decile_precision, "top_decile_lift": self.top_decile_lift,
                "base_rate": self.base_rate, "n_positive": self.n_positive, "n_negative": self.n_negative,
                "calibration": [{"bin_low": a, "bin_high": b, "customers": n, "mean_score": m, "observed_rate": o}
                                for a, b, n, m, o in self.calibration]}


def top_decile(score: np.ndarray, actual: np.ndarray) -> tuple[float, float]:
    """(precision, lift) among the ceil(10%) highest scores; a stable sort keeps ties in row order."""
    n = len(score)
    if n == 0:
        return float("nan"), float("nan")
    k = max(1, int(np.ceil(n * TOP_SHARE)))
    top = np.argsort(-score, kind="stable")[:k]
    precision = float(actual[top].mean())
    base = float(actual.mean())
    return precision, precision / base if base > 0 else float("nan")


def calibration(score: np.ndarray, actual: np.ndarray) -> tuple[tuple[float, float, int, float, float], ...]:
    """Ten equal-width bins over [0, 1] (empty bins left out)."""
    edges = np.linspace(0, 1, CALIBRATION_BINS + 1)
    which = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, CALIBRATION_BINS - 1)
    out = []
    for b in range(CALIBRATION_BINS):
        sel = which == b
        if sel.any():
            out.append((float(edges[b]), float(edges[b + 1]), int(sel.sum()), float(score[sel].mean()),
                        float(actual[sel].mean())))
    return tuple(out)


def auc(score: np.ndarray, actual: np.ndarray) -> float:
    # scikit-learn (and scipy.stats) load when a model is validated or fitted, not with every page
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(actual, score)) if 0 < actual.sum() < len(actual) else float("nan")


def _midrank(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their mean rank."""
    from scipy.stats import rankdata

    return np.asarray(rankdata(x, method="average"), dtype="float64")


def delong(scores: list[np.ndarray], actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their covariance matrix by DeLong, DeLong & Clarke-Pearson (1988), in the O(n log n) form of
    Sun & Xu (2014): exact for ties, no resampling, and paired across scores of the same customers."""
    pos, neg = actual == 1, actual == 0
    m, n = int(pos.sum()), int(neg.sum())
    aucs, v10, v01 = [], [], []
    for s in scores:
        tx, ty, tz = _midrank(s[pos]), _midrank(s[neg]), _midrank(s)
        rx, ry = tz[pos], tz[neg]
        aucs.append((rx.sum() / m - (m + 1) / 2) / n)
        v10.append((rx - tx) / n)  # per positive: the share of negatives it beats
        v01.append(1 - (ry - ty) / m)  # per negative: the share of positives that beat it
    a10, a01 = np.vstack(v10), np.vstack(v01)
    cov = np.atleast_2d(np.cov(a10)) / m + np.atleast_2d(np.cov(a01)) / n
    return np.asarray(aucs), cov


def metrics_for(scores: list[np.ndarray], actual: np.ndarray) -> tuple[list[Metrics], np.ndarray]:
    """Metrics of each score on the same validation customers, and the DeLong covariance of their AUCs."""
    aucs, cov = delong(scores, actual)
    out = []
    for i, s in enumerate(scores):
        precision, lift = top_decile(s, actual)
        half = Z95 * float(np.sqrt(max(cov[i, i], 0.0)))
        out.append(Metrics(auc=float(aucs[i]), auc_low=max(0.0, float(aucs[i]) - half),
                           auc_high=min(1.0, float(aucs[i]) + half),
                           top_decile_precision=precision, top_decile_lift=lift, base_rate=float(actual.mean()),
                           n_positive=int(actual.sum()), n_negative=int(len(actual) - actual.sum()),
                           calibration=calibration(s, actual)))
    return out, cov


def measurably_better(metrics: list[Metrics], cov: np.ndarray, a: int, b: int) -> bool:
    """Score ``a`` beats score ``b``: the lower end of the 95% DeLong interval of their AUC difference is above 0."""
    diff = metrics[a].auc - metrics[b].auc
    se = float(np.sqrt(max(cov[a, a] + cov[b, b] - 2 * cov[a, b], 0.0)))
    return diff - Z95 * se > 0


TRAIN_ROWS_MAX = 100_000


def cap_rows(x: np.ndarray, y: np.ndarray, limit: int = TRAIN_ROWS_MAX) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """At most ``limit`` training rows: the rarer class whole (up to half the limit), the other class filling the
    rest, each a seeded random sample weighted up by the inverse of its sampled share (so scores stay calibrated).
    Below the limit nothing is sampled (weights None)."""
    if len(y) <= limit:
        return x, y, None
    rng = np.random.default_rng(SEED)
    groups = sorted((np.flatnonzero(y == c) for c in (1, 0)), key=len)  # rarer class first
    rows, weights = [], []
    room = limit
    for i, members in enumerate(groups):
        take = min(len(members), room if i else max(limit // 2, room - len(groups[1])))
        picked = np.sort(rng.choice(members, size=take, replace=False)) if take < len(members) else members
        rows.append(picked)
        weights.append(np.full(len(picked), len(members) / max(len(picked), 1)))
        room -= len(picked)
    order = np.concatenate(rows)
    return x[order], y[order], np.concatenate(weights)


class Model(Protocol):
    kind: str

    def score(self, x: np.ndarray) -> np.ndarray: ...

    def contributions(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


class LogisticModel:
    """Median-imputed, standardised L2 logistic regression."""

    kind = "logistic regression"

    def __init__(self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> None:
        from scipy.special import logit  # scipy loads with a model, not with every page
        with warnings.catch_warnings():  # an all-missing column (no scores yet) has no median: use 0
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(x, axis=0) if len(x) else np.zeros(x.shape[1])
        self.median = np.where(np.isnan(median), 0.0, median)
        filled = self._fill(x)
        self.mean = filled.mean(axis=0)
        sd = filled.std(axis=0)
        self.sd = np.where(sd > 0, sd, 1.0)
        from sklearn.linear_model import LogisticRegression

        self.fit = LogisticRegression(C=1.0, max_iter=2000).fit((filled - self.mean) / self.sd, y, sample_weight=w)
        self.coef = self.fit.coef_[0]
        self.intercept = float(self.fit.intercept_[0])
        # reasons are read at the training base rate (not the fitted intercept, which can sit far out on the
        # logit scale when one class dominates): b0 = logit(base rate)
        rate = float(np.average(y, weights=w)) if len(y) else 0.5
        self.base_rate = float(np.clip(rate, BASE_RATE_CLIP, 1 - BASE_RATE_CLIP))
        self.b0 = float(logit(self.base_rate))

    def _fill(self, x: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(x), self.median, x)

    def score(self, x: np.ndarray) -> np.ndarray:
        from scipy.special import expit  # scipy loads with a model, not with every page
        return np.asarray(expit(((self._fill(x) - self.mean) / self.sd) @ self.coef + self.intercept))

    def contributions(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(score, log-odds, pp) per customer and feature: the standardised contribution ``beta_j z_j`` and how
        far that one value moves a customer at the training base rate, ``sigmoid(b0 + beta_j z_j) - sigmoid(b0)``
        with ``b0 = logit(base rate)``, in percentage points: bounded by the base rate, so it never explodes."""
        from scipy.special import expit  # scipy loads with a model, not with every page
        z = (self._fill(x) - self.mean) / self.sd
        parts = z * self.coef
        p = expit(parts.sum(axis=1) + self.intercept)
        return p, parts, (expit(self.b0 + parts) - expit(self.b0)) * 100


class BoostedModel:
    """Histogram gradient boosting (scikit-learn, early stopping); NaN is handled by the trees themselves."""

    kind = "gradient boosting"

    def __init__(self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.fit = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1, early_stopping=True,
                                                  validation_fraction=0.1, n_iter_no_change=10,
                                                  random_state=SEED).fit(x, y, sample_weight=w)
        with warnings.catch_warnings():  # the reference: a typical customer without the outcome
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = np.nanmedian(x[y == 0], axis=0) if (y == 0).any() else np.zeros(x.shape[1])
        self.mean = np.where(np.isnan(ref), 0.0, ref)
        sample = x[np.random.default_rng(SEED).choice(len(x), min(len(x), OCCLUSION_SAMPLE), replace=False)]
        p = x.shape[1]
        moved = np.tile(sample, (p, 1))  # block j: the sample with feature j at its mean, scored in one call
        for j in range(p):
            moved[j * len(sample):(j + 1) * len(sample), j] = self.mean[j]
        shifted = self.score(moved).reshape(p, len(sample))
        effect = np.abs(shifted - self.score(sample)[None, :]).mean(axis=1)
        self.important = np.argsort(-effect, kind="stable")[:OCCLUSION_FEATURES]

    def score(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.fit.predict_proba(x)[:, 1])

    def contributions(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(score, log-odds, pp) for the most important features: how much lower this customer's log-odds
        (the trees' raw output) and score would be with that one feature at the value of a typical customer
        without the outcome (occlusion against the median of the training negatives)."""
        from scipy.special import expit  # scipy loads with a model, not with every page
        raw = np.asarray(self.fit.decision_function(x))
        p = expit(raw)
        lo = np.zeros(x.shape)
        pp = np.zeros(x.shape)
        for j in self.important:
            moved = x.copy()
            moved[:, j] = self.mean[j]
            other = np.asarray(self.fit.decision_function(moved))
            lo[:, j] = raw - other
            pp[:, j] = (p - expit(other)) * 100
        return p, lo, pp


def reasons(x: np.ndarray, lo: np.ndarray, pp: np.ndarray, features: list[Feature]) -> list[str]:
    """The top contributions that raise each score (by log-odds), in words: ``3 × call_centre in 7 days: +12 pp``.
    The size is always percentage points (``pp``, see the models' ``contributions``), whole points from 1 pp
    and one decimal below. One-hot features speak only when present."""
    usable = lo.copy()
    indicator = np.array([f.indicator for f in features], dtype=bool)
    usable[:, indicator] = np.where(x[:, indicator] > 0, usable[:, indicator], -np.inf)
    usable = np.where(np.isnan(x) & ~indicator, -np.inf, usable)
    k = min(REASONS, usable.shape[1])
    if k == 0:
        return [""] * len(x)
    top = np.argsort(-usable, axis=1, kind="stable")[:, :k]
    out = []
    for i in range(len(x)):
        parts = []
        for j in top[i]:
            if usable[i, j] < REASON_FLOOR_LOG_ODDS:
                continue
            parts.append(f"{features[j].words(x[i, j])}: {points(pp[i, j])}")
        out.append("; ".join(parts))
    return out


def points(pp: float) -> str:
    """A probability change in words: ``+12 pp``, ``+0.4 pp``, ``under +0.1 pp``."""
    if pp >= 1:
        return f"{pp:+.0f} pp"
    return f"{pp:+.1f} pp" if pp >= 0.1 else "under +0.1 pp"
