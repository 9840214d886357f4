"""Findings and recommendations by explicit rules: each rule reads one analysis result, states its numbers,
and derives a recommendation with the size of the prize. No rule fires without a number behind it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

from journeys.analyses.base import OTHER
from journeys.analyses.funnels import ENDED, GAP_FLOOR, FunnelResult
from journeys.report.context import ReportContext
from journeys.report.model import Finding, PlanRow
from journeys.stats import newcombe_diff, pvalue_text

DAYS_PER_MONTH = 30.44
Q_SIGNIFICANT = 0.05
Rule = Callable[[ReportContext], tuple[Finding, PlanRow] | None]


def months(ctx: ReportContext) -> float:
    """Length of the report's period in months (at least one), for "per month" figures."""
    r = ctx.info.report
    start = ctx.view.date_from or (date.fromisoformat(r.start[:10]) if r.start else None)
    end = ctx.view.date_to or (date.fromisoformat(r.end[:10]) if r.end else None)
    if not start or not end:
        return 1.0
    return max(1.0, ((end - start).days + 1) / DAYS_PER_MONTH)


@dataclass(frozen=True, slots=True)
class _Lag:
    """One breakdown value's conversion at one step against every other value's (``prize``: journeys a month
    more if it converted as the rest do)."""

    result: FunnelResult
    step: int
    value: str
    rate: float
    rest: float
    reached: int
    low: float
    high: float
    prize: float
    others: tuple[tuple[str, float], ...] = ()  # each other value's rate, as the Funnels page's breakdown shows them


def _lags(ctx: ReportContext) -> list[_Lag]:
    """Every (breakdown, step, value) with enough journeys whose conversion is clearly below the rest's (the 95%
    Newcombe interval of the difference above zero)."""
    out = []
    for result in ctx.cache.get("funnel_by", {}).values():
        b = result.breakdown
        if b is None or b.empty:
            continue
        at = b.pivot_table(index="value", columns="step", values="customers", aggfunc="sum").fillna(0)
        for k in range(2, len(result.query.steps) + 1):
            total_prev, total_k = int(at[k - 1].sum()), int(at[k].sum())
            for value in at.index:
                prev, now = int(at.loc[value, k - 1]), int(at.loc[value, k])
                if value == OTHER or prev < GAP_FLOOR or total_prev - prev < GAP_FLOOR:
                    continue
                diff, low, high = newcombe_diff(total_k - now, total_prev - prev, now, prev)
                if low > 0:
                    others = tuple((str(o), float(at.loc[o, k] / at.loc[o, k - 1])) for o in at.index
                                   if o != value and at.loc[o, k - 1] > 0)
                    out.append(_Lag(result, k, str(value), now / prev, (total_k - now) / (total_prev - prev),
                                    prev, low, high, diff * prev / months(ctx), others))
    return sorted(out, key=lambda g: (-g.prize, g.step, g.value))


def segment_gap(ctx: ReportContext) -> tuple[Finding, PlanRow] | None:
    """The breakdown value whose lag behind the other values at one funnel step costs the most journeys a month
    (clearly below them, and worth at least one a month): fix that step for it."""
    lags = [g for g in _lags(ctx) if g.prize >= 1]
    if not lags:
        return None
    g = lags[0]
    col, labels = g.result.query.breakdown, g.result.query.labels
    frm, to = labels[g.step - 2], labels[g.step - 1]
    title = f"Largest gap: {to} for {col} = {g.value}"
    each = "; ".join(f"{o} {rate:.1%}" for o, rate in g.others[:6])
    evidence = (f"{frm} > {to} converts {g.rate:.1%} for {col} = {g.value} against {g.rest:.1%} for the other "
                f"{col} values together ({each}; 95% interval of the difference {g.low * 100:.1f} to "
                f"{g.high * 100:.1f} points; {g.reached:,} journeys of {g.value} reached {frm}).")
    rec = (f"Fix {to} for {g.value}: if {g.value} converted as the others do, about {g.prize:,.0f} more journeys "
           f"a month would reach {to}.")
    link = ctx.link("funnels", replace(ctx.view, funnel_steps=g.result.query.steps, breakdown=col))
    plan = PlanRow(f"Fix {to} for {col} = {g.value}", f"{frm} > {to} conversion, {col} = {g.value}",
                   f"{g.rate:.1%}", f"{g.rest:.1%} (as the other {col} values)",
                   f"customers with {col} = {g.value} who reached {frm} and stopped")
    return Finding("segment_gap", title, evidence, rec, link,
                   {"more_per_month": g.prize, "worst_rate": g.rate, "best_rate": g.rest}), plan


