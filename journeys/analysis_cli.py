"""Analysis subcommands of the ``journeys`` CLI: transitions, paths, funnel, journey-map.

Each accepts the same segment and shaping options, prints CSV or JSON, and reports ``elapsed_s``
(engine time of the analysis, excluding start-up). They only read the store, so they work while the
dashboard holds it. A segment that matches no customer is a sentence (``message`` in JSON), exit 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from journeys.analyses.base import (
    END,
    END_CONVERTED,
    END_NOT_CONVERTED,
    START,
    check_touchpoints,
    journeys_for,
    known_touchpoints,
    timer,
)
from journeys.analyses.funnels import GAP_FLOOR, FunnelQuery, compute_funnel, step_gaps
from journeys.analyses.journey_map import STAGE_ORDER, compute_journey_map, edited_stages, parse_stage_edit
from journeys.analyses.paths import Anchor, PathQuery, compute_paths
from journeys.analyses.transitions import GraphQuery, compute_transitions
from journeys.durations import parse_duration
from journeys.errors import QueryError
from journeys.segment_advice import explain_no_match
from journeys.segments import Filter, Segment, matching_customers
from journeys.shaping import Shaping, apply_node, apply_rules
from journeys.views import parse_exclusion, parse_step_windows


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset")
    g = p.add_argument_group("segment")
    g.add_argument("--where", action="append", default=[], metavar="COLUMN=V1,V2", help="attribute is one of the values")
    g.add_argument("--did", action="append", default=[], metavar="TOUCHPOINT")
    g.add_argument("--did-not", action="append", default=[], metavar="TOUCHPOINT")
    g.add_argument("--segment", help="a segment as JSON (the same JSON as the dashboard's 'seg' URL parameter)")
    s = p.add_argument_group("shaping")
    s.add_argument("--scope", choices=("person", "session"), default="person")
    s.add_argument("--session-gap", default="30m")
    s.add_argument("--collapse", action="store_true", help="collapse consecutive repeats")
    s.add_argument("--goal")
    s.add_argument("--cut-at-goal", action="store_true")
    s.add_argument("--node", choices=("touchpoint", "touchpoint_channel", "channel"), default="touchpoint")
    s.add_argument("--exclude", action="append", default=[], metavar="REGEX")
    s.add_argument("--rule", action="append", default=[], metavar="REGEX=ALIAS")


def segment_from(args: argparse.Namespace) -> Segment:
    items: list[Filter | Segment] = []
    if args.segment:
        try:
            items.append(Segment.from_param(args.segment))
        except QueryError as err:
            if err.__cause__ is None:  # a readable segment with a bad filter: the sentence says which
                raise
            raise QueryError(f"--segment is not a segment in JSON ({err.__cause__}).",
                             hint='E.g. {"c":"and","i":[{"k":"did","v":["cart"]}]}.') from err
    for w in args.where:
        col, sep, vals = w.partition("=")
        if not sep or not col:
            raise QueryError(f"--where expects COLUMN=V1,V2, got '{w}'.")
        items.append(Filter("attribute", tuple(v.strip() for v in vals.split(",")), column=col.strip()))
    items += [Filter("did", (x,)) for x in args.did] + [Filter("did_not", (x,)) for x in args.did_not]
    return Segment(tuple(items))


def shaping_from(args: argparse.Namespace) -> Shaping:
    rules = []
    for r in args.rule:
        pattern, sep, alias = r.rpartition("=")
        if not sep or not pattern:
            raise QueryError(f"--rule expects REGEX=ALIAS, got '{r}'.")
        rules.append((pattern, alias))
    return Shaping(scope=args.scope, session_gap=parse_duration(args.session_gap), collapse_repeats=args.collapse,
                   goal=args.goal, cut_at_goal=args.cut_at_goal, node=args.node, exclude=tuple(args.exclude),
                   rules=tuple(rules))


@dataclass(frozen=True, slots=True)
class _Run:
    """What every analysis command works on: the shaped journeys of the segment, and what they came from."""

    journeys: ir.Table
    shaping: Shaping
    segment: Segment
    events: ir.Table  # after cleaning rules and node level: what touchpoint names and segments are checked on

    def check_touchpoints(self, names: list[str | None]) -> None:
        # against the whole dataset, so an empty segment is explained as such, not as an unknown touchpoint
        check_touchpoints(names, known_touchpoints(self.events))

    def nobody(self, result_is_empty: bool) -> str | None:
        """The sentence saying that no customer is in the segment, when that is why the result is empty."""
        if not result_is_empty or self.segment.is_empty:
            return None
        if int(matching_customers(self.events, self.segment, goal=self.shaping.goal).count().to_pandas()) > 0:
            return None
        return explain_no_match(self.events, self.segment, goal=self.shaping.goal)


def _journeys(args: argparse.Namespace) -> _Run:
    from journeys.engine.store import Store

    store = Store(read_only=True)  # never takes the store from the dashboard
    shaping = shaping_from(args)
    segment = segment_from(args)
    table = store.table(args.dataset)
    return _Run(journeys_for(table, shaping, segment), shaping, segment, apply_node(apply_rules(table, shaping), shaping))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def cmd_transitions(args: argparse.Namespace) -> None:
    run = _journeys(args)
    with timer() as t:
        result = compute_transitions(run.journeys, GraphQuery(min_weight=args.min_weight, top_k=args.top_k),
                                     goal=run.shaping.goal)
    message = run.nobody(result.journeys == 0)
    edges = result.edges
    if not args.with_ends:
        edges = edges[(edges.source != START) & ~edges.target.isin([END, END_CONVERTED, END_NOT_CONVERTED])]
    if args.format == "csv":
        if message:
            print(message, file=sys.stderr)  # stdout stays a CSV (its header only) for scripts
        edges.to_csv(sys.stdout, index=False)
        return
    data = {"edges": _records(edges), "nodes": _records(result.nodes), "journeys": result.journeys,
            "transitions": result.transitions, "hidden_edges": result.hidden_edges,
            "hidden_transitions": result.hidden_transitions, "elapsed_s": t[0]}
    print(json.dumps(data | ({"message": message} if message else {})))


def cmd_paths(args: argparse.Namespace) -> None:
    anchor: Anchor
    if args.start and args.end:
        anchor = "between"
    else:
        anchor = "from" if args.start else "to" if args.end else "start"
    run = _journeys(args)
    run.check_touchpoints([args.start, args.end, run.shaping.goal])
    q = PathQuery(anchor=anchor, start=args.start, end=args.end, depth=args.depth, top=args.top,
                  min_steps=None if args.min_steps == "auto" else int(args.min_steps))
    with timer() as t:
        r = compute_paths(run.journeys, q, goal=run.shaping.goal)
    message = run.nobody(r.journeys_total == 0)
    if args.format == "json":
        data = {"nodes": _records(r.nodes), "links": _records(r.links), "variants": _records(r.variants),
                "coverage": r.coverage, "transition_coverage": r.transition_coverage,
                "journeys_total": r.journeys_total, "journeys_covered": r.journeys_covered,
                "variants_min_steps": r.min_steps, "one_step_journeys_set_aside": r.set_aside, "elapsed_s": t[0]}
        print(json.dumps(data | ({"message": message} if message else {})))
    elif message:
        print(message)
    elif r.links.empty:
        where = f" from '{args.start}'" if args.start else f" to '{args.end}'" if args.end else ""
        print(f"No path{where} in {r.journeys_total:,} journeys: nothing to draw.")
    else:
        print(f"Covers {r.journeys_covered:,} of {r.journeys_total:,} journeys ({r.coverage:.1%}); "
              f"{r.transition_coverage:.1%} of their transitions are drawn between named nodes.")
        print(r.links.to_string(index=False))
        aside = f" ({r.set_aside:,} one-step journeys set aside)" if r.set_aside else ""
        print(f"\nTop path variants{aside}:")
        print(r.variants.to_string(index=False))


def cmd_funnel(args: argparse.Namespace) -> None:
    steps = tuple(tuple(t.strip() for t in step.split("|") if t.strip()) for step in args.steps.split(","))
    run = _journeys(args)
    run.check_touchpoints([t for step in steps for t in step])
    exclusions = tuple(parse_exclusion(x) for x in args.exclusion or [])
    run.check_touchpoints([t for ex in exclusions for t in ex.touchpoints])
    q = FunnelQuery(steps=steps, window=parse_duration(args.window), order=args.order,
                    count_by="session" if args.scope == "session" else "customer", breakdown=args.breakdown,
                    trend=args.trend, exclusions=exclusions,
                    step_windows=parse_step_windows(args.step_windows) if args.step_windows else ())
    q.validate()
    with timer() as t:
        r = compute_funnel(run.journeys, q)
    message = run.nobody(r.entered == 0)
    if args.format == "json":
        data = {"steps": _records(r.steps), "next_after_drop": _records(r.next_after_drop), "elapsed_s": t[0]}
        if r.breakdown is not None:
            data |= {"breakdown": _records(r.breakdown),
                     "step_gaps": [{"step": g.step, "best_value": g.best_value, "best_rate": g.best_rate,
                                    "worst_value": g.worst_value, "worst_rate": g.worst_rate, "sentence": g.sentence()}
                                   for g in step_gaps(r)]}
        if r.trend is not None:
            data["trend"] = _records(r.trend)
        print(json.dumps(data | ({"message": message} if message else {})))
    elif message:
        print(message)
    else:
        print(r.steps.to_string(index=False))
        gaps = step_gaps(r)
        if r.breakdown is not None:
            print(gaps[0].sentence() if gaps else f"No step has two values with {GAP_FLOOR}+ journeys to compare.")
            print(r.breakdown.to_string(index=False))


def add_stage_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", action="append", default=[], metavar="TOUCHPOINT=STAGE",
                   help="correct a guessed stage (repeat; stages: " + ", ".join(STAGE_ORDER) + ")")


def stage_edits_from(args: argparse.Namespace) -> tuple[tuple[str, str], ...]:
    return tuple(parse_stage_edit(e) for e in args.stage)


def cmd_journey_map(args: argparse.Namespace) -> None:
    run = _journeys(args)
    edits = stage_edits_from(args)
    run.check_touchpoints([run.shaping.goal, *(tp for tp, _ in edits)])
    stages = edited_stages(known_touchpoints(run.events), edits)
    with timer() as t:
        r = compute_journey_map(run.journeys, stages, goal=run.shaping.goal, scale=args.scale)
    message = run.nobody(r.is_empty)
    if args.format == "csv":
        if message:
            print(message, file=sys.stderr)
        r.touchpoints.to_csv(sys.stdout, index=False)
        return
    if args.format == "json":
        data = {"journeys": r.journeys, "goal": r.goal, "stages": _records(r.stages),
                "touchpoints": _records(r.touchpoints), "stage_of": dict(stages), "edited": dict(edits),
                "pain_points": list(r.touchpoints.touchpoint[r.touchpoints.pain_point]), "score_note": r.score_note,
                "elapsed_s": t[0]}
        print(json.dumps(data | ({"message": message} if message else {})))
    elif message:
        print(message)
    else:
        print(f"{r.journeys:,} journeys. Stage reach: "
              + "; ".join(f"{s.stage} {s.reach:.1%}" for s in r.stages.itertuples()) + ". " + r.score_note)
        print(r.touchpoints.to_string(index=False))


def add_analysis_commands(sub: Any) -> None:
    p = sub.add_parser("journey-map", help="stages with their touchpoints: reach, conversion onward, time, score, "
                       "pain points")
    add_common(p)
    add_stage_args(p)
    p.add_argument("--scale", default="auto", help="score scale for the average: auto, or LO-HI such as 1-5")
    p.add_argument("--format", choices=("text", "json", "csv"), default="text")
    p.set_defaults(func=cmd_journey_map)

    p = sub.add_parser("transitions", help="touchpoint -> touchpoint transition counts")
    add_common(p)
    p.add_argument("--with-ends", action="store_true", help="include START and END rows")
    p.add_argument("--min-weight", type=int, default=1)
    p.add_argument("--top-k", type=int)
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.set_defaults(func=cmd_transitions)

    p = sub.add_parser("paths", help="Sankey path nodes and links")
    add_common(p)
    p.add_argument("--start")
    p.add_argument("--end")
    p.add_argument("--depth", type=int, default=5)
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--min-steps", choices=("auto", "1", "2"), default="auto",
                   help="path variants of journeys with 1+ or 2+ steps (auto: 2+ once a fifth of journeys have one)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_paths)

    p = sub.add_parser("funnel", help="conversion through ordered steps (A|B means A or B)")
    add_common(p)
    p.add_argument("--steps", required=True, help="comma-separated steps, e.g. home,product_view,add_to_cart|wishlist")
    p.add_argument("--window", default="7d")
    p.add_argument("--order", choices=("strict", "sequential", "any"), default="sequential")
    p.add_argument("--exclusion", action="append", metavar="TP[|TP]:AFTER:BEFORE",
                   help="one of these touchpoints after step AFTER and before step BEFORE stops the journey (repeatable)")
    p.add_argument("--step-windows", metavar="W2,W3,...",
                   help="each step's own window from the previous one, '-' for none (as the link's sw: -,3m,-)")
    p.add_argument("--breakdown", metavar="COLUMN", help="each step's conversion by this attribute (top 200 + Other)")
    p.add_argument("--trend", choices=("day", "week", "month"), help="conversion by period of entry")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_funnel)
