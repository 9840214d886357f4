"""Predict: P(conversion or churn within H days) per open journey, both models validated on a later period,
the score distribution with a band filter, the top customers with reasons, and "save as audience"."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pandas as pd
import streamlit as st

from app import state
from app.act_ui import customer_table, save_audience_form
from app.ui import chart, empty_state, md, run, seed, set_view, stop, told, view
from journeys import charts_predict as charts
from journeys.act_view import horizon_days
from journeys.analyses.predict import BASELINE, HORIZONS, REASONS_NOTE, band, last_day_of
from journeys.audiences import Audience, Audiences, members_frame
from journeys.outcomes import Outcomes

st.title("Predict")
v = view()
tps = state.touchpoints(v)
out, page = v.outcomes, v.act
with st.container(border=True):
    c1, c2, c3, c4 = st.columns([1, 2, 1, 1])
    seed("pr_target", page.target)
    target = c1.radio("Predict", ["churn", "conversion"], key="pr_target")
    if target == "conversion":
        seed("pr_goal", list(out.goals) or ([v.shaping.goal] if v.shaping.goal else []), tps, what="goal touchpoint")
        goals = tuple(c2.multiselect("Converting means doing", tps, key="pr_goal", placeholder="goal touchpoint(s)"))
        churn_tps: tuple[str, ...] = out.churn_touchpoints
    else:  # the goal is the purchase whose gaps set the default inactivity threshold, as on every page
        goals = v.effective_outcomes().goals
        seed("pr_ct", list(out.churn_touchpoints), tps, what="churn touchpoint")
        churn_tps = tuple(c2.multiselect("Churning means doing (empty: no event for N days)", tps, key="pr_ct"))
    seed("pr_h", page.horizon_days)
    horizon = c3.selectbox("Within (days)", sorted({h.days for h in HORIZONS} | {page.horizon_days}), key="pr_h",
                           accept_new_options=True)
    seed("pr_asof", page.as_of)
    as_of = c4.date_input("As of (empty: the data's last day)", key="pr_asof", value=None)
outcomes = Outcomes(goals=goals, churn_touchpoints=churn_tps, inactivity_days=None if churn_tps else out.inactivity_days,
                    returns=out.returns)
with told(then_stop=True):  # a typed option that is not a horizon: one sentence, never a traceback
    days = horizon_days(horizon)
set_view(replace(v, outcomes=outcomes, act=replace(page, target=target, horizon_days=days,  # type: ignore[arg-type]
                                                   as_of=as_of if isinstance(as_of, date) else None)))
v = view()
if target == "conversion" and not goals:
    empty_state("Pick the goal touchpoint(s) that count as converting.")
    stop()
q = v.act.predict_query(outcomes)
r = run("Training and validating both models…", lambda: state.predict(v, v.segment, q))
st.caption(md(f"P({r.what}) for every journey open at the end of {last_day_of(r.scoring_cutoff)} (seen in the last "
              f"{r.inactivity_days} days, not churned). Trained on {len(r.training_cutoffs)} period{'s' if len(r.training_cutoffs) != 1 else ''} before "
              f"{r.validation_cutoff.date()}; validated on {r.validation_cutoff.date()} to "
              f"{last_day_of(r.scoring_cutoff)}."))
if r.offered is None:
    empty_state(r.message)
    stop()
(st.success if r.offered != BASELINE else st.warning)(md(r.message))
if r.note:
    st.info(md(r.note), icon=":material/info:")
rows = [{"model": name, "offered": "✓" if name == r.offered else "", "AUC": m.auc,
         "AUC 95% interval": f"{m.auc_low:.3f} to {m.auc_high:.3f}", "top-decile precision": m.top_decile_precision,
         "top-decile lift": m.top_decile_lift, "positives": m.n_positive, "negatives": m.n_negative}
        for name, m in r.metrics.items()]
st.dataframe(pd.DataFrame(rows), hide_index=True, key="pr_metrics",
             column_config={"AUC": st.column_config.NumberColumn(format="%.3f"),
                            "top-decile precision": st.column_config.NumberColumn(format="percent"),
                            "top-decile lift": st.column_config.NumberColumn(format="%.2f×")})
left, right = st.columns(2)
with left:
    seed("pr_band", page.band)
    low, high = st.slider("Score band", 0.0, 1.0, key="pr_band", step=0.05)
    set_view(replace(v, act=replace(v.act, band=(float(low), float(high)))))
    chart(charts.score_histogram(r, (low, high)), name="score_distribution", key="pr_hist")
with right:
    chart(charts.calibration_figure(r), name="calibration", key="pr_cal")
chosen = band(r.scores, low, high)
who = "at risk" if target == "churn" else "likely to convert"
st.subheader(f"Most {who}: {len(chosen):,} customer{'s' if len(chosen) != 1 else ''} scored {low:.2f} to {high:.2f}",
             anchor=False)
st.caption(REASONS_NOTE)
customer_table(chosen[["customer_id", "score", "reasons", "state", "score_baseline"]], name="predicted_customers",
               key="pr_top", names={"score_baseline": "baseline score", "state": "last touchpoints"},
               percent=("score", "score_baseline"))


def _save(book: Audiences, name: str, replace_it: bool) -> Audience:
    definition = {"predict": q.to_dict(), "low": float(low), "high": float(high)}
    members = members_frame(chosen["customer_id"], score=chosen["score"], reason=chosen["reasons"])
    return book.save(name, v.dataset or "", "score_band", definition, members, replace_existing=replace_it)


save_audience_form("pr", "Audience name", "e.g. At risk this month", _save,
                   caption="Save this band as an audience (10% seeded control group, refreshed from its definition).")
