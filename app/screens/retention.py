"""Retention: cohorts, lifecycle, churn (rates, paths) and P(alive), each section with its own controls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pandas as pd
import streamlit as st

from app import state
from app.ui import chart, customer_list, empty_state, md, pick, seed, set_view, table, view
from journeys import charts_retention as charts
from journeys.analyses.palive import BANDS, band_of
from journeys.analyses.palive_product import at_risk_high_value, palive_cautions
from journeys.analyses.periods import PERIODS
from journeys.analyses.retention import MODES
from journeys.errors import JourneyError
from journeys.outcomes import Outcomes
from journeys.retention_view import PATH_SEP
from journeys.segments import START, Filter, Segment

ARROW = PATH_SEP  # a path on screen reads as it does in a link


def guarded(label: str, fn: Callable[[], Any]) -> Any:
    """One section's work; a user error is its sentence in that section, and the other sections still show."""
    try:
        with st.spinner(label, show_time=True):
            return fn()
    except JourneyError as err:
        st.warning(md(err.message), icon="⚠️")
        if err.hint:
            st.caption(md(err.hint))
        return None


PEOPLE = {"customers": "customers", "pct": "% of cohort", "rate": "churn rate", "rate_low": "95% CI low",
          "rate_high": "95% CI high", "churn_rate_with": "churn rate with", "churn_rate_without": "churn rate without",
          "odds_ratio": "odds ratio", "p_value": "p", "q_value": "q (BH)", "k": "period k", "p_alive": "P(alive)",
          "T": "T (weeks)", "recency": "recency (weeks)"}


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """For the tables: nullable counts and rates as floats (NaN is an empty cell), days as dates."""
    out = frame.astype({c: "float64" for c, t in frame.dtypes.items() if str(t) in ("Int64", "Float64")})
    out = out.rename(columns={"rate_with": "churn_rate_with", "rate_without": "churn_rate_without"})
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.date
    return out


def outcomes() -> Outcomes:
    """The view's outcomes; without goals of its own, the sidebar's goal is the purchase whose gaps set the default."""
    return view().effective_outcomes()


st.title("Retention")
v = view()
tps = state.touchpoints(v)
info = state.store().get(v.dataset or "")
page, out = v.retention, v.outcomes
with st.container(border=True):
    c1, c2, c3 = st.columns([2, 1, 2])
    seed("rt_ret", list(out.returns), tps, what="return touchpoint")
    returns = c1.multiselect("Coming back means doing", tps, key="rt_ret", placeholder="any event")
    seed("rt_cmode", out.churn_mode)
    mode = c2.radio("Churned means", ["inactivity", "explicit"], key="rt_cmode",
                    format_func={"inactivity": "no event for N days", "explicit": "a churn touchpoint"}.__getitem__)
    if mode == "explicit":
        seed("rt_ct", list(out.churn_touchpoints) or [t for t in ("account_closed", "unsubscribe") if t in tps], tps,
             what="churn touchpoint")
        churn_tps = c3.multiselect("Churn touchpoints", tps, key="rt_ct")
        days = None
    else:
        churn_tps = []
        seed("rt_cin", out.inactivity_days or 0)
        days = c3.number_input("Inactive for (days; 0 = the default)", min_value=0, max_value=3660, key="rt_cin") or None
set_view(replace(v, outcomes=Outcomes(goals=out.goals, churn_touchpoints=tuple(churn_tps), returns=tuple(returns),
                                      inactivity_days=int(days) if days else None)))
v = view()

st.header("Cohorts", anchor=False)
r = page.retention
c = st.columns(6)
seed("rt_rc", r.cohort)
cohort = c[0].selectbox("Cohort by", PERIODS, key="rt_rc", format_func=lambda p: f"first {p}")
seed("rt_rp", r.period)
period = c[1].selectbox("Period", PERIODS, key="rt_rp")
seed("rt_rn", r.periods)
n = c[2].number_input("Periods", min_value=1, max_value=60, key="rt_rn")
seed("rt_rm", r.mode)
rmode = c[3].selectbox("Counted", MODES, key="rt_rm", format_func={"on": "on period k", "on_or_after": "on or after k"}.__getitem__)
seed("rt_rs", r.start or "", ["", *tps], what="start touchpoint")
start = c[4].selectbox("Start at", ["", *tps], key="rt_rs", format_func=lambda t: t or "first event")
seed("rt_rbd", r.breakdown or "", ["", *info.attributes], what="cohort breakdown")
rbd = c[5].selectbox("Breakdown", ["", *info.attributes], key="rt_rbd", format_func=lambda t: t or "(none)")
seed("rt_rcal", r.calendar)  # on its own row: a seventh column cut its label to "Calend…"
calendar = st.toggle("Calendar periods", key="rt_rcal", help="Off: rolling 24-hour multiples from each start")
page = replace(page, retention=replace(r, cohort=cohort, period=period, periods=int(n), mode=rmode, calendar=calendar,
                                       start=start or None, breakdown=rbd or None))
