"""Who is probably already gone: P(alive) from the BG/NBD model (Fader, Hardie & Lee 2005, "Counting your
customers the easy way").

Three separate steps. The engine computes each buyer's frequency, recency and age T in weeks, at daily
resolution (:func:`purchase_summary`); only that one-row-per-buyer frame reaches Python. The maximum-likelihood
fit (:func:`fit_bgnbd`) and the per-customer predictions (:func:`p_alive`, :func:`expected_purchases`) run
on it with numpy and scipy. :func:`compute_palive` chains them and refuses, with a sentence, data the model
cannot speak about.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from journeys.analyses.base import check_touchpoints, known_touchpoints, to_frame
from journeys.errors import QueryError

PURCHASES_DEFAULT = ("purchase",)
HORIZON_WEEKS_DEFAULT = 39.0
MIN_CUSTOMERS = 500
#: P(alive) bands (DESIGN defaults): below LIKELY_LOST_BELOW likely lost, above ACTIVE_ABOVE active, at risk between
LIKELY_LOST_BELOW, ACTIVE_ABOVE = 0.3, 0.7
BANDS = ("likely lost", "at risk", "active")
MAX_ITERATIONS = 1000
#: log-parameters stay within +-LOG_BOUND; a fit that ends on this edge is reported as not converged
LOG_BOUND = 15.0
DAYS_PER_WEEK = 7.0
SUMMARY_COLUMNS = ["customer_id", "frequency", "recency", "T"]
CUSTOMER_COLUMNS = [*SUMMARY_COLUMNS, "p_alive", "expected_purchases"]


@dataclass(frozen=True, slots=True)
class PAliveQuery:
    """``purchases``: the touchpoints that are purchases; ``until``: the day P(alive) is judged at (events after
    it are ignored; default the data's last day); ``horizon_weeks``: how far ahead purchases are expected."""

    purchases: tuple[str, ...] = PURCHASES_DEFAULT
    until: date | None = None
    horizon_weeks: float = HORIZON_WEEKS_DEFAULT

    def validate(self) -> None:
        if not self.purchases:
            raise QueryError("P(alive) needs at least one purchase touchpoint.")
        if not np.isfinite(self.horizon_weeks) or self.horizon_weeks <= 0:
            raise QueryError(f"The horizon must be a positive number of weeks, not {self.horizon_weeks}.")


@dataclass(frozen=True, slots=True)
class BGNBDParams:
    """Purchase rates are Gamma(r, alpha) across customers; the drop-out chance after each purchase is Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True, slots=True)
class BGNBDFit:
    params: BGNBDParams
    log_likelihood: float
    converged: bool
    message: str


@dataclass(frozen=True, slots=True)
class PurchaseSummary:
    """One row per buyer (``customer_id, frequency, recency, T``, weeks), the day it is judged at, and the
    customers seen by then who never bought (they are not in the model)."""

    customers: pd.DataFrame
    until: date
    without_purchase: int


@dataclass(frozen=True, slots=True)
class PAliveResult:
    """The fit (``converged`` False with scipy's ``message`` when the optimiser did not finish: warn, do not hide),
    one row per buyer (``CUSTOMER_COLUMNS``, by customer id), and the band counts in ``BANDS`` order."""

    params: BGNBDParams
    log_likelihood: float
    converged: bool
    message: str
    customers: pd.DataFrame
    customers_modelled: int
    customers_without_purchase: int
    bands: dict[str, int]
    until: date
    horizon_weeks: float
    purchases: tuple[str, ...]


def purchase_summary(events: ir.Table, purchases: tuple[str, ...], until: date | None = None) -> PurchaseSummary:
    """Frequency (purchase days after the first), recency (weeks from the first to the last purchase day) and T
    (weeks from the first purchase day to ``until``), aggregated in the engine. Days are UTC dates, so several
    purchases on one date count as one; events after ``until`` (default: the data's last day) are ignored."""
    if isinstance(until, datetime):
        until = until.date()
    if until is None:
        last = to_frame(events.aggregate(last=events.ts.max()))["last"].iloc[0]
        if pd.isna(last):
            raise QueryError(f"No customer did {_names(purchases)}: the data has no events.")
        until = pd.Timestamp(last).date()
    seen = events.filter(events.ts < datetime.combine(until + timedelta(days=1), time()))
    bought = seen.filter(seen.touchpoint.isin(list(purchases)))
    days = bought.select("customer_id", day=bought.ts.date()).distinct()  # cheaper than nunique over 1M+ groups
    per = days.group_by("customer_id").aggregate(first=days.day.min(), last=days.day.max(), days=days.count())
    per = per.select("customer_id", frequency=per.days - 1, recency_days=per["last"].delta(per["first"], unit="day"),
                     age_days=ibis.literal(until).delta(per["first"], unit="day"))
    frame = to_frame(per).sort_values("customer_id").reset_index(drop=True)
    everyone = int(to_frame(seen.aggregate(n=seen.customer_id.nunique()))["n"].iloc[0])
    customers = pd.DataFrame({
        "customer_id": frame["customer_id"].astype(str),
        "frequency": frame["frequency"].astype("int64"),
        "recency": frame["recency_days"].astype("float64") / DAYS_PER_WEEK,
        "T": frame["age_days"].astype("float64") / DAYS_PER_WEEK,
    })
    return PurchaseSummary(customers=customers, until=until, without_purchase=everyone - len(customers))


@dataclass(frozen=True, slots=True)
class _Rows:
    """The distinct ``(x, t_x, T)`` rows and their counts ``w``; ``xs`` are the distinct frequencies, ``wx`` their
    counts and ``at`` each row's index into ``xs``. Special functions of x are evaluated once per frequency."""

    x: np.ndarray
    tx: np.ndarray
    T: np.ndarray
    w: np.ndarray
    xs: np.ndarray
    wx: np.ndarray
    at: np.ndarray

    @classmethod
    def of(cls, frequency: Any, recency: Any, T: Any) -> _Rows:
        columns = {"x": np.asarray(frequency, "float64"), "tx": np.asarray(recency, "float64"),
                   "T": np.asarray(T, "float64")}
        counts = pd.DataFrame(columns).value_counts(sort=False)
        rows = counts.index.to_frame(index=False)
        w = counts.to_numpy(dtype="float64")
        xs, at = np.unique(rows["x"].to_numpy(), return_inverse=True)
        return cls(rows["x"].to_numpy(), rows["tx"].to_numpy(), rows["T"].to_numpy(), w, xs,
                   np.bincount(at, weights=w), at)


def _log_likelihood(log_params: np.ndarray, d: _Rows) -> tuple[float, np.ndarray]:
    """The BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6) summed over customers, and its gradient
    in log-parameters. Per customer it is gammaln(r + x) - gammaln(r) + r log(alpha) + betaln(a, b + x)
    - betaln(a, b) + log(e^A + [x > 0] e^B), with A = -(r + x) log(alpha + T) (still alive at T) and
    B = log(a / (b + x - 1)) - (r + x) log(alpha + t_x) (left right after the last purchase)."""
    from scipy.special import betaln, digamma, gammaln  # scipy loads with the model, not with every page
    r, alpha, a, b = np.exp(log_params)
    n, x, xs = d.w.sum(), d.x, d.xs
    log_end, log_last = np.log(alpha + d.T), np.log(alpha + d.tx)
    after = 1.0 / (b + np.maximum(xs, 1) - 1)  # 1 / (b + x - 1), kept finite where x = 0 (B is dropped there)
    big_a = -(r + x) * log_end
    big_b = np.where(x > 0, np.log(a * after)[d.at] - (r + x) * log_last, -np.inf)
    both = np.logaddexp(big_a, big_b)
    ll = (d.wx @ (gammaln(r + xs) + betaln(a, b + xs)) + d.w @ both
          + n * (r * np.log(alpha) - gammaln(r) - betaln(a, b)))
    pb = np.exp(big_b - both)  # the share of each row's likelihood carried by B
    pa = 1.0 - pb
    dab, dabx = digamma(a + b), digamma(a + b + xs)
    grad = np.array([
        d.wx @ digamma(r + xs) + n * (np.log(alpha) - digamma(r)) - d.w @ (pa * log_end + pb * log_last),
        n * r / alpha - d.w @ ((r + x) * (pa / (alpha + d.T) + pb / (alpha + d.tx))),
        n * dab - d.wx @ dabx + (d.w @ pb) / a,
        n * (dab - digamma(b)) + d.wx @ (digamma(b + xs) - dabx) - d.w @ (pb * after[d.at]),
    ])
    return float(ll), grad * np.array([r, alpha, a, b])


def fit_bgnbd(frequency: Any, recency: Any, T: Any, *, max_iterations: int = MAX_ITERATIONS) -> BGNBDFit:
    """Maximum-likelihood r, alpha, a, b (L-BFGS-B on log-parameters, analytic gradient) from per-customer
    frequency, recency and T (one time unit throughout: weeks here). Identical rows are fitted once, weighted.

    Examples:
        >>> fit_bgnbd(cdnow.frequency, cdnow.recency, cdnow["T"]).params  # doctest: +SKIP
        BGNBDParams(r=0.2426, alpha=4.4135, a=0.7929, b=2.4258)
    """
    from scipy.optimize import minimize  # scipy loads with the model, not with every page
    rows = _Rows.of(frequency, recency, T)
    n = rows.w.sum()

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        ll, grad = _log_likelihood(log_params, rows)
        return -ll / n, -grad / n  # per customer, so tolerances mean the same for 2,000 or 2,000,000

    res = minimize(objective, np.zeros(4), jac=True, method="L-BFGS-B", bounds=[(-LOG_BOUND, LOG_BOUND)] * 4,
                   options={"maxiter": max_iterations, "ftol": 1e-15, "gtol": 1e-9})
    params = BGNBDParams(*(float(v) for v in np.exp(res.x)))
    converged, message = bool(res.success), str(res.message)
    edge = [name for name, v in zip(("r", "alpha", "a", "b"), res.x, strict=True) if abs(v) > LOG_BOUND - 1e-6]
    if converged and edge:
        converged, message = False, f"The fit ran to the edge of the parameter space ({', '.join(edge)})."
    return BGNBDFit(params, log_likelihood=-float(res.fun) * float(n), converged=converged, message=message)


def p_alive(params: BGNBDParams, frequency: Any, recency: Any, T: Any) -> np.ndarray:
    """P(still alive at T | x, t_x, T) = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x)).
    A customer who never bought again (x = 0) counts as alive: the model only lets customers leave after a purchase."""
    from scipy.special import expit  # scipy loads with the model, not with every page
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, tx, age = (np.asarray(v, "float64") for v in (frequency, recency, T))
    log_odds = np.log(a / (b + np.maximum(x, 1) - 1)) + (r + x) * np.log((alpha + age) / (alpha + tx))
    return np.where(x > 0, expit(-log_odds), 1.0)


def expected_purchases(params: BGNBDParams, t: float, frequency: Any, recency: Any, T: Any) -> np.ndarray:
    """Expected purchases in the next ``t`` time units (eq. 10). Its hypergeometric term is taken after Euler's
    transformation, ``(1 - z)^(r + x) 2F1(r + x, b + x; c; z) = (1 - z)^(a - 1) 2F1(a + b - 1 - r, a - 1; c; z)``
    with ``z = t / (alpha + T + t)``, which keeps the series short and finite for frequent buyers."""
    from scipy.special import hyp2f1  # scipy loads with the model, not with every page
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, age = np.asarray(frequency, "float64"), np.asarray(T, "float64")
    c = a + b + x - 1
    z = t / (alpha + age + t)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        rest = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, c, z)
        # a very large a (nearly everyone leaves after a purchase) overflows the transformed series: the
        # untransformed one converges quickly there
        direct = (1 - z) ** (r + x) * hyp2f1(r + x, b + x, c, z)
    rest = np.where(np.isfinite(rest), rest, direct)
    return c / (a - 1) * (1 - rest) * p_alive(params, frequency, recency, T)


def band_of(p: Any) -> np.ndarray:
    """The band of each P(alive): likely lost (< 0.3), at risk (0.3 to 0.7, both included) or active (> 0.7)."""
    values = np.asarray(p, "float64")
    return np.where(values < LIKELY_LOST_BELOW, BANDS[0], np.where(values > ACTIVE_ABOVE, BANDS[2], BANDS[1]))


def check_fit_possible(summary: PurchaseSummary, purchases: tuple[str, ...]) -> None:
    """The honest limits: someone bought, someone bought again, and enough buyers to estimate four parameters."""
    buyers = summary.customers
    if buyers.empty:
        raise QueryError(f"No customer did {_names(purchases)} up to {summary.until}: P(alive) needs purchases.")
    if not (buyers["frequency"] > 0).any():
        raise QueryError(f"No customer did {_names(purchases)} on two different days up to {summary.until}: "
                         "without repeat purchases P(alive) cannot be estimated.")
    if len(buyers) < MIN_CUSTOMERS:
        raise QueryError(f"P(alive) needs at least {MIN_CUSTOMERS} customers with a purchase; "
                         f"this data has {len(buyers)}.")


def judged_at(query: PAliveQuery, end: datetime) -> PAliveQuery:
    """``query`` judged at its ``until``, by default the data's last day (``end``: the dataset's last event, also
    for a segment); a later day is refused with a sentence."""
    last = end.date()
    if query.until is not None and query.until > last:
        raise QueryError(f"P(alive) can be judged up to the data's last day ({last}), not at {query.until}: nobody "
                         "could have been seen after it.", hint="Choose an earlier date.")
    return replace(query, until=query.until or last)


def compute_palive(events: ir.Table, query: PAliveQuery | None = None, *,
                   whole: ir.Table | None = None) -> PAliveResult:
    """Fit BG/NBD to the buyers in ``events`` (any table with customer_id, ts and touchpoint: the canonical
    events, or a segment's journeys) and score each buyer: P(alive) at ``until`` and purchases expected
    over the horizon. For a subset of the data, pass the dataset's last day as ``until`` (the default is
    the last day of ``events`` itself) and the dataset's events as ``whole``: the purchase touchpoints are
    checked against it, and a segment without purchases is told so."""
    query = query or PAliveQuery()
    query.validate()
    check_touchpoints(query.purchases, known_touchpoints(events if whole is None else whole))
    summary = purchase_summary(events, query.purchases, query.until)
    check_fit_possible(summary, query.purchases)
    buyers = summary.customers
    cols = (buyers["frequency"].to_numpy(), buyers["recency"].to_numpy(), buyers["T"].to_numpy())
    fit = fit_bgnbd(*cols)
    customers = buyers.assign(p_alive=p_alive(fit.params, *cols),
                              expected_purchases=expected_purchases(fit.params, query.horizon_weeks, *cols))
    labels = pd.Series(band_of(customers["p_alive"]))
    return PAliveResult(
        params=fit.params, log_likelihood=fit.log_likelihood, converged=fit.converged, message=fit.message,
        customers=customers[CUSTOMER_COLUMNS], customers_modelled=len(customers),
        customers_without_purchase=summary.without_purchase,
        bands={band: int((labels == band).sum()) for band in BANDS},
        until=summary.until, horizon_weeks=query.horizon_weeks, purchases=query.purchases,
    )


def _names(purchases: tuple[str, ...]) -> str:
    """``'purchase'`` or ``'order' or 'purchase'`` for sentences."""
    return " or ".join(f"'{p}'" for p in purchases)
