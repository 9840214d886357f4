"""Report sections 5-7: drivers and attribution, retention and churn with the customers at risk, and the voice
of the customer. Each calls the analysis with the spec its page builds from the same view, so the report
quotes what the Drivers, Attribution, Retention and Voice pages show. A section whose analysis cannot run on
this view (no goal, no purchases, no text) says why in one sentence instead."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from journeys.analyses.base import journeys_for
from journeys.errors import JourneyError
from journeys.outcomes import data_end
from journeys.report.context import ReportContext
from journeys.report.model import PVALUE, Figure, Section, Table
from journeys.views import ViewState

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from journeys.analyses.retention import RetentionQuery

TOP = 5
Q_SIGNIFICANT = 0.05


def guarded(key: str, title: str, build: Callable[[], Section]) -> Section:
    try:
        return build()
    except JourneyError as err:
        return Section(key, title, missing=err.message)


def goals(view: ViewState) -> tuple[str, ...]:
    """The pages' rule: the view's own outcome goals, else the sidebar's goal touchpoint."""
    return view.outcomes.goals or ((view.shaping.goal,) if view.shaping.goal else ())


def customers_journeys(ctx: ReportContext) -> ir.Table:
    """Drivers, retention and churn describe customers: person scope, whole journeys, every event."""
    if "customers" not in ctx.cache:
        sh = replace(ctx.view.shaping, scope="person", cut_at_goal=False, collapse_repeats=False)
        ctx.cache["customers"] = journeys_for(ctx.events, sh, ctx.view.segment)
    return ctx.cache["customers"]


def drivers_section(ctx: ReportContext) -> Section:
    def build() -> Section:
        from journeys.analyses.drivers import compute_drivers

        v = ctx.view
        query = replace(v.drivers, outcomes=replace(v.outcomes, goals=goals(v)))
        if query.outcome == "conversion" and not query.outcomes.goals:
            return Section("drivers", "Drivers and attribution",
                           missing="No goal is set, so there is no conversion to explain (set a goal touchpoint).")
        r = compute_drivers(customers_journeys(ctx), query,
                            end=data_end(ctx.events) if query.outcome == "churn" else None,
                            whole=None if v.segment.is_empty else ctx.events)
        ctx.cache["drivers"] = r
        # the drivers the Drivers page's forest plot shows, in its order (strongest odds ratio first)
        pos = r.top("positive").sort_values(["odds_ratio", "label"], ascending=[False, True])
        neg = r.top("negative").sort_values(["odds_ratio", "label"], ascending=[True, True])
        paragraphs = [(f"Outcome: {r.describe_outcome()}. {r.with_outcome:,} of {r.customers:,} customers had it; "
                      f"{r.tested:,} {'candidate was' if r.tested == 1 else 'candidates were'} ranked and "
                      f"{r.held_back:,} held back for too few customers. "
                      "Odds ratios come with 95% intervals and Benjamini-Hochberg q-values; they are associations, "
                      "not proof of cause.")]
        if r.skew_warning():
            paragraphs.append(r.skew_warning() or "")
        cols = {"label": "Driver", "rate_with": "Rate with", "rate_without": "Rate without", "odds_ratio": "Odds ratio",
                "ci_low": "95% CI low", "ci_high": "95% CI high", "q_value": "q"}
        fmts = {"rate_with": "{:.1%}", "rate_without": "{:.1%}", "odds_ratio": "{:.2f}", "ci_low": "{:.2f}",
                "ci_high": "{:.2f}", "q_value": PVALUE}
        tables = [Table("Strongest positive drivers", pos, cols, fmts), Table("Strongest negative drivers", neg, cols, fmts)]
        figures: dict[str, object] = {"customers": r.customers, "with_outcome": r.with_outcome, "tested": r.tested,
                                      "top_negative": list(neg.label), "top_positive": list(pos.label)}
        from journeys.charts_drivers import forest_figure

        drawn = [Figure("Drivers: odds ratios with 95% intervals (log scale; 1 = no effect)", forest_figure(r))] \
            if len(pos) + len(neg) else []
        attribution = _attribution(ctx)
        if attribution is not None:
            credits, note, attr_figures = attribution
            tables += credits
            paragraphs.append(note)
            figures |= attr_figures
            if "attribution" in ctx.cache:
                from journeys.charts_attribution import attribution_figure

                drawn.append(Figure("Attribution: conversions credited by each model",
                                    attribution_figure(ctx.cache["attribution"])))
        return Section("drivers", "Drivers and attribution", tuple(paragraphs), tables=tuple(tables),
                       charts=tuple(drawn), figures=figures, link=ctx.link("drivers"))
    return guarded("drivers", "Drivers and attribution", build)