set_view(replace(v, retention=page))
v = view()
rq, lq, cq, pq = page.queries(outcomes())
res = guarded("Counting cohorts…", lambda: state.retention_part(v, v.segment, rq, "retention"))
if res is not None:
    st.caption(f"{res.customers:,} customers. Blank cells are periods that had not ended for every customer of the "
               "cohort when the data ends: not observed yet, not a drop. The top row is the average weighted by cohort "
               "size (percentages) or all cohorts together (customers, revenue).")
    groups = list(dict.fromkeys(res.table.group))
    g1, g2 = st.columns([1, 3])
    if len(groups) > 1:
        seed("rt_group", page.group or groups[0], [str(g) for g in groups], what="heat-map group", fallback=groups[0])
        group = g1.selectbox("Group", groups, key="rt_group")
    else:
        group = groups[0]
    measures = ["pct", "retained", *(["revenue"] if res.has_revenue else [])]
    seed("rt_measure", page.measure, measures)
    measure = g2.radio("Show", measures, key="rt_measure", horizontal=True,
                       format_func={"pct": "% of cohort", "retained": "customers", "revenue": "revenue"}.__getitem__)
    page = replace(page, measure=measure, group=None if group == groups[0] else str(group))
    set_view(replace(view(), retention=page))
    chart(charts.retention_heatmap(res, group, measure), name="retention_cohorts", key="rt_heat")
    chart(charts.retention_curves(res), name="retention_curves", key="rt_curves")
    if res.hidden_groups:
        st.caption(f"{res.hidden_groups:,} smaller {md(rbd)} values are shown together as Other.")
    table(plain(res.table), names=PEOPLE, name="retention_cohorts", key="rt_table")

st.header("Lifecycle", anchor=False)
seed("rt_li", page.lifecycle_interval)
li = st.selectbox("Interval", PERIODS, key="rt_li")
page = replace(page, lifecycle_interval=li)
set_view(replace(v, retention=page))
life = guarded("Sorting customers into states…", lambda: state.retention_part(v, v.segment, replace(lq, interval=li), "lifecycle"))
if life is not None:
    qr = life.quick_ratio()
    st.metric("Quick ratio", "-" if qr is None else f"{qr:.2f}", help="(new + resurrecting) / dormant over complete periods")
    st.caption("New: first active ever; returning: active in the previous period too; resurrecting: back after a gap; "
               "dormant (below zero): active in the previous period, not in this one. Faded bars: the period had not "
               "ended when the data ends.")
    chart(charts.lifecycle_figure(life), name="lifecycle", key="rt_life")
    table(plain(life.periods), names=PEOPLE, name="lifecycle", key="rt_life_t")