def biggest_drop(ctx: ReportContext) -> tuple[Finding, PlanRow] | None:
    """The funnel step with the lowest conversion from the previous one, and what a point of it is worth."""
    r = ctx.cache.get("funnel")
    if r is None or r.entered == 0 or len(r.steps) < 2:
        return None
    s = r.steps
    w = s[s.step > 1].sort_values(["conversion_from_previous", "step"]).iloc[0]
    k = int(w.step)
    prev = int(s.customers.iloc[k - 2])
    if prev == int(w.customers):  # every step keeps everyone: no drop-off to speak of
        return None
    onward = float(s.customers.iloc[-1]) / float(w.customers) if int(w.customers) else 0.0
    per_point = prev * 0.01 * onward / months(ctx)
    labels = r.query.labels
    nxt = r.next_after_drop[r.next_after_drop.step == k - 1]
    instead = ""
    if len(nxt):
        top, n = str(nxt.next_touchpoint.iloc[0]), int(nxt.customers.iloc[0])
        instead = (f" {n:,} of them ended their journey there." if top == ENDED else
                   f" Most of them went to {top} next ({n:,}).")
    evidence = (f"{labels[k - 2]} > {labels[k - 1]} keeps {float(w.conversion_from_previous):.1%}: "
                f"{prev - int(w.customers):,} of {prev:,} journeys stop there.{instead}")
    rec = (f"Work on {labels[k - 1]}: each percentage point more going on from {labels[k - 2]} is about "
           f"{per_point:,.1f} more journeys a month reaching {labels[-1]} (at today's {onward:.1%} onward rate).")
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
    if half / months(ctx) < 1:  # not worth a plan row: fewer than one journey a month
        return None
    rec = (f"Give journeys at {p.touchpoint} a next step towards {ctx.goal}: halving these endings keeps "
           f"{half:,} more journeys going ({half / months(ctx):,.0f} a month).")
    plan = PlanRow(f"Follow up journeys that stop at {p.touchpoint}", f"share of journeys ending at {p.touchpoint}",
                   f"{p.drop_off_rate:.1%}", f"{p.drop_off_rate / 2:.1%} (half)",
                   f"customers whose journey ends at {p.touchpoint}")
    return Finding("pain_point", f"Pain point: {p.touchpoint}", evidence, rec, ctx.link("journey_map"),
                   {"drop_offs": int(p.drop_offs), "rate": float(p.drop_off_rate)}), plan


