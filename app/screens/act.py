"""Act: next best action per open journey, saved audiences (size, refresh, push, export, preview), and the
measurement of an action list against its control group."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import streamlit as st

from app import auth, state
from app.act_ui import customer_table, push_audience, refresh_audience, save_audience_form, utc_minute
from app.ui import chart, empty_state, md, run, seed, set_view, stop, view
from journeys import charts_predict as charts
from journeys.analyses.nba import NO_RECOMMENDATION, NBAQuery, measure, nba_members
from journeys.audiences import Audience, Audiences
from journeys.export import safe_csv
from journeys.webhook import SECRET_ENV

st.title("Act")
v = view()
tps = state.touchpoints(v)
book = Audiences(state.store().home)

st.header("Next best action", anchor=False)
c1, c2, c3 = st.columns([3, 2, 1])
seed("act_actions", list(v.act.actions), tps, what="action touchpoint")
actions = c1.multiselect("Actions the company can trigger", tps, key="act_actions", placeholder="e.g. email_open, chat")
goal_default = list(v.outcomes.goals) or ([v.shaping.goal] if v.shaping.goal else [])
seed("act_goal", goal_default, tps, what="goal touchpoint")
goals = tuple(c2.multiselect("Goal", tps, key="act_goal"))
seed("act_order", v.act.order)
order = c3.selectbox("History (touchpoints)", [1, 2, 3, 4], key="act_order")
set_view(replace(v, outcomes=replace(v.outcomes, goals=goals), act=replace(v.act, actions=tuple(actions), order=order)))
v = view()
if actions and goals:
    q = NBAQuery(actions=tuple(actions), outcomes=v.outcomes, order=order)
    r = run("Ranking actions…", lambda: state.nba(v, v.segment, q))
    c = r.customers
    held = int(c.control[c.action != NO_RECOMMENDATION].sum())  # as the saved audience counts them
    st.caption(md(f"{r.recommended:,} of {len(c):,} open journeys get an action (support of 30+ customers and a "
                  f"positive uplift); {held:,} of them are in the seeded 10% control group and will not get it. "
                  "Observational evidence, not proof: measure it against the control group below."))
    chart(charts.uplift_figure(r.options), name="nba_uplift", key="act_uplift")
    customer_table(c[c.action != NO_RECOMMENDATION], name="next_best_actions", key="act_nba",
                   percent=("p_now", "p_after", "uplift", "ci_low", "ci_high"))

    def _save(book: Audiences, name: str, replace_it: bool) -> Audience:
        definition = {"nba": q.to_dict(), "seg": "" if v.segment.is_empty else v.segment.to_param(),
                      "goal": v.shaping.goal}
        members = nba_members(state.store(), v.dataset or "", definition, q.control_share, q.seed)
        return book.save(name, v.dataset or "", "nba", definition, members, share=q.control_share, seed=q.seed,
                         replace_existing=replace_it)

    save_audience_form("act", "Save the action list as audience", "e.g. Store invite", _save)
else:
    empty_state("Pick the actions the company can trigger and the goal they should lead to.")

st.header("Audiences", anchor=False)
every = book.list()
if not every:
    empty_state("No audience yet: save a score band on the Predict page or an action list above.")
    stop()
st.dataframe([{"audience": a.name, "kind": a.kind.replace("_", " "), "members": a.size, "control": a.control,
               "refreshed (UTC)": utc_minute(a.refreshed), "last push (UTC)": utc_minute(a.last_push) or "never"} for a in every],
             hide_index=True, key="act_list")
names = [a.name for a in every]
seed("act_aud", v.act.audience or names[0], names, what="audience", fallback=names[0])
chosen = st.selectbox("Audience", names, key="act_aud")
set_view(replace(view(), act=replace(view().act, audience=chosen)))
a = book.get(chosen)
members = book.members(a)
row = st.container(horizontal=True)
auth.customer_download(row, "CSV", lambda: safe_csv(members, limit=max(1, len(members))), file_name=f"{a.name}.csv",
                       key="act_csv", rows=len(members), icon=":material/download:")
auth.customer_download(row, "Parquet", lambda: members.to_parquet(index=False), file_name=f"{a.name}.parquet",
                       key="act_parquet", mime="application/octet-stream", rows=len(members), icon=":material/download:")
row.button("Refresh", key="act_refresh", icon=":material/refresh:", on_click=refresh_audience, args=(book, a.name))
said = st.session_state.pop("act_refreshed", None)  # the refresh ran before this run: everything above is new
if said:
    (st.error if said.startswith("!") else st.success)(md(said.lstrip("!")))
with st.expander("Push to a webhook", key="act_push_box"):
    st.caption(md(f"Mixpanel-style cohort sync: all members first, then additions and removals. The signing "
                  f"secret comes from ${SECRET_ENV} or the store, never from the link."))
    url = st.text_input("Webhook URL", key="act_url", placeholder="https://example.com/hooks/audiences")
    may_push = auth.allowed("push_audience")
    if not may_push:
        st.caption(f"Your role ({auth.current().role}) cannot push audiences.")
    st.button("Push", key="act_push", icon=":material/send:", disabled=not url or not may_push,
              on_click=push_audience, args=(book, a.name))
    if pushed := st.session_state.pop("act_pushed", None):  # the push ran before this run: the list shows it
        (st.error if pushed.startswith("!") else st.success)(md(pushed.lstrip("!")))
customer_table(members, name=f"audience_{a.id}", key="act_members",
               percent=("score", "score_baseline", "p_now", "p_after", "uplift", "ci_low", "ci_high"))  # as where they came from

st.header("Measure an action", anchor=False)
m1, m2 = st.columns(2)
seed("act_mgoal", list(goals), tps)
mgoals = tuple(m1.multiselect("Goal", tps, key="act_mgoal"))
since = m2.date_input("Since (default: its last push, else refresh)", value=datetime.fromisoformat(a.handed_over).date(),
                      key="act_since")
if mgoals:
    m = run("Measuring…", lambda: measure(state.store().table(a.dataset), members, mgoals,
                                          datetime.combine(since, datetime.min.time()),
                                          handed_over=datetime.fromisoformat(a.handed_over)))
    if m.stale():  # after the data's end there is nothing to measure: no "+0.0 pp" beside the warning
        st.warning(md(m.stale()), icon=":material/event_busy:")
    else:
        if m.early():
            st.warning(md(m.early()), icon=":material/history:")
        st.metric("Actioned minus control", f"{m.difference * 100:+.1f} pp" if m.control and m.actioned else "—")
        st.caption(md(m.sentence()))