st.header("Churn", anchor=False)
c = st.columns(3)
seed("rt_chi", page.churn_interval)
chi = c[0].selectbox("Churn rate per", PERIODS, key="rt_chi")
seed("rt_chk", page.last_k)
chk = c[1].number_input("Touchpoints before churn", min_value=1, max_value=10, key="rt_chk")
seed("rt_chbd", page.churn_breakdown or "", ["", *info.attributes], what="churn breakdown")
chbd = c[2].selectbox("Churn by", ["", *info.attributes], key="rt_chbd", format_func=lambda t: t or "(none)")
page = replace(page, churn_interval=chi, last_k=int(chk), churn_breakdown=chbd or None)
set_view(replace(v, retention=page))
v = view()
rq, lq, cq, pq = page.queries(outcomes())
ch = guarded("Following customers to the end…", lambda: state.retention_part(v, v.segment, cq, "churn"))
if ch is not None:
    m = st.columns(4)
    m[0].metric("Customers", f"{ch.customers:,}")
    m[1].metric("Churned", f"{ch.churned:,}", f"{ch.rate:.1%}", delta_color="off", delta_arrow="off")
    m[2].metric("Active (not yet known)", f"{ch.active:,}")
    m[3].metric("Revenue lost", "-" if ch.revenue_lost is None else f"{ch.revenue_lost:,.2f}",
                f"{ch.revenue_customers:,} customers", delta_color="off", delta_arrow="off",
                help="Revenue of churned customers in their last 30 days before leaving.")
    if ch.revenue_lost is not None:  # the long explanation in a caption: a metric's delta is cut to one short line
        st.caption(f"Revenue lost: what {ch.revenue_customers:,} churned customers spent in their last 30 days "
                   "before leaving.")
    st.info(md(ch.inactivity.sentence() + " A customer seen within that time before the data ends is active (not yet "
               "known), never churned." if ch.inactivity else
               f"Churned means doing {' or '.join(cq.outcomes.churn_touchpoints)}. Everyone who has not done it (yet) "
               "is active (not yet known)."), icon="ℹ️")
    chart(charts.churn_over_time_figure(ch), name="churn_rate", key="rt_churn_t")
    left, right = st.columns(2)
    with left:
        st.subheader("By first-seen cohort", anchor=False)
        table(plain(ch.by_cohort), names=PEOPLE, name="churn_by_cohort", key="rt_ch_coh")
        if ch.by_cohort.rate.isna().any():
            st.caption("No rate: some of the cohort was first seen within the inactivity threshold before the data "
                       "ends (its period ends after that cut-off), so they cannot have churned yet: too recent to "
                       "know, rather than a low rate that reads as loyalty.")
    with right:
        st.subheader("Time to churn", anchor=False)
        chart(charts.time_to_churn_figure(ch), name="time_to_churn", key="rt_ttc")
    if ch.by_group is not None:
        st.subheader("By " + md(chbd), anchor=False)
        table(plain(ch.by_group), names=PEOPLE, name="churn_by_group", key="rt_ch_grp")
    st.subheader(f"The last {int(chk)} touchpoints before churn", anchor=False)
    seed("rt_ch_both", page.sankey_active)
    both = st.toggle("Also show still-active customers' last touchpoints", key="rt_ch_both")
    page = replace(page, sankey_active=both)
    set_view(replace(view(), retention=page))
    chart(charts.churn_sankey(ch, churned_only=not both), name="churn_paths", key="rt_sankey")
    if ch.no_history:
        st.caption(f"{ch.no_history:,} churned customers had no event before churning and are not drawn.")
    st.caption(f"Over-represented before churn: share of churned vs still-active customers with the touchpoint among "
               f"their last {int(chk)}. Rows below 30 customers or with a cell under 5 are not ranked.")
    table(plain(ch.overrepresented), names=PEOPLE, name="churn_overrepresented", key="rt_over")
    if not ch.paths.empty:
        # a path shorter than K is a whole history: it starts with START, so the segment and the list match it
        paths = [p if len(p) >= int(chk) else (START, *p) for p in ch.paths.path]
        shown = [f"{ARROW.join(p).replace(START, 'start', 1)} ({int(k):,} churned, {rate:.0%} of those who ended so)"
                 for p, k, rate in zip(paths, ch.paths.churned, ch.paths.rate, strict=True)]
        if page.churn_path and "rt_path_name" not in st.session_state:  # from a link: pick it if it is listed
            st.session_state["rt_path_name"] = ARROW.join(page.churn_path)
        path = paths[pick("A likely churn path", [ARROW.join(p) for p in paths], shown, key="rt_path")]
        page = replace(page, churn_path=() if path == paths[0] else tuple(path))
        set_view(replace(view(), retention=page))
        following = guarded("Finding who follows it…", lambda: state.retention_part(v, v.segment, (cq, path), "path"))
        if following is not None:
            st.caption(f"{len(following):,} customers who have not churned end their journey this way today.")
            customer_list(following, name="following_churn_path", key="rt_path_ids")
        if st.button("Use as segment: customers whose last touchpoints match", key="rt_path_seg", icon=":material/filter_alt:"):
            rule = Filter("ends_with", path)
            set_view(replace(v, segment=Segment((rule,)) if v.segment.is_empty else Segment((v.segment, rule))))
            st.rerun()