def _attribution(ctx: ReportContext) -> tuple[list[Table], str, dict[str, object]] | None:
    from journeys.analyses.attribution import compute_attribution

    v = ctx.view
    g = goals(v)
    if not g:
        return None
    try:
        r = compute_attribution(ctx.journeys, replace(v.attribution, goals=g), known=ctx.touchpoints)
    except JourneyError as err:
        return [], f"Attribution: {err.message}", {}
    ctx.cache["attribution"] = r
    wide = r.credits.pivot_table(index="item", columns="model", values="conversions", aggfunc="sum").reset_index()
    models = [m for m in r.query.models if m in wide.columns]
    cols = {"item": v.attribution.by.capitalize()} | {m: m.replace("_", " ") for m in models}
    note = (f"Attribution of {r.conversions:,} conversions by {v.attribution.by}, models side by side "
            f"(lookback {'whole journey' if r.query.lookback is None else f'{r.query.lookback.days} days'}; Markov: "
            f"exact removal effects, order {r.query.order}).")
    if r.warnings:
        note += " " + " ".join(r.warnings)
    figures = {"attribution_conversions": r.conversions,
               "attribution": {m: dict(zip(wide["item"], wide[m].astype(float), strict=True)) for m in models}}
    table = Table(f"Conversions credited to each {v.attribution.by} by model", wide, cols, dict.fromkeys(models, "{:,.1f}"))
    return [table], note, figures


def retention_section(ctx: ReportContext) -> Section:
    def build() -> Section:
        from journeys import charts_retention as rcharts
        from journeys.analyses import churn, palive, palive_product

        v = ctx.view
        o = v.outcomes if v.outcomes.goals or not v.shaping.goal else replace(v.outcomes, goals=(v.shaping.goal,))
        rq, _lq, cq, pq = v.retention.queries(o)
        end = data_end(ctx.events)
        j = customers_journeys(ctx)
        paragraphs, drawn, figures = _cohorts(ctx, j, rq, end)
        ch = churn.compute_churn(j, cq, end=end, whole=None if v.segment.is_empty else ctx.events)
        ctx.cache["churn"] = ch
        rule = (f"no event for {ch.inactivity.days} days" if ch.inactivity else
                f"doing {' or '.join(cq.outcomes.churn_touchpoints)}")
        paragraphs.append(f"Churn means {rule}. Of {ch.customers:,} customers, {ch.churned:,} churned "
                          f"({ch.churned / max(ch.customers, 1):.1%}); {ch.active:,} are active or not yet known.")
        if len(ch.over_time):
            drawn.append(Figure(f"Churn rate per {cq.interval} (grey: too recent to know)",
                                rcharts.churn_over_time_figure(ch)))
        if ch.revenue_lost is not None:
            paragraphs.append(f"Revenue lost: churned customers brought in {ch.revenue_lost:,.2f} in the period before "
                              "they left.")
        o = ch.overrepresented
        over = o[o.ranked & (o.q_value < Q_SIGNIFICANT) & (o.odds_ratio > 1)].head(TOP) if len(o) else o
        if not len(over):
            paragraphs.append(f"No touchpoint is over-represented in the last {cq.last_k} before churn beyond chance "
                              f"(q < {Q_SIGNIFICANT}).")
        tables = [] if not len(over) else [Table(
            f"Touchpoints over-represented in the last {cq.last_k} before churn (q < {Q_SIGNIFICANT})", over,
                        {"touchpoint": "Touchpoint", "churned_with": "Churned with", "churned_share": "Share of churned",
                         "active_share": "Share of active", "odds_ratio": "Odds ratio", "q_value": "q"},
                        {"churned_share": "{:.1%}", "active_share": "{:.1%}", "odds_ratio": "{:.2f}", "q_value": PVALUE})]
        figures |= {"customers": ch.customers, "churned": ch.churned, "revenue_lost": ch.revenue_lost}
        try:
            whole = None if v.segment.is_empty else ctx.events
            pa = palive.compute_palive(j, palive.judged_at(pq, end), whole=whole)
        except JourneyError as err:
            paragraphs.append(f"P(alive): {err.message}")
        else:
            ctx.cache["palive"] = pa
            values = palive_product.customer_value(j, pa.purchases, pa.until)
            risky, floor = palive_product.at_risk_high_value(pa, values)
            ctx.cache["at_risk"] = (risky, floor)
            bands = "; ".join(f"{b}: {n:,}" for b, n in pa.bands.items())
            paragraphs.append(f"P(alive) (BG/NBD, {pa.customers_modelled:,} buyers, at {pa.until}): {bands}. "
                              f"{len(risky):,} at-risk customers are of high value (at least {floor:,.2f} each).")
            paragraphs += palive_product.palive_cautions(pa)  # what the bands mean here, as the Retention page says
            figures |= {"palive_bands": dict(pa.bands), "at_risk_high_value": len(risky)}
            drawn.append(Figure("Buyers by P(alive) (red: likely lost, green: active)", rcharts.palive_bands_figure(pa)))
        return Section("retention", "Retention, churn and customers at risk", tuple(paragraphs), tables=tuple(tables),
                       charts=tuple(drawn), figures=figures, link=ctx.link("retention"))
    return guarded("retention", "Retention, churn and customers at risk", build)


