"""P(alive) as a product: the hold-out check that shows how far to trust the fit, customer value and the
at-risk high-value list, the cautions shown beside the bands, and the customers of a band (for segments).
The model itself is in :mod:`journeys.analyses.palive`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from journeys.analyses.base import check_touchpoints, known_touchpoints, to_frame
from journeys.analyses.palive import (
    BANDS,
    DAYS_PER_WEEK,
    PURCHASES_DEFAULT,
    BGNBDFit,
    PAliveQuery,
    PAliveResult,
    band_of,
    check_fit_possible,
    compute_palive,
    expected_purchases,
    fit_bgnbd,
    purchase_summary,
)
from journeys.errors import QueryError

HOLDOUT_WEEKS_DEFAULT = 13.0
#: the hold-out chart groups customers by calibration frequency, the last group being this many or more
HOLDOUT_FREQUENCY_CAP = 7
#: "high value" customers: total purchase value (or, without values, purchase days) at or above this quantile
HIGH_VALUE_QUANTILE = 0.75


@dataclass(frozen=True, slots=True)
class HoldoutCheck:
    """The model fitted on the data up to ``split`` and judged on the ``holdout_weeks`` after it: per calibration
    frequency (``frequency``, the last row meaning that many or more) the ``customers``, the mean purchase days
    the model ``predicted`` in the hold-out and the mean it ``actual``-ly saw."""

    split: date
    until: date
    holdout_weeks: float
    fit: BGNBDFit
    table: pd.DataFrame
    predicted_total: float
    actual_total: int


def holdout_check(events: ir.Table, query: PAliveQuery | None = None, *,
                  holdout_weeks: float = HOLDOUT_WEEKS_DEFAULT) -> HoldoutCheck:
    """Fit on everything before the last ``holdout_weeks`` (whole days) and compare the purchases the model expects
    in those weeks with the purchase days that happened, as in Fader, Hardie & Lee (2005), figure 3."""
    query = query or PAliveQuery()
    query.validate()
    check_touchpoints(query.purchases, known_touchpoints(events))
    if not np.isfinite(holdout_weeks) or holdout_weeks <= 0:
        raise QueryError(f"The hold-out must be a positive number of weeks, not {holdout_weeks}.")
    until = query.until or purchase_summary(events, query.purchases).until
    days = round(holdout_weeks * DAYS_PER_WEEK)
    split = until - timedelta(days=days)
    cal = purchase_summary(events, query.purchases, split)
    try:
        check_fit_possible(cal, query.purchases)
    except QueryError as err:
        raise QueryError(f"The hold-out check fits on the data up to {split}, {holdout_weeks:g} weeks before the "
                         f"end: {err.message}", hint="Choose a shorter hold-out.") from err
    buyers = cal.customers
    cols = (buyers["frequency"].to_numpy(), buyers["recency"].to_numpy(), buyers["T"].to_numpy())
    fit = fit_bgnbd(*cols)
    predicted = expected_purchases(fit.params, days / DAYS_PER_WEEK, *cols)
    window = events.filter((events.ts >= datetime.combine(split + timedelta(days=1), time()))
                           & (events.ts < datetime.combine(until + timedelta(days=1), time()))
                           & events.touchpoint.isin(list(query.purchases)))
    later = window.select("customer_id", day=window.ts.date()).distinct()
    counts = to_frame(later.group_by("customer_id").aggregate(actual=later.count()))
    actual = buyers[["customer_id"]].merge(counts.astype({"customer_id": str}), on="customer_id", how="left")["actual"]
    frame = pd.DataFrame({"frequency": np.minimum(buyers["frequency"].to_numpy(), HOLDOUT_FREQUENCY_CAP),
                          "predicted": predicted, "actual": actual.fillna(0).to_numpy(dtype="float64")})
    table = frame.groupby("frequency", as_index=False).agg(customers=("predicted", "size"),
                                                         predicted=("predicted", "mean"), actual=("actual", "mean"))
    return HoldoutCheck(split=split, until=until, holdout_weeks=days / DAYS_PER_WEEK, fit=fit, table=table,
                        predicted_total=float(predicted.sum()), actual_total=int(frame["actual"].sum()))


def customer_value(events: ir.Table, purchases: tuple[str, ...], until: date) -> pd.DataFrame:
    """Per buyer up to ``until``: ``value`` (the sum of ``value`` on purchases; purchase days without a value column)."""
    seen = events.filter((events.ts < datetime.combine(until + timedelta(days=1), time()))
                         & events.touchpoint.isin(list(purchases)))
    if "value" in events.columns:
        per = seen.group_by("customer_id").aggregate(value=seen.value.sum().fill_null(0.0))
    else:
        days = seen.select("customer_id", day=seen.ts.date()).distinct()
        per = days.group_by("customer_id").aggregate(value=days.count().cast("float64"))
    return to_frame(per).astype({"customer_id": str, "value": "float64"})


def at_risk_high_value(result: PAliveResult, values: pd.DataFrame, *,
                       quantile: float = HIGH_VALUE_QUANTILE) -> tuple[pd.DataFrame, float]:
    """The buyers in the "at risk" band whose value is at or above the ``quantile`` of all buyers' values (the
    threshold is returned with them), most valuable first: the people a win-back campaign should reach first."""
    scored = result.customers.merge(values, on="customer_id", how="left").fillna({"value": 0.0})
    threshold = float(scored["value"].quantile(quantile)) if len(scored) else 0.0
    bands = band_of(scored["p_alive"])
    picked = scored[(bands == BANDS[1]) & (scored["value"] >= threshold) & (scored["value"] > 0)]
    return picked.sort_values(["value", "customer_id"], ascending=[False, True]).reset_index(drop=True), threshold


#: below this share of buyers who bought on two different days, the fit is shown with a caution
REPEAT_SHARE_WARN = 0.05


def fit_warnings(result: PAliveResult) -> list[str]:
    """Sentences for a fit to read with care: the optimiser did not converge, or few buyers ever bought again."""
    return [w for w in (_not_converged(result), _thin_repeats(result)) if w]


def _not_converged(result: PAliveResult) -> str:
    if result.converged:
        return ""
    reason = result.message.rstrip(".")
    return f"The fit did not converge: {reason[:1].lower() + reason[1:]}. Treat P(alive) as a rough guide."


def _thin_repeats(result: PAliveResult) -> str:
    repeat = int((result.customers["frequency"] > 0).sum())
    if repeat >= REPEAT_SHARE_WARN * result.customers_modelled:
        return ""
    return (f"Only {repeat:,} of {result.customers_modelled:,} buyers ({repeat / result.customers_modelled:.1%}) "
            "bought on two different days: the model has little repeat behaviour to learn from.")


def one_time_buyers_note(result: PAliveResult) -> str:
    """Why most buyers can read as 'active': BG/NBD lets a customer drop out only after a repeat purchase, so a
    buyer with a single purchase day keeps P(alive) 1.0. '' when every modelled buyer bought on two days or more."""
    once = int((result.customers["frequency"] == 0).sum())
    if not once or not result.customers_modelled:
        return ""
    repeat = result.customers_modelled - once
    text = (f"{once:,} of {result.customers_modelled:,} modelled buyers ({once / result.customers_modelled:.0%}) "
            "made only one purchase day. BG/NBD lets a customer drop out only after a repeat purchase, so it counts "
            "every one of them as alive (P(alive) 1.0), however long ago they bought; churn by inactivity can call "
            "the same customers churned.")
    if repeat < REPEAT_SHARE_WARN * result.customers_modelled:
        text += (f" With only {repeat:,} repeat buyers the bands say little about who is gone: read them as "
                 "'bought once' against 'bought again', not as a churn forecast.")
    return text


def palive_cautions(result: PAliveResult) -> list[str]:
    """What to say beside the bands: why one-time buyers read as alive (the note counts the repeat buyers too),
    then whether the fit converged; without one-time buyers, :func:`fit_warnings`."""
    note = one_time_buyers_note(result)
    return [n for n in (note, _not_converged(result)) if n] if note else fit_warnings(result)


def customers_in_band(events: ir.Table, band: str, purchases: tuple[str, ...] = PURCHASES_DEFAULT) -> ir.Table:
    """The segment filter on P(alive): buyers in ``band`` (:data:`BANDS`) at the data's last day, as a table of
    ``customer_id`` in the events' own engine (the fit runs once on every buyer in ``events``)."""
    result = compute_palive(events, PAliveQuery(purchases=purchases))
    ids = result.customers.loc[band_of(result.customers.p_alive) == band, ["customer_id"]].reset_index(drop=True)
    backend = events.get_backend()
    name = f"_journeys_alive_{uuid.uuid4().hex}"
    if backend.name == "duckdb":  # a real temp table: segment queries are also run as raw SQL (materialize)
        con = backend.con
        con.register(f"{name}_src", pa.Table.from_pandas(ids, preserve_index=False))
        con.execute(f'CREATE TEMP TABLE "{name}" AS SELECT CAST(customer_id AS VARCHAR) AS customer_id FROM "{name}_src"')
        con.unregister(f"{name}_src")
        return backend.table(name)
    return ibis.memtable(ids, name=name)
