"""Report sections 1-4 (goal and scope, journey map, key paths, funnel and drop-offs), each from the same
analysis function, with the same spec, that the dashboard page and the CLI call for this view."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from journeys import charts
from journeys.analyses.base import to_frame
from journeys.analyses.funnels import (
    FunnelQuery,
    FunnelResult,
    StepGap,
    compute_funnel_and_by,
    step_gaps,
)
from journeys.analyses.journey_map import compute_journey_map, stage_edits
from journeys.analyses.paths import compute_paths
from journeys.io.sentiment import SENTIMENT_COLUMNS
from journeys.report.context import ReportContext, stages_for
from journeys.report.model import Figure, Section, Table

BREAKDOWN_MAX_VALUES = 12  # an attribute with more values is an id or a free text, not a segment to fix
BREAKDOWN_CANDIDATES = 4


def scope_section(ctx: ReportContext) -> Section:
    info, v, r = ctx.info, ctx.view, ctx.info.report
    period = f"{v.date_from or (r.start or '-')[:10]} to {v.date_to or (r.end or '-')[:10]}"
    outcome = f"reaching '{ctx.goal}'" if ctx.goal else "none set (no goal touchpoint: conversion figures are left out)"
    paragraphs: tuple[str, ...] = (
        (f"Dataset '{info.name}' (id {info.id}, fingerprint {info.fingerprint}), loaded from {info.source}: "
        f"{info.rows:,} events of {r.customers:,} customers over {r.touchpoints:,} touchpoints."),
        f"Period (UTC): {period}. Segment: {v.segment.describe(ctx.goal)}.",
        (f"Conversion outcome: {outcome}. Journeys: {'sessions' if v.shaping.scope == 'session' else 'one per customer'}"
        f"{', consecutive repeats collapsed' if v.shaping.collapse_repeats else ''}."),
    )
    if v.voice.scale != "auto":  # the load report guessed the scale; this report reads scores as given
        paragraphs += ((f"Scores are read on the {v.voice.scale} scale, as given for this report; any scale note in "
                       "the load report below was written before."),)
    quality = pd.DataFrame({"line": r.lines()[1:]})
    return Section("scope", "Goal and scope", paragraphs,
                   tables=(Table("Data quality (the load report)", quality, {"line": "Load report"}),),
                   figures={"events": info.rows, "customers": r.customers, "rows_rejected": r.rows_rejected,
                            "goal": ctx.goal}, link=ctx.link("data"))


def journey_map_section(ctx: ReportContext) -> Section:
    stages = stages_for(ctx.view, ctx.touchpoints)
    result = compute_journey_map(ctx.journeys, stages, goal=ctx.goal, scale=ctx.view.voice.scale)
    ctx.cache["journey_map"] = result
    if result.is_empty:
        return Section("journey_map", "The journey map", missing="No journeys in this segment and period.")
    t = result.touchpoints
    present = list(result.stages.stage)
    pains = t[t.pain_point]
    edited = len(stage_edits(ctx.touchpoints, stages))
    how = f"guessed from touchpoint names, {edited:,} edited" if edited else "guessed from touchpoint names"
    paragraphs = [f"{result.journeys:,} journeys. Stages {how} (the Journey map page shows and edits them): "
                  + "; ".join(f"{s.stage} reached by {s.reach:.1%}" for s in result.stages.itertuples()) + "."]
    if result.score_note:
        paragraphs.append(result.score_note)
    if len(pains):
        paragraphs.append("Pain points (after awareness, where the most unconverted journeys end): " + "; ".join(
            f"{p.touchpoint} ({p.drop_offs:,} journeys end there, {p.drop_off_rate:.1%} of those reaching it)"
            for p in pains.itertuples()) + ".")
    cols = {"stage": "Stage", "touchpoint": "Touchpoint", "journeys": "Journeys", "reach": "Reach",
            "conversion_onward": "Convert after", "drop_off_rate": "End here", "top_next": "Then", "avg_score": "Score"}
    fmts = {"reach": "{:.1%}", "conversion_onward": "{:.1%}", "drop_off_rate": "{:.1%}", "avg_score": "{:.2f}"}
    drawn = [Figure("Where to act: reach against conversion after each touchpoint",
                    charts.journey_map_figure(t, present, goal=ctx.goal))]
    drawn += _emotion_curve(ctx, stages, present, paragraphs)
    return Section(
        "journey_map", "The journey map", tuple(paragraphs),
        tables=(Table("Touchpoints by stage", t, cols, fmts),), charts=tuple(drawn),
        figures={"journeys": result.journeys, "stage_reach": dict(zip(result.stages.stage, result.stages.reach, strict=True)),
                 "pain_points": list(pains.touchpoint)},
        link=ctx.link("journey_map"))


def _emotion_curve(ctx: ReportContext, stages: tuple[tuple[str, str], ...], present: list[str],
                   paragraphs: list[str]) -> list[Figure]:
    """The classic journey map's emotion curve under the stages (the Journey map page's), when there is feedback."""
    from journeys.analyses.scores import parse_scale
    from journeys.analyses.voice import compute_curve, voice_journeys
    from journeys.charts_voice import curve_note, emotion_curve_figure

    curve = compute_curve(voice_journeys(ctx.events, ctx.view.shaping, ctx.view.segment), stages, ctx.view.voice.scale)
    curve = curve[curve.stage.isin(present)]
    if not ((curve.texts > 0).any() or (curve.responses > 0).any()):
        return []
    if note := curve_note(curve):
        paragraphs.append(note)
    return [Figure("Emotion curve: average sentiment (and score) by stage",
                   emotion_curve_figure(curve, score_range=parse_scale(ctx.view.voice.scale)))]


def paths_section(ctx: ReportContext) -> Section:
    r = compute_paths(ctx.journeys, ctx.view.paths, goal=ctx.goal)
    if r.journeys_total == 0:
        return Section("paths", "Key paths", missing="No journeys in this segment and period.")
    variants = r.variants.head(10)
    top = variants.iloc[0] if len(variants) else None
    paragraphs = [(f"The path map covers {r.journeys_covered:,} of {r.journeys_total:,} journeys ({r.coverage:.1%}); "
                  f"{r.transition_coverage:.1%} of their transitions run between named nodes (the rest go to 'Other').")]
    if top is not None:
        paragraphs.append(f"The most common path: {top.path} ({int(top.customers):,} journeys, {top.share:.1%}).")
    if r.set_aside:
        paragraphs.append(f"{r.set_aside:,} one-step journeys are set aside from the variants.")
    share_cols = [c for c in ("conversion_rate",) if c in variants.columns]
    cols = {"path": "Path", "customers": "Journeys", "share": "Share"} | dict.fromkeys(share_cols, "Converted")
    return Section(
        "paths", "Key paths", tuple(paragraphs),
        tables=(Table("Top path variants", variants, cols, {"share": "{:.1%}", "conversion_rate": "{:.1%}"}),),
        charts=(Figure("Path map (Sankey), % of start",  # the Paths page's colours: one per touchpoint everywhere
                       charts.sankey_figure(r, colours=charts.touchpoint_colours(ctx.touchpoints))),),
        figures={"coverage": r.coverage, "journeys_total": r.journeys_total, "journeys_covered": r.journeys_covered,
                 "top_path": None if top is None else str(top.path),
                 "top_path_journeys": None if top is None else int(top.customers)},
        link=ctx.link("paths"))


def funnel_section(ctx: ReportContext) -> Section:
    q = ctx.funnel_query()
    r, by = compute_funnel_and_by(ctx.journeys, q, _breakdown_candidates(ctx, q))  # one matching pass for all
    ctx.cache["funnel"], ctx.cache["funnel_by"] = r, by
    v = replace(ctx.view, funnel_steps=q.steps)
    if r.entered == 0:
        return Section("funnel", "Funnel and drop-offs", missing=f"No journey in this segment reached '{q.labels[0]}'.")
    s = r.steps
    worst = s[s.step > 1].sort_values(["conversion_from_previous", "step"]).head(1)
    paragraphs = [(f"Funnel {' > '.join(q.labels)} within {q.window.days} days: {r.entered:,} entered, "
                  f"{int(s.customers.iloc[-1]):,} completed ({float(s.conversion_from_start.iloc[-1]):.1%}).")]
    figures: dict[str, object] = {"steps": list(q.labels), "entered": r.entered, "completed": int(s.customers.iloc[-1]),
                                  "conversion": float(s.conversion_from_start.iloc[-1])}
    tables = [Table("Funnel steps", s, {"label": "Step", "customers": "Journeys", "conversion_from_start": "Of start",
                                         "conversion_from_previous": "Of previous", "drop_off": "Drop off"},
                    {"conversion_from_start": "{:.1%}", "conversion_from_previous": "{:.1%}"})]
    if len(worst) and int(s.customers.iloc[int(worst.step.iloc[0]) - 2]) > int(worst.customers.iloc[0]):
        w = worst.iloc[0]
        k = int(w.step)
        nxt = r.next_after_drop[r.next_after_drop.step == k - 1].head(5)
        prev = int(s.customers.iloc[k - 2])
        figures |= {"worst_step": k, "worst_step_rate": float(w.conversion_from_previous),
                    "worst_step_lost": prev - int(w.customers)}
        paragraphs.append(f"The biggest drop-off: {q.labels[k - 2]} > {q.labels[k - 1]}, where "
                          f"{float(w.conversion_from_previous):.1%} go on ({prev - int(w.customers):,} journeys stop). "
                          + ("What they did next: " + "; ".join(f"{n.next_touchpoint} ({int(n.customers):,})"
                                                             for n in nxt.itertuples()) + "." if len(nxt) else ""))
        tables.append(Table(f"What journeys that stopped after '{q.labels[k - 2]}' did next", nxt,
                            {"next_touchpoint": "Next touchpoint", "customers": "Journeys"}))
    charts_ = [Figure("Funnel", charts.funnel_figure(r))]
    split = _widest_breakdown(by)
    if split is not None and split[1].gap > 0:
        result, gap = split
        ctx.cache["funnel_breakdown"] = (result, gap)
        figures |= {"breakdown": result.query.breakdown, "gap_step": gap.step, "gap_worst_value": gap.worst_value,
                    "gap_worst_rate": gap.worst_rate, "gap_best_value": gap.best_value, "gap_best_rate": gap.best_rate}
        paragraphs.append(f"By {result.query.breakdown}: {gap.sentence()}")
        charts_.append(Figure(f"Each step's conversion by {result.query.breakdown}", charts.breakdown_figure(result)))
        v = replace(v, breakdown=result.query.breakdown)
    return Section("funnel", "Funnel and drop-offs", tuple(paragraphs), tables=tuple(tables), charts=tuple(charts_),
                   figures=figures, link=ctx.link("funnels", v))


def _breakdown_candidates(ctx: ReportContext, q: FunnelQuery) -> tuple[str, ...]:
    """The view's breakdown, else the first few attributes with 2-12 values."""
    if q.breakdown:
        return (q.breakdown,)
    candidates: list[str] = []
    for col in (*ctx.info.attributes, "channel"):  # per-customer attributes first: they name a segment
        # sentiment describes one text, not a customer (and its score is a number): never a breakdown
        if col not in ctx.journeys.columns or col in SENTIMENT_COLUMNS:
            continue
        n = int(to_frame(ctx.journeys.aggregate(n=ctx.journeys[col].nunique())).n.iloc[0])
        if 2 <= n <= BREAKDOWN_MAX_VALUES:
            candidates.append(col)
        if len(candidates) >= BREAKDOWN_CANDIDATES:
            break
    return tuple(candidates)


def _widest_breakdown(by: dict[str, FunnelResult]) -> tuple[FunnelResult, StepGap] | None:
    """Of the funnels by each candidate, the one whose widest step gap is largest."""
    best: tuple[FunnelResult, StepGap] | None = None
    for result in by.values():
        gaps = step_gaps(result)
        if gaps and (best is None or gaps[0].gap > best[1].gap):
            best = (result, gaps[0])
    return best