def _cohorts(ctx: ReportContext, j: ir.Table, rq: RetentionQuery,
             end: datetime) -> tuple[list[str], list[Figure], dict[str, object]]:
    """Cohort retention as the Retention page opens it: the weighted average by period, and its curves."""
    from journeys.analyses.retention import compute_retention
    from journeys.charts_retention import retention_curves

    try:
        r = compute_retention(j, rq, end=end)
    except JourneyError as err:
        return [f"Retention: {err.message}"], [], {}
    ctx.cache["retention"] = r
    first = r.average[r.average.group == r.average.group.iloc[0]] if len(r.average) else r.average
    seen = first[first.pct.notna() & (first.k > 0)].sort_values("k")
    if not len(seen):
        return [f"Retention: no {r.query.period} after the first has been observed yet."], [], {}
    k1, last = seen.iloc[0], seen.iloc[-1]
    average = {int(k): float(p) for k, p in zip(seen.k, seen.pct, strict=True)}
    text = (f"Cohort retention ({r.customers:,} customers, cohorts by {r.query.cohort}, returning "
            f"{'on' if r.query.mode == 'on' else 'on or after'} {r.query.period} k): {float(k1.pct):.1%} come back in "
            f"{r.query.period} {int(k1.k)}")
    if int(last.k) != int(k1.k):
        text += f", {float(last.pct):.1%} in {r.query.period} {int(last.k)}"
    return ([text + " (the average weighted by cohort size)."],
            [Figure("Retention by cohort (thin) and the weighted average (bold)", retention_curves(r))],
            {"retention_customers": r.customers, "retention_average": average})


