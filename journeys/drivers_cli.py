"""``journeys drivers``: what drives conversion or churn, one row per candidate (CSV) or everything (JSON).

    journeys drivers "Sample shop" --goal purchase --window 30d --kinds touchpoint,attribute --format csv
    journeys drivers "Sample shop" --churn --inactive 60d --format json

The JSON adds the population, how many candidates were tested and held back, the skew warning, the key
touchpoints just before the outcome (last 3) and, for conversion, the graph drivers. ``elapsed_s`` is the engine
time of the drivers table alone.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import pandas as pd

from journeys.analyses.base import timer
from journeys.analyses.drivers import (
    COLUMNS,
    KINDS,
    DriversQuery,
    compute_drivers,
    graph_drivers,
    key_touchpoints,
    parse_window,
)
from journeys.analysis_cli import _journeys, add_common
from journeys.errors import QueryError
from journeys.outcomes import add_outcome_args, data_end, outcomes_from

KEY_COLUMNS = [*COLUMNS, "share_with", "share_without"]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON objects; infinite lifts and untested q-values become null (JSON has neither)."""
    clean = frame.astype(object).where(frame.notna(), None)
    rows = clean.to_dict("records")
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()} for r in rows]


def query_from(args: argparse.Namespace) -> DriversQuery:
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    q = DriversQuery(outcome="churn" if args.churn else "conversion", outcomes=outcomes_from(args),
                     window_days=parse_window(args.window), kinds=kinds)
    if q.outcome == "conversion" and not q.outcomes.goals:
        raise QueryError("Drivers of conversion need a goal: --goal T (or --churn for churn).")
    return q


def cmd_drivers(args: argparse.Namespace) -> None:
    q = query_from(args)
    args.scope, args.cut_at_goal, args.collapse = "person", False, False  # customers, whole journeys, every event
    run = _journeys(args)
    run.check_touchpoints([*q.outcomes.goals, *q.outcomes.churn_touchpoints])
    q.validate()
    with timer() as t:
        r = compute_drivers(run.journeys, q, end=data_end(run.events) if q.outcome == "churn" else None,
                            whole=None if run.segment.is_empty else run.events)
    table = r.table
    if args.format == "csv":
        table[COLUMNS].to_csv(sys.stdout, index=False)
        return
    data: dict[str, Any] = {
        "outcome": q.outcome, "outcome_rule": r.describe_outcome(), "window_days": q.window_days, "customers": r.customers, "with_outcome": r.with_outcome,
        "tested": r.tested, "held_back": r.held_back, "skew_warning": r.skew_warning(),
        "skipped_attributes": [{"column": c, "values": n} for c, n in r.skipped_attributes],
        "drivers": _records(table[[*COLUMNS, "label"]]), "elapsed_s": t[0]}
    if not args.no_extras:
        data["key_touchpoints"] = _records(key_touchpoints(run.journeys, q).table.reindex(columns=KEY_COLUMNS))
        data["graph_drivers"] = (_records(graph_drivers(run.journeys, q.outcomes.goals))
                                 if q.outcome == "conversion" else None)
    print(json.dumps(data))


def add_commands(sub: Any) -> None:
    p = sub.add_parser("drivers", help="what drives conversion or churn: odds ratios, intervals, q-values")
    add_common(p)
    add_outcome_args(p)
    p.add_argument("--churn", action="store_true",
                   help="explain churn (by --churn-touchpoints, or --inactive N days; default inactivity threshold)")
    p.add_argument("--window", default="30d", help="observation window from each customer's entry: 30d or all")
    p.add_argument("--kinds", default=",".join(KINDS), help=f"candidate kinds, comma-separated: {','.join(KINDS)}")
    p.add_argument("--no-extras", action="store_true", help="JSON without key touchpoints and graph drivers")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.set_defaults(func=cmd_drivers)