def negative_driver(ctx: ReportContext) -> tuple[Finding, PlanRow] | None:
    """Of the ranked negative drivers with q < 0.05, the one that costs the most conversions a month (at least
    one): what the outcome loses to it."""
    r = ctx.cache.get("drivers")
    if r is None or r.query.outcome != "conversion":
        return None
    t = r.top("negative")
    t = t[t.q_value < Q_SIGNIFICANT]
    if t.empty:
        return None
    # the driver that costs the most conversions a month, not the rarest with the lowest odds ratio
    exposed_all = t.exposed_converted + t.exposed_not
    t = t.assign(_lost=exposed_all * (t.rate_without - t.rate_with) / months(ctx))
    t = t[t._lost >= 1]
    if t.empty:
        return None
    d = t.sort_values(["_lost", "label"], ascending=[False, True]).iloc[0]
    exposed = int(d.exposed_converted + d.exposed_not)
    lost = float(d._lost)
    who = customers_who(str(d.kind), str(d.label))
    evidence = (f"{who[0].upper()}{who[1:]}: {d.rate_with:.1%} convert against {d.rate_without:.1%} of the others "
                f"(odds ratio {d.odds_ratio:.2f}, 95% CI {d.ci_low:.2f}-{d.ci_high:.2f}, q {pvalue_text(d.q_value)}; "
                f"{exposed:,} customers).")
    rec = (f"Find out what holds back {who}: at the others' rate they would bring about "
           f"{lost:,.0f} more {'conversion' if round(lost) == 1 else 'conversions'} a month (an association, so "
           "test a fix before counting on it).")
    plan = PlanRow(f"Fix the experience of {who}", f"conversion of {who}", f"{d.rate_with:.1%}",
                   f"{d.rate_without:.1%} (as the others)", who)
    return Finding("negative_driver", f"Negative driver: {d.label}", evidence, rec, ctx.link("drivers"),
                   {"odds_ratio": float(d.odds_ratio), "more_per_month": lost}), plan


def customers_who(kind: str, label: str) -> str:
    """A driver's customers in words: "customers who did X", "customers with device = mobile"."""
    return f"customers with {label}" if kind == "attribute" or label.startswith("first channel ") else \
        f"customers who {label}"


def undervalued_channel(ctx: ReportContext) -> tuple[Finding, PlanRow] | None:
    """The item whose exact Markov credit most exceeds its last-touch credit: last-touch reports undervalue it."""
    r = ctx.cache.get("attribution")
    if r is None or r.conversions == 0:
        return None
    c = r.credits
    wide = c.pivot_table(index="item", columns="model", values="conversions", aggfunc="sum")
    if not {"markov", "last"} <= set(wide.columns):
        return None
    diff = (wide["markov"] - wide["last"]).sort_values(ascending=False, kind="stable")
    item, gap = str(diff.index[0]), float(diff.iloc[0])
    if gap < 1:
        return None
    markov, last = float(wide.loc[item, "markov"]), float(wide.loc[item, "last"])
    by = r.query.by
    evidence = (f"{by} {item} gets {last:,.1f} of {r.conversions:,} conversions by last touch but {markov:,.1f} by its "
                f"exact Markov removal effect ({gap:,.1f} more).")
    rec = (f"Judge {item} by its Markov credit, not last touch: last-touch reporting undervalues it by about "
           f"{gap / months(ctx):,.1f} conversions a month.")
    plan = PlanRow(f"Re-weigh the budget of {item} by Markov credit", f"Markov conversions credited to {item}",
                   f"{markov:,.1f}", f"at least {markov:,.1f} after any budget change",
                   f"customers who touched {item} before converting")
    return Finding("undervalued_channel", f"Undervalued by last touch: {item}", evidence, rec,
                   ctx.link("attribution"), {"markov": markov, "last": last}), plan


def churn_signal(ctx: ReportContext) -> tuple[Finding, PlanRow] | None:
    """The touchpoint most over-represented just before churn (ranked, q < 0.05, odds ratio > 1)."""
    ch = ctx.cache.get("churn")
    if ch is None or ch.overrepresented.empty:
        return None
    o = ch.overrepresented
    o = o[o.ranked & (o.q_value < Q_SIGNIFICANT) & (o.odds_ratio > 1)]
    if o.empty:
        return None
    x = o.sort_values(["odds_ratio", "touchpoint"], ascending=[False, True]).iloc[0]
    k = ch.query.last_k
    evidence = (f"{x.touchpoint} is in the last {k} touchpoints of {x.churned_share:.1%} of churned customers against "
                f"{x.active_share:.1%} of active ones (odds ratio {x.odds_ratio:.2f}, 95% CI {x.ci_low:.2f}-"
                f"{x.ci_high:.2f}; {int(x.churned_with):,} churned customers).")
    rec = (f"Step in after {x.touchpoint}: {int(x.churned_with):,} customers churned with it among their last {k} "
           f"touchpoints ({int(x.churned_with) / months(ctx):,.1f} a month); contact the active customers who just had it.")
    plan = PlanRow(f"Follow up every {x.touchpoint} within days", f"churn of customers after {x.touchpoint}",
                   f"{x.rate_with:.1%}", f"{x.rate_without:.1%} (as the others)",
                   f"active customers whose last {k} touchpoints include {x.touchpoint}")
    return Finding("churn_signal", f"Churn signal: {x.touchpoint}", evidence, rec, ctx.link("retention"),
                   {"odds_ratio": float(x.odds_ratio), "churned_with": int(x.churned_with)}), plan


