"""``journeys attribution``: who gets the credit for a goal, one row per (model, item).

    journeys attribution "Sample shop" --goal purchase --by channel --format csv
    journeys attribution "Sample shop" --goal purchase --models markov --order 2 --lookback all --format json

CSV columns: model, item, conversions, value, removal_effect (Markov only), ci_low, ci_high (95% bootstrap
band on conversions). The JSON adds the value bands, the counts (journeys, conversions, uncredited), P(conversion)
of the Markov chain and the warnings; ``elapsed_s`` is the time of the analysis (engine and models).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import pandas as pd

from journeys.analyses.attribution import (
    BOOTSTRAP_DEFAULT,
    MODELS,
    AttributionQuery,
    AttributionResult,
    compute_attribution,
    parse_lookback,
    parse_models,
)
from journeys.analyses.attribution_rules import parse_position
from journeys.analyses.base import known_touchpoints, timer
from journeys.analysis_cli import _journeys, add_common
from journeys.durations import parse_duration

CSV_COLUMNS = ["model", "item", "conversions", "value", "removal_effect", "ci_low", "ci_high"]


def query_from(args: argparse.Namespace) -> AttributionQuery:
    goals = tuple(g.strip() for g in (args.goal or "").split(",") if g.strip())
    return AttributionQuery(goals=goals, by=args.by, models=parse_models(args.models), lookback=parse_lookback(args.lookback),
                            half_life=parse_duration(args.half_life), position=parse_position(args.position),
                            order=args.order, bootstrap=args.bootstrap, seed=args.seed)


def _clean(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()} for r in rows]


def payload(r: AttributionResult, elapsed: float) -> dict[str, Any]:
    """The JSON document (also what the report quotes)."""
    q = r.query
    return {
        "goals": list(q.goals), "by": q.by, "models": list(q.models), "order": q.order,
        "lookback_days": None if q.lookback is None else q.lookback.total_seconds() / 86400,
        "bootstrap": q.bootstrap, "journeys": r.journeys, "conversions": r.conversions, "uncredited": r.uncredited,
        "value": r.value, "touches_without_item": r.touches_without_item, "p_conversion": r.p_conversion,
        "credits": _clean(r.credits), "warnings": list(r.warnings), "elapsed_s": elapsed,
    }


def cmd_attribution(args: argparse.Namespace) -> None:
    q = query_from(args)
    q.validate()
    args.goal = None  # the goal is credited here, not used to shape journeys
    run = _journeys(args)
    known = known_touchpoints(run.events)
    with timer() as t:
        r = compute_attribution(run.journeys, q, known=known)
    if args.format == "csv":
        for w in r.warnings:
            print(w, file=sys.stderr)  # stdout stays a CSV for scripts
        r.credits[CSV_COLUMNS].to_csv(sys.stdout, index=False)
        return
    print(json.dumps(payload(r, t[0])))


def add_commands(sub: Any) -> None:
    p = sub.add_parser("attribution", help="credit for a goal by rule-based models and exact Markov removal effects")
    add_common(p)  # --goal (required here) comes with the shaping options
    p.add_argument("--by", default="channel", help="what gets the credit: channel, touchpoint or an attribute column")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated: {','.join(MODELS)}")
    p.add_argument("--order", type=int, default=1, help="Markov order, 1 to 4")
    p.add_argument("--lookback", default="30d", help="touches within this long before the conversion: 30d, 7d ... or all")
    p.add_argument("--half-life", default="7d", help="time-decay half-life")
    p.add_argument("--position", default="U", help="U (40/20/40), J (20/20/60), inverse_J (60/20/20) or first/middle/last")
    p.add_argument("--bootstrap", type=int, default=BOOTSTRAP_DEFAULT, help="resamples of journeys for 95%% bands (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.set_defaults(func=cmd_attribution)