def voice_section(ctx: ReportContext) -> Section:
    def build() -> Section:
        from journeys.analyses.voice import compute_voice, default_query, voice_journeys

        v = ctx.view
        query = default_query(ctx.touchpoints, v.shaping.goal, outcomes=v.outcomes, stages=v.stages(ctx.touchpoints),
                              touchpoint=v.voice.touchpoint, scale=v.voice.scale)
        r = compute_voice(voice_journeys(ctx.events, v.shaping, v.segment), query, known=ctx.touchpoints)
        ctx.cache["voice"] = r
        if not r.has_text and r.scores is None:
            return Section("voice", "The voice of the customer",
                           missing="The dataset has no text and no score column: map one to the 'text' or 'score' role.")
        goal = " or ".join(query.outcomes.goals) or "no goal set"
        # this section's outcomes, said: its churn may be touchpoints named like churn, not Retention's inactivity
        paragraphs = [r.coverage.sentence(), f"Outcomes compared here: conversion = {goal}; {r.churn}."]
        figures: dict[str, object] = {}
        score_tables: list[Table] = []
        if r.scores is not None:
            sc = r.scores
            paragraphs += sc.sentences()
            overall = [f"average {sc.average:.2f}" if sc.average is not None else "",
                       f"top-2-box {sc.top2_share:.1%}" if sc.top2_share is not None else "",
                       f"NPS {sc.nps:+.1f}" if sc.nps is not None else ""]
            if any(overall):
                paragraphs.append(f"Scores overall: {', '.join(o for o in overall if o)}.")
            figures |= {"score_average": sc.average, "score_top2": sc.top2_share, "nps": sc.nps,
                        "score_responses": sc.responses, "score_out_of_scale": sc.out_of_scale}
            shown = sc.by_touchpoint[sc.by_touchpoint.shown]
            if len(shown):
                score_tables.append(Table(f"Scores by touchpoint ({sc.name})", shown.head(TOP * 2),
                                          {"group": "Touchpoint", "responses": "Responses", "average": "Average",
                                           "top2_share": "Top-2-box", **({"nps": "NPS"} if sc.is_nps else {})},
                                          {"average": "{:.2f}", "top2_share": "{:.1%}", "nps": "{:+.1f}"}))
        tps = r.touchpoints[r.touchpoints.shown].sort_values("negative_share", ascending=False).head(TOP)
        tables = [Table("Emotion curve by stage", r.curve,
                        {"stage": "Stage", "texts": "Texts", "avg_sentiment": "Avg sentiment",
                         "negative_share": "Negative", "avg_score": "Avg score"},
                        {"avg_sentiment": "{:+.2f}", "negative_share": "{:.1%}", "avg_score": "{:.2f}"}),
                  Table("Touchpoints by negative share", tps,
                        {"touchpoint": "Touchpoint", "texts": "Texts", "negative_share": "Negative",
                         "avg_sentiment": "Avg sentiment"}, {"negative_share": "{:.1%}", "avg_sentiment": "{:+.2f}"})]
        b = r.behaviour[r.behaviour.shown] if len(r.behaviour) else r.behaviour
        if len(b):
            tables.append(Table("Outcomes after a negative against a positive interaction", b.head(TOP * 2),
                                {"touchpoint": "Touchpoint", "signal": "Signal", "outcome": "Outcome",
                                 "exposed_rate": "Rate after it", "baseline_rate": "Rate otherwise",
                                 "odds_ratio": "Odds ratio", "ci_low": "CI low", "ci_high": "CI high"},
                                {"exposed_rate": "{:.1%}", "baseline_rate": "{:.1%}", "odds_ratio": "{:.2f}",
                                 "ci_low": "{:.2f}", "ci_high": "{:.2f}"}))
        tables += score_tables
        where = f" at {query.touchpoint}" if query.touchpoint else ""
        if len(r.snippets):  # what customers wrote: plain text in a table cell, escaped like every user string
            tables.append(Table(f"The most negative texts{where}", r.snippets.head(TOP),
                                {"text": "Text", "sentiment": "Sentiment", "times": "Times written"},
                                {"sentiment": "{:+.2f}"}))
        if len(r.terms):
            tables.append(Table(f"Words and phrases over-represented in negative texts{where}", r.terms,  # as the page
                                {"term": "Term", "negative_texts": "In negative texts", "other_texts": "In other texts"}))
        curve: tuple[Figure, ...] = ()
        if r.has_text or r.scores is not None:
            from journeys.charts_voice import curve_note, emotion_curve_figure

            if note := curve_note(r.curve):
                paragraphs.append(note)
            rng = (r.scores.lo, r.scores.hi) if r.scores is not None else None
            curve = (Figure("Emotion curve: sentiment (and score) by stage",
                            emotion_curve_figure(r.curve, score_name=r.scores.name if r.scores else "score",
                                                 score_range=rng)),)
        return Section("voice", "The voice of the customer", tuple(paragraphs), tables=tuple(tables), charts=curve,
                       figures={"most_negative": list(tps.touchpoint), **figures}, link=ctx.link("voice"))
    return guarded("voice", "The voice of the customer", build)