def at_risk_value(ctx: ReportContext) -> tuple[Finding, PlanRow] | None:
    """High-value customers the BG/NBD model calls at risk: a win-back list with its value."""
    found, pa = ctx.cache.get("at_risk"), ctx.cache.get("palive")
    if not found or pa is None or found[0].empty:
        return None
    risky, floor = found
    value = float(risky["value"].sum()) if "value" in risky.columns else float("nan")
    evidence = (f"{len(risky):,} customers worth at least {floor:,.2f} each are at risk (P(alive) 0.3-0.7 at "
                f"{pa.until}); together they brought in {value:,.2f}.")
    rec = f"Win back these {len(risky):,} customers now, before they are likely lost: {value:,.2f} of past revenue is at stake."
    plan = PlanRow("Win-back campaign for at-risk, high-value customers", "P(alive) of the list",
                   f"{len(risky):,} at risk", "half of them active again", "the at-risk, high-value list (Retention page)")
    return Finding("at_risk_value", "High-value customers at risk", evidence, rec, ctx.link("retention"),
                   {"customers": len(risky), "value": value}), plan


def negative_voice(ctx: ReportContext) -> tuple[Finding, PlanRow] | None:
    """A negative interaction after which more customers churn (the interval above 1), the strongest first."""
    r = ctx.cache.get("voice")
    if r is None or r.behaviour.empty:
        return None
    b = r.behaviour
    b = b[b.shown & (b.ci_low > 1) & (b.outcome == "churn")]
    if b.empty:
        return None
    x = b.sort_values(["odds_ratio", "touchpoint"], ascending=[False, True]).iloc[0]
    from journeys.analyses.voice import finding_sentence

    sentence = finding_sentence(x)
    evidence = sentence[:1].upper() + sentence[1:] + "."  # the Voice page's own sentence
    extra = int(x.exposed) * (float(x.exposed_rate) - float(x.baseline_rate))
    rec = (f"Fix what goes wrong at {x.touchpoint}: at the better rate, about {extra:,.0f} fewer of these customers "
           f"would have churned ({extra / months(ctx):,.1f} a month).")
    plan = PlanRow(f"Service recovery after a {x.signal} at {x.touchpoint}", f"{x.outcome} after a {x.signal}",
                   f"{x.exposed_rate:.1%}", f"{x.baseline_rate:.1%}", f"customers with a {x.signal} at {x.touchpoint}")
    return Finding("negative_voice", f"Voice of the customer: {x.signal} at {x.touchpoint}", evidence, rec,
                   ctx.link("voice"), {"odds_ratio": float(x.odds_ratio), "extra": extra}), plan


RULES: tuple[Rule, ...] = (segment_gap, biggest_drop, pain_point, negative_driver, undervalued_channel, churn_signal,
                           at_risk_value, negative_voice)


def derive(ctx: ReportContext, rules: tuple[Rule, ...] = RULES) -> tuple[tuple[Finding, ...], tuple[PlanRow, ...]]:
    """Run each rule on the gathered results; a rule without the numbers it needs stays silent."""
    findings, plan = [], []
    for rule in rules:
        out = rule(ctx)
        if out:
            findings.append(out[0])
            plan.append(out[1])
    return tuple(findings), tuple(plan)
