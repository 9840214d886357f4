"""Findings and recommendations by explicit rules: each rule reads one analysis result, states its numbers,
and derives a recommendation with the size of the prize. No rule fires without a number behind it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date

from journeys.report.context import ReportContext
from journeys.report.model import Finding, PlanRow

DAYS_PER_MONTH = 30.44
Rule = Callable[[ReportContext], tuple[Finding, PlanRow] | None]


def months(ctx: ReportContext) -> float:
    """Length of the report's period in months (at least one), for "per month" figures."""
    r = ctx.info.report
    start = ctx.view.date_from or (date.fromisoformat(r.start[:10]) if r.start else None)
    end = ctx.view.date_to or (date.fromisoformat(r.end[:10]) if r.end else None)
    if not start or not end:
        return 1.0
    return max(1.0, ((end - start).days + 1) / DAYS_PER_MONTH)


def segment_gap(ctx: ReportContext) -> tuple[Finding, PlanRow] | None:
    """The widest gap in one funnel step between values of an attribute: fix the step for the lagging value."""
    found = ctx.cache.get("funnel_breakdown")
    if not found:
        return None
    result, gap = found
    col = result.query.breakdown
    b = result.breakdown
    at_prev = int(b[(b.value == gap.worst_value) & (b.step == gap.step - 1)].customers.iloc[0])
    more = (gap.best_rate - gap.worst_rate) * at_prev / months(ctx)
    title = f"Largest gap: {gap.to_label} for {col} = {gap.worst_value}"
    evidence = (f"{gap.from_label} > {gap.to_label} converts {gap.worst_rate:.1%} for {col} = {gap.worst_value} "
                f"against {gap.best_rate:.1%} for {gap.best_value} ({at_prev:,} journeys of {gap.worst_value} reached "
                f"{gap.from_label}).")
    rec = (f"Fix {gap.to_label} for {gap.worst_value}: if {gap.worst_value} reached {gap.best_value}'s rate, about "
           f"{more:,.0f} more journeys a month would reach {gap.to_label}.")
    link = ctx.link("funnels", replace(ctx.view, funnel_steps=result.query.steps, breakdown=col))
    plan = PlanRow(f"Fix {gap.to_label} for {col} = {gap.worst_value}",
                   f"{gap.from_label} > {gap.to_label} conversion, {col} = {gap.worst_value}",
                   f"{gap.worst_rate:.1%}", f"{gap.best_rate:.1%} (as {gap.best_value})",
                   f"customers with {col} = {gap.worst_value} who reached {gap.from_label} and stopped")
    return Finding("segment_gap", title, evidence, rec, link,
                   {"more_per_month": more, "worst_rate": gap.worst_rate, "best_rate": gap.best_rate}), plan


def biggest_drop(ctx: ReportContext) -> tuple[Finding, PlanRow] | None:
    """The funnel step with the lowest conversion from the previous one, and what a point of it is worth."""
    r = ctx.cache.get("funnel")
    if r is None or r.entered == 0 or len(r.steps) < 2:
        return None
    s = r.steps
    w = s[s.step > 1].sort_values(["conversion_from_previous", "step"]).iloc[0]
    k = int(w.step)
    prev = int(s.customers.iloc[k - 2])
    onward = float(s.customers.iloc[-1]) / float(w.customers) if int(w.customers) else 0.0
    per_point = prev * 0.01 * onward / months(ctx)
    labels = r.query.labels
    nxt = r.next_after_drop[r.next_after_drop.step == k - 1]
    instead = f" Most of them went to {nxt.next_touchpoint.iloc[0]} next ({int(nxt.customers.iloc[0]):,})." if len(nxt) else ""
    evidence = (f"{labels[k - 2]} > {labels[k - 1]} keeps {float(w.conversion_from_previous):.1%}: "
                f"{prev - int(w.customers):,} of {prev:,} journeys stop there.{instead}")
    rec = (f"Work on {labels[k - 1]}: each percentage point more going on from {labels[k - 2]} is about "
           f"{per_point:,.1f} more {labels[-1]} a month (at today's {onward:.1%} onward rate).")
    target = min(1.0, float(w.conversion_from_previous) + 0.05)
    plan = PlanRow(f"Reduce the drop-off at {labels[k - 1]}", f"{labels[k - 2]} > {labels[k - 1]} conversion",
                   f"{float(w.conversion_from_previous):.1%}", f"{target:.1%} (+5 points)",
                   f"customers who reached {labels[k - 2]} and stopped")
    return Finding("biggest_drop", f"Biggest drop-off: {labels[k - 2]} > {labels[k - 1]}", evidence, rec,
                   ctx.link("funnels", replace(ctx.view, funnel_steps=r.query.steps)),
                   {"rate": float(w.conversion_from_previous), "lost": prev - int(w.customers), "per_point": per_point}), plan


def pain_point(ctx: ReportContext) -> tuple[Finding, PlanRow] | None:
    """The journey map's worst pain point: where the most unconverted journeys end after awareness."""
    m = ctx.cache.get("journey_map")
    if m is None or m.is_empty or not ctx.goal:
        return None
    pains = m.touchpoints[m.touchpoints.pain_point].sort_values(["drop_offs", "touchpoint"], ascending=[False, True])
    if pains.empty:
        return None
    p = pains.iloc[0]
    ended = int(m.touchpoints.drop_offs.sum())
    share = int(p.drop_offs) / ended if ended else 0.0
    evidence = (f"{int(p.drop_offs):,} journeys end at {p.touchpoint} without reaching {ctx.goal} "
                f"({p.drop_off_rate:.1%} of the {int(p.journeys):,} that reach it; {share:.1%} of all unconverted endings).")
    half = int(p.drop_offs) // 2
    rec = (f"Give journeys at {p.touchpoint} a next step towards {ctx.goal}: halving these endings keeps "
           f"{half:,} more journeys going ({half / months(ctx):,.0f} a month).")
    plan = PlanRow(f"Follow up journeys that stop at {p.touchpoint}", f"share of journeys ending at {p.touchpoint}",
                   f"{p.drop_off_rate:.1%}", f"{p.drop_off_rate / 2:.1%} (half)",
                   f"customers whose journey ends at {p.touchpoint}")
    return Finding("pain_point", f"Pain point: {p.touchpoint}", evidence, rec, ctx.link("journey_map"),
                   {"drop_offs": int(p.drop_offs), "rate": float(p.drop_off_rate)}), plan


RULES: tuple[Rule, ...] = (segment_gap, biggest_drop, pain_point)


def derive(ctx: ReportContext, rules: tuple[Rule, ...] = RULES) -> tuple[tuple[Finding, ...], tuple[PlanRow, ...]]:
    """Run each rule on the gathered results; a rule without the numbers it needs stays silent."""
    findings, plan = [], []
    for rule in rules:
        out = rule(ctx)
        if out:
            findings.append(out[0])
            plan.append(out[1])
    return tuple(findings), tuple(plan)
