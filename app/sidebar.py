"""The sidebar shared by every page: dataset, dates, segment builder, journey shaping."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import streamlit as st

from app import auth, freshness, state
from app.ui import echo, link_problem, md, seed, set_view, share_link, view
from journeys.errors import closest
from journeys.segments import Filter, Segment
from journeys.shaping import Shaping

LIKELY_GOALS = ("purchase", "order_completed", "conversion", "transaction", "checkout_completed", "signup")
FILTER_KINDS = {
    "did": "did", "did_not": "did not do", "then": "did X then Y", "at_least": "did X at least N times",
    "attribute": "attribute is", "attribute_not": "attribute is not", "converted": "reached the goal",
    "not_converted": "did not reach the goal", "entered": "first seen between",
}


def dataset_picker() -> bool:
    """Choose the dataset; returns False (with a message) when there is none to show."""
    infos = auth.visible(state.datasets())  # a team server lists only what this person may see
    v = view()
    ids = [d.id for d in infos]
    named = bool(v.dataset)  # a link without a dataset (``?from=…&to=…``) keeps its dates for the first one
    if v.dataset and v.dataset not in ids:
        fallback = f"'{infos[0].name}'" if infos else "no dataset"
        link_problem(auth.missing_dataset(echo(v.dataset), fallback))  # the same sentence whether it exists or not
        set_view(replace(v, dataset=None))
        v = view()
    if not infos:
        st.sidebar.info("No datasets yet. Load one on the Data page.")
        return False
    names = {d.id: f"{d.name} · {d.rows:,} events" for d in infos}
    if "pending_dataset" in st.session_state:  # a load or delete on the Data page chose the dataset
        st.session_state["sb_dataset"] = st.session_state.pop("pending_dataset") or ids[0]
    seed("sb_dataset", v.dataset or ids[0])
    if st.session_state["sb_dataset"] not in ids:
        st.session_state["sb_dataset"] = ids[0]
    chosen = st.sidebar.selectbox("Dataset", ids, format_func=names.__getitem__, key="sb_dataset")
    if chosen != v.dataset:  # another dataset: its own dates, segment values and touchpoints
        keep = v.dataset is None and not named
        set_view(replace(v, dataset=chosen, date_from=v.date_from if keep else None, date_to=v.date_to if keep else None))
    return True


def date_range() -> None:
    v = view()
    info = state.store().get(v.dataset or "")
    lo = date.fromisoformat(info.report.start[:10]) if info.report.start else date.today()
    hi = date.fromisoformat(info.report.end[:10]) if info.report.end else date.today()
    key = f"sb_dates_{v.dataset}"
    seed(key, (v.date_from or lo, v.date_to or hi))
    picked = st.sidebar.date_input("Date range (UTC)", key=key, min_value=lo - timedelta(days=1),
                                   max_value=hi + timedelta(days=1))
    if isinstance(picked, tuple) and len(picked) == 2:
        start, end = picked
        set_view(replace(v, date_from=None if start <= lo else start, date_to=None if end >= hi else end))


def segment_builder(prefix: str, current: Segment, *, where: st.delta_generator.DeltaGenerator) -> Segment:
    """Filters listed as sentences with remove buttons, an add-filter form, and AND / OR."""
    v = view()
    items = list(current.items)
    for i, item in enumerate(items):
        text = item.describe(v.shaping.goal) if isinstance(item, Filter) else f"({item._clause(v.shaping.goal)})"
        c1, c2 = where.columns([4, 1], vertical_alignment="center")
        c1.caption(md(auth.shown_text(text)))  # personal data masked for viewers
        if c2.button("", icon=":material/close:", key=f"{prefix}_rm_{i}_{len(items)}", help="Remove this filter"):
            items.pop(i)
            return Segment(tuple(items), current.combine)
    combine = current.combine
    if len(items) > 1:
        seed(f"{prefix}_combine", current.combine)
        combine = where.radio("Combine", ["and", "or"], horizontal=True, key=f"{prefix}_combine",
                              format_func=lambda c: "all filters (AND)" if c == "and" else "any filter (OR)")
    with where.popover("Add filter", icon=":material/filter_alt:", width="stretch"):
        new = _filter_form(prefix)
    if new is not None:
        items.append(new)
    return Segment(tuple(items), combine)  # type: ignore[arg-type]


def _filter_form(prefix: str) -> Filter | None:
    v = view()
    kind = st.selectbox("Customers who…", list(FILTER_KINDS), format_func=FILTER_KINDS.__getitem__, key=f"{prefix}_kind")
    tps = state.touchpoints(v)
    built: Filter | None = None
    if kind in ("did", "did_not"):
        pick = st.multiselect("Touchpoints (any of)", tps, key=f"{prefix}_tps")
        built = Filter(kind, tuple(pick)) if pick else None  # type: ignore[arg-type]
    elif kind == "then":
        x = st.selectbox("First", tps, key=f"{prefix}_x")
        y = st.selectbox("Then", tps, key=f"{prefix}_y")
        days = st.number_input("Within days (0 = any time)", min_value=0, max_value=366, value=0, key=f"{prefix}_days")
        built = Filter("then", (x, y), within_days=int(days) or None) if x and y else None
    elif kind == "at_least":
        x = st.selectbox("Touchpoint", tps, key=f"{prefix}_x1")
        n = st.number_input("At least", min_value=1, max_value=1000, value=2, key=f"{prefix}_n")
        built = Filter("at_least", (x,), times=int(n)) if x else None
    elif kind in ("attribute", "attribute_not"):
        info = state.store().get(v.dataset or "")
        cols = ["channel", *info.attributes]
        col = st.selectbox("Column", cols, key=f"{prefix}_col")
        vals = st.multiselect("Values", state.attribute_values(v, col) if col else [], key=f"{prefix}_vals",
                              format_func=auth.shown_text)
        built = Filter("attribute", tuple(vals), column=col, op="in" if kind == "attribute" else "not_in") if vals else None
    elif kind in ("converted", "not_converted"):
        if not v.shaping.goal:
            st.caption("Set a goal touchpoint under Journey shaping first.")
        built = Filter(kind) if v.shaping.goal else None  # type: ignore[arg-type]
    else:
        start = st.date_input("From", value=None, key=f"{prefix}_from")
        end = st.date_input("Before", value=None, key=f"{prefix}_to")
        built = Filter("entered", (start.isoformat() if start else "", end.isoformat() if end else "")) if start or end else None
    if st.button("Add", key=f"{prefix}_add", type="primary", disabled=built is None):
        return built
    return None


def shaping_controls() -> None:
    v = view()
    sh = v.shaping
    with st.sidebar.expander("Journey shaping", icon=":material/tune:"):
        tps = state.touchpoints(replace(v, shaping=Shaping()))
        guess = next((t for t in tps if t.lower().replace(" ", "_") in LIKELY_GOALS), None)
        if st.session_state.pop("guess_goal", False) and not sh.goal:
            # a fresh visit without a goal in the link: start from the obvious conversion touchpoint, if any
            sh = replace(sh, goal=guess)
        seed("sb_goal", sh.goal or "", ["", *tps], what="goal touchpoint", fallback=closest(sh.goal or "", tps) or guess or "")
        goal = st.selectbox("Goal touchpoint", ["", *tps], key="sb_goal", format_func=lambda t: t or "(none)",
                            help="Conversion means reaching this touchpoint.")
        seed("sb_cut", sh.cut_at_goal)
        cut = st.checkbox("End journeys at the goal", key="sb_cut", disabled=not goal)
        seed("sb_scope", sh.scope)
        scope = st.radio("One journey per", ["person", "session"], key="sb_scope", horizontal=True)
        seed("sb_gap", int(sh.session_gap.total_seconds() // 60))
        gap = st.number_input("Session gap (minutes)", min_value=1, max_value=24 * 60, key="sb_gap", disabled=scope != "session")
        seed("sb_collapse", sh.collapse_repeats)
        collapse = st.checkbox("Collapse consecutive repeats", key="sb_collapse")
        seed("sb_node", sh.node if sh.node != "stage" else "touchpoint")
        node = st.selectbox("Node", ["touchpoint", "touchpoint_channel", "channel"], key="sb_node",
                            format_func={"touchpoint": "touchpoint", "touchpoint_channel": "touchpoint × channel",
                                         "channel": "channel"}.__getitem__)
        seed("sb_rules", "\n".join(f"{a} => {b}" for a, b in sh.rules))
        rules_text = st.text_area("Cleaning rules (regex => alias, one per line)", key="sb_rules", height=80)
        seed("sb_excl", "\n".join(sh.exclude))
        excl_text = st.text_area("Exclude touchpoints (regex, one per line)", key="sb_excl", height=68)
    rules, bad = [], []
    for line in rules_text.splitlines():
        if not line.strip():
            continue
        pattern, sep, alias = line.partition("=>")
        if sep and pattern.strip():
            rules.append((pattern.strip(), alias.strip()))
        else:
            bad.append(line)
    if bad:
        st.sidebar.warning(f"Ignored {len(bad)} rule line(s) without 'regex => alias': {bad[0][:40]}")
    new = replace(sh, goal=goal or None, cut_at_goal=bool(cut and goal), scope=scope, session_gap=timedelta(minutes=int(gap)),
                  collapse_repeats=collapse, node=node, rules=tuple(rules),
                  exclude=tuple(x.strip() for x in excl_text.splitlines() if x.strip()))
    set_view(replace(view(), shaping=new))


def render() -> bool:
    """The whole sidebar; False when there is no dataset to analyse."""
    st.sidebar.title("journeys")
    if not dataset_picker():
        return False
    freshness.new_data_notice()  # "new data: N events since you opened this view"
    date_range()
    shaping_controls()
    st.sidebar.subheader("Segment")
    v = view()
    seg = segment_builder("sa", v.segment, where=st.sidebar)
    if seg != v.segment:
        set_view(replace(v, segment=seg))
        st.rerun()
    st.sidebar.caption(md(auth.shown_text(seg.describe(view().shaping.goal).capitalize())))
    return True


def copy_link() -> None:
    """Rendered after the page, so the link carries the page's own settings too."""
    with st.sidebar.popover("Copy link", icon=":material/link:", width="stretch"):
        st.caption("This link reopens exactly this view, for anyone with access to this server.")
        st.code(share_link(view()), language=None, wrap_lines=True)
    # the view travels in the session, so the report page writes up exactly what was on screen
    st.sidebar.page_link("screens/report.py", label="Write the report for this view", icon=":material/description:")