st.header("Who is probably already gone: P(alive)", anchor=False)
c = st.columns(3)
seed("rt_pp", list(page.palive.purchases), tps, what="purchase touchpoint", fallback=[])  # never a guess: a wrong one fits nonsense
pp = c[0].multiselect("Purchases", tps, key="rt_pp")
seed("rt_ph", float(page.palive.horizon_weeks))
ph = c[1].number_input("Expected purchases over (weeks)", min_value=1.0, max_value=520.0, step=1.0, format="%g",
                       key="rt_ph")  # 39, not 39.00
seed("rt_pho", float(page.holdout_weeks))
pho = c[2].number_input("Hold-out check (weeks)", min_value=1.0, max_value=260.0, step=1.0, format="%g", key="rt_pho")
page = replace(page, palive=replace(page.palive, purchases=tuple(pp), horizon_weeks=float(ph)), holdout_weeks=float(pho))
set_view(replace(v, retention=page))
v = view()
pa = guarded("Fitting BG/NBD…", lambda: state.retention_part(v, v.segment, page.palive, "palive")) if pp else None
if not pp:
    st.info("Pick the purchase touchpoints.", icon="ℹ️")
if pa is not None:
    m = st.columns(3)
    for col, band in zip(m, BANDS, strict=True):
        col.metric(band.capitalize(), f"{pa.bands[band]:,}", f"{pa.bands[band] / pa.customers_modelled:.0%} of buyers",
                   delta_color="off", delta_arrow="off")
    # right under the bands: what they mean on this data (one-time buyers stay alive) and how far the fit got
    if cautions := palive_cautions(pa):
        st.warning(md(" ".join(cautions)), icon="⚠️")
    p = pa.params
    st.caption(f"BG/NBD (Fader, Hardie & Lee 2005) fitted on {pa.customers_modelled:,} buyers up to {pa.until}: "
               f"r {p.r:.3g}, alpha {p.alpha:.3g}, a {p.a:.3g}, b {p.b:.3g}, log-likelihood {pa.log_likelihood:,.1f}. "
               "Bands (proposed defaults): likely lost below 0.3, at risk 0.3 to 0.7, active above 0.7. "
               f"{pa.customers_without_purchase:,} customers who never bought are not modelled.")
    chart(charts.palive_bands_figure(pa), name="palive", key="rt_pa")
    values = state.retention_part(v, v.segment, replace(page.palive, until=pa.until), "values")
    risky, threshold = at_risk_high_value(pa, values)
    st.subheader("At risk, high value", anchor=False)
    st.caption(f"At risk and with purchase value of at least {threshold:,.2f} (the top quarter of buyers): "
               f"{len(risky):,} customers.")
    if risky.empty:
        empty_state("No buyer is both at risk and in the top quarter by purchase value.")
    else:
        table(plain(risky), names=PEOPLE, name="at_risk_high_value", key="rt_risky")
    seed("rt_pb", page.band, list(BANDS))
    band = st.radio("Customers in band", BANDS, key="rt_pb", horizontal=True)
    set_view(replace(v, retention=replace(page, band=band)))
    in_band = pa.customers[pd.Series(band_of(pa.customers.p_alive)) == band]
    left, right = st.columns(2)
    with left:
        customer_list(list(in_band.customer_id), name=f"palive_{band.replace(' ', '_')}", key="rt_band_ids")
    if right.button(f"Use '{band}' as segment", key="rt_band_seg", icon=":material/filter_alt:"):
        rule = Filter("alive", (band, *pp))
        set_view(replace(view(), segment=Segment((rule,)) if v.segment.is_empty else Segment((v.segment, rule))))
        st.rerun()
    if in_band.empty:
        empty_state(f"No buyer is {band} on this data.")
    else:
        table(plain(in_band), names=PEOPLE, name=f"palive_{band.replace(' ', '_')}", key="rt_band")
    st.subheader("How far to trust it: predicted against actual in a hold-out", anchor=False)
    check = guarded("Refitting without the last weeks…", lambda: state.holdout(v, v.segment, page.palive, float(pho)))
    if check is not None:
        st.caption(f"Fitted up to {check.split}, then compared with the {check.holdout_weeks:g} weeks after: "
                   f"{check.predicted_total:,.1f} purchase days predicted, {check.actual_total:,} seen.")
        chart(charts.holdout_figure(check), name="palive_holdout", key="rt_hold")
