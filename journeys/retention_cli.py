"""``journeys retention | lifecycle | churn | palive``: who comes back, who is slipping away, who is already gone.

    journeys retention "Sample shop" --cohort week --period week --periods 8 --format json
    journeys lifecycle "Sample shop" --interval week --format csv
    journeys churn "Sample shop" --churn-touchpoints account_closed --format json
    journeys palive "Sample shop" --purchase purchase --horizon 39w --format csv

Every command takes the segment and shaping options of the other analyses and the Outcomes flags (``--return``,
``--churn-touchpoints`` or ``--inactive``). The data's end (where observation and censoring stop) is the
dataset's last event, also for a segment. JSON carries ``elapsed_s``, the engine time of the analysis.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import date
from typing import Any

import pandas as pd

from journeys.analyses.base import timer
from journeys.analyses.churn import LAST_K_DEFAULT, ChurnQuery, compute_churn
from journeys.analyses.lifecycle import INTERVAL_DEFAULT, LifecycleQuery, compute_lifecycle
from journeys.analyses.palive import (
    BANDS,
    CUSTOMER_COLUMNS,
    HORIZON_WEEKS_DEFAULT,
    PAliveQuery,
    compute_palive,
    judged_at,
)
from journeys.analyses.palive_product import at_risk_high_value, customer_value, fit_warnings, holdout_check
from journeys.analyses.periods import PERIODS
from journeys.analyses.retention import ALL, PERIODS_DEFAULT, RetentionQuery, compute_retention
from journeys.analysis_cli import _journeys, add_common
from journeys.errors import QueryError
from journeys.outcomes import add_outcome_args, data_end, outcomes_from


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON objects: dates as ISO strings, missing and infinite numbers as null."""
    out = []
    for row in frame.astype(object).where(frame.notna(), None).to_dict("records"):
        clean = {}
        for k, v in row.items():
            if isinstance(v, pd.Timestamp):
                v = v.date().isoformat() if v == v.normalize() else v.isoformat()
            elif isinstance(v, float) and not math.isfinite(v):
                v = None
            clean[str(k)] = v
        out.append(clean)
    return out


def weeks(text: str) -> float:
    """``39w``, ``39`` (weeks) or ``273d``."""
    raw = text.strip().lower()
    try:
        value = float(raw[:-1]) / 7 if raw.endswith("d") else float(raw.rstrip("w"))
    except ValueError:
        raise QueryError(f"'{text}' is not a number of weeks.", hint="Use e.g. 39w, 13 or 91d.") from None
    if not value > 0 or not math.isfinite(value):
        raise QueryError(f"'{text}' is not a positive number of weeks.")
    return value


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(t.strip() for t in (text or "").split(",") if t.strip())


def _customers(args: argparse.Namespace) -> None:
    """These views follow customers: person scope, whole journeys, every event (cleaning rules still apply)."""
    args.scope, args.cut_at_goal, args.collapse = "person", False, False


def cmd_retention(args: argparse.Namespace) -> None:
    _customers(args)
    outcomes = outcomes_from(args)
    q = RetentionQuery(cohort=args.cohort, period=args.period, periods=args.periods, calendar=args.calendar,
                       mode=args.mode.replace("-", "_"), start=args.start, returns=outcomes.returns,
                       breakdown=args.breakdown)
    run = _journeys(args)
    run.check_touchpoints([run.shaping.goal])  # a mistyped --goal is a sentence, as in every other command
    end = data_end(run.events)
    with timer() as t:
        r = compute_retention(run.journeys, q, end=end)
    if args.format == "csv":
        r.table.to_csv(sys.stdout, index=False, date_format="%Y-%m-%d")
        return
    groups = list(dict.fromkeys(r.table.group))
    data: dict[str, Any] = {
        "cohort": q.cohort, "period": q.period, "periods": q.periods, "calendar": q.calendar, "mode": q.mode,
        "start": q.start, "return": list(q.returns), "customers": r.customers, "end": end.isoformat(),
        "cohorts": r.cohorts(groups[0]) if groups == [ALL] else [], "average": records(r.average),
        "elapsed_s": t[0]}
    if q.breakdown:
        data |= {"breakdown": q.breakdown, "groups": [{"group": g, "cohorts": r.cohorts(g)} for g in groups],
                 "hidden_groups": r.hidden_groups}
    print(json.dumps(data))


def cmd_lifecycle(args: argparse.Namespace) -> None:
    _customers(args)
    q = LifecycleQuery(interval=args.interval, returns=outcomes_from(args).returns)
    run = _journeys(args)
    run.check_touchpoints([run.shaping.goal])
    with timer() as t:
        r = compute_lifecycle(run.journeys, q, end=data_end(run.events))
    if args.format == "csv":
        r.periods.to_csv(sys.stdout, index=False, date_format="%Y-%m-%d")
        return
    print(json.dumps({"interval": q.interval, "return": list(q.returns), "periods": records(r.periods),
                      "quick_ratio": r.quick_ratio(), "elapsed_s": t[0]}))


def cmd_churn(args: argparse.Namespace) -> None:
    _customers(args)
    q = ChurnQuery(outcomes=outcomes_from(args), interval=args.interval, last_k=args.last_k, breakdown=args.breakdown)
    run = _journeys(args)
    with timer() as t:
        r = compute_churn(run.journeys, q, end=data_end(run.events), whole=None if run.segment.is_empty else run.events)
    if args.format == "csv":
        r.overrepresented.to_csv(sys.stdout, index=False)
        return
    data = {
        "definition": r.definition(), "mode": q.outcomes.churn_mode,
        "inactivity_days": r.inactivity.days if r.inactivity else None,
        "inactivity_default": None if r.inactivity is None or r.inactivity.chosen else r.inactivity.sentence(),
        "customers": r.customers, "churned": r.churned, "active_not_yet_known": r.active, "rate": r.rate,
        "revenue_lost": r.revenue_lost, "revenue_window_days": 30, "revenue_customers": r.revenue_customers,
        "by_cohort": records(r.by_cohort), "over_time": records(r.over_time),
        "by_group": records(r.by_group) if r.by_group is not None else None,
        "time_to_churn_weeks": records(r.time_to_churn), "last_k": q.last_k, "paths": records(r.links),
        "churned_without_history": r.no_history, "overrepresented": records(r.overrepresented),
        "end": r.end.isoformat(), "elapsed_s": t[0]}
    print(json.dumps(data))


def cmd_palive(args: argparse.Namespace) -> None:
    until = None
    if args.until:
        try:
            until = date.fromisoformat(args.until)
        except ValueError:
            raise QueryError(f"--until expects a date like 2025-06-30, not '{args.until}'.") from None
    q = PAliveQuery(purchases=_names(args.purchase) or PAliveQuery().purchases, until=until,
                    horizon_weeks=weeks(args.horizon))
    _customers(args)  # every purchase of every customer
    run = _journeys(args)
    q = judged_at(q, data_end(run.events))  # a segment is judged at the dataset's end
    with timer() as t:
        r = compute_palive(run.journeys, q, whole=None if run.segment.is_empty else run.events)
    table = r.customers
    if args.only:
        table, _threshold = at_risk_high_value(r, customer_value(run.journeys, q.purchases, r.until))
    if args.format == "csv":
        table[CUSTOMER_COLUMNS].to_csv(sys.stdout, index=False)
        return
    data: dict[str, Any] = {
        "params": {"r": r.params.r, "alpha": r.params.alpha, "a": r.params.a, "b": r.params.b},
        "log_likelihood": r.log_likelihood, "converged": r.converged, "message": r.message,
        "customers_modelled": r.customers_modelled, "customers_without_purchase": r.customers_without_purchase,
        "bands": r.bands, "band_edges": {"likely lost": "< 0.3", "at risk": "0.3 to 0.7", "active": "> 0.7"},
        "until": r.until.isoformat(), "horizon_weeks": r.horizon_weeks, "purchases": list(r.purchases),
        "warnings": fit_warnings(r), "elapsed_s": t[0]}
    if args.holdout:
        h = holdout_check(run.journeys, q, holdout_weeks=weeks(args.holdout))
        data["holdout"] = {"split": h.split.isoformat(), "weeks": h.holdout_weeks,
                           "predicted": h.predicted_total if math.isfinite(h.predicted_total) else None,
                           "actual": h.actual_total, "by_frequency": records(h.table)}
    if args.only:
        data["customers"] = records(table)
    print(json.dumps(data, allow_nan=False))


def add_commands(sub: Any) -> None:
    p = sub.add_parser("retention", help="cohort retention: who comes back k periods after starting")
    add_common(p)
    add_outcome_args(p)
    p.add_argument("--cohort", choices=PERIODS, default="week", help="group customers by the period of their start")
    p.add_argument("--period", choices=PERIODS, default="week", help="the unit of k")
    p.add_argument("--periods", type=int, default=PERIODS_DEFAULT, help="show k = 0..N")
    p.add_argument("--calendar", action="store_true", help="calendar periods instead of rolling 24-hour multiples")
    p.add_argument("--mode", choices=("on", "on-or-after"), default="on")
    p.add_argument("--start", metavar="TOUCHPOINT", help="start at the first TOUCHPOINT instead of the first event")
    p.add_argument("--breakdown", metavar="COLUMN", help="split every cohort by this attribute (at the start)")
    p.add_argument("--format", choices=("json", "csv"), default="json")
    p.set_defaults(func=cmd_retention)

    p = sub.add_parser("lifecycle", help="new, returning, resurrecting and dormant customers per period")
    add_common(p)
    add_outcome_args(p)
    p.add_argument("--interval", choices=PERIODS, default=INTERVAL_DEFAULT)
    p.add_argument("--format", choices=("json", "csv"), default="json")
    p.set_defaults(func=cmd_lifecycle)

    p = sub.add_parser("churn", help="churn rates, revenue lost and the paths before churn (CSV: over-represented "
                                     "touchpoints)")
    add_common(p)
    add_outcome_args(p)
    p.add_argument("--interval", choices=PERIODS, default="month", help="period of the churn rate over time")
    p.add_argument("--last-k", type=int, default=LAST_K_DEFAULT, help="touchpoints before churn in the paths")
    p.add_argument("--breakdown", metavar="COLUMN", help="churn rate by this attribute")
    p.add_argument("--format", choices=("json", "csv"), default="json")
    p.set_defaults(func=cmd_churn)

    p = sub.add_parser("palive", help="P(alive) and expected purchases per customer (BG/NBD)")
    add_common(p)
    p.add_argument("--purchase", metavar="TOUCHPOINTS", help="purchase touchpoints, comma-separated (default purchase)")
    p.add_argument("--until", metavar="DATE", help="judge P(alive) at this date (default: the data's last day)")
    p.add_argument("--horizon", default=f"{HORIZON_WEEKS_DEFAULT:g}w", help="expected purchases over this many weeks")
    p.add_argument("--holdout", metavar="WEEKS", help="JSON: also fit before the last WEEKS and compare with them")
    p.add_argument("--only", choices=("at-risk-high-value",),
                   help=f"only the '{BANDS[1]}' customers in the top quarter by purchase value")
    p.add_argument("--format", choices=("json", "csv"), default="json")
    p.set_defaults(func=cmd_palive)
