"""The one module of the app that caches. Resources: the store. Data: results keyed by
(dataset fingerprint, spec). Views and segments ride along unhashed (``_view``); the key carries them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import ibis
import streamlit as st

from journeys.analyses import drivers as drv
from journeys.analyses import summary
from journeys.analyses.base import journeys_for, known_touchpoints
from journeys.analyses.funnels import FunnelQuery, FunnelResult, compute_funnel, dropped_customers
from journeys.analyses.journey_map import JourneyMapResult, compute_journey_map
from journeys.analyses.paths import PathQuery, PathsResult, compute_paths, node_customers
from journeys.analyses.transitions import GraphQuery, TransitionsResult, compute_transitions
from journeys.bootstrap import ensure_sample
from journeys.engine.store import DatasetInfo, Store
from journeys.io.sentiment_job import BackfillProgress, backfill_progress, ensure_backfill
from journeys.outcomes import data_end
from journeys.segments import Segment
from journeys.shaping import apply_node, apply_rules
from journeys.views import ViewState, filter_dates


@st.cache_resource(show_spinner="Opening the dataset store…")
def store() -> Store:
    """One store per server; every session reads through its own thread's cursor."""
    s = Store()
    ensure_sample(s)
    s.serve_inbox()  # journeys watch / ingest --into while the dashboard runs: their loads run here
    # each load's default views (journey summaries, moves) are built in the background, not by its first view
    s.after_load.append(lambda dataset: summary.prepare_in_background(lambda: s.table(dataset)))
    # texts a big load left unscored get scored in the background (one job per dataset), after each load too
    for d in s.datasets():
        ensure_backfill(s, d.id)
    s.after_load.append(lambda dataset: ensure_backfill(s, dataset))
    return s


def sentiment_progress(dataset: str) -> BackfillProgress | None:
    """The dataset's background sentiment scoring (started here when a load, also a later one, left texts
    pending); None when it never had any."""
    return backfill_progress(store(), dataset)


def _sentiment_stamp(view: ViewState) -> tuple[int, str]:
    """Part of the key of results that read sentiment: they are computed again after each scored chunk."""
    p = sentiment_progress(view.dataset or "")
    return (0, "") if p is None else (p.version, p.state)


def datasets() -> list[DatasetInfo]:
    return store().datasets()


def _journeys(view: ViewState, segment: Segment) -> Any:
    events = filter_dates(store().table(view.dataset or ""), view.date_from, view.date_to)
    return journeys_for(events, view.shaping, segment)


def _key(view: ViewState, segment: Segment) -> tuple[Any, ...]:
    info = store().get(view.dataset or "")
    return (info.fingerprint, view.date_from, view.date_to, segment.to_param(), repr(view.shaping))


@st.cache_data(max_entries=256, show_spinner=False)
def _touchpoints(fingerprint: str, shaping_repr: str, _view: ViewState) -> list[str]:
    # names only need the cleaning rules and node level: no sessions, steps or dates to compute
    sh = _view.shaping
    return known_touchpoints(apply_node(apply_rules(store().table(_view.dataset or ""), sh), sh))


def touchpoints(view: ViewState) -> list[str]:
    """Touchpoints after cleaning rules and node level (what the analyses see)."""
    return _touchpoints(store().get(view.dataset or "").fingerprint, repr(view.shaping), view)


@st.cache_data(max_entries=512, show_spinner=False)
def _values(fingerprint: str, column: str, _view: ViewState) -> list[str]:
    t = store().table(_view.dataset or "")
    col = t[column].cast("string")
    top = t.group_by(v=col).aggregate(n=t.count()).order_by([ibis.desc("n"), "v"]).limit(200).to_pandas()
    return [str(v) for v in top.v.dropna()]


def attribute_values(view: ViewState, column: str) -> list[str]:
    """The 200 most frequent values of a column (for filter pickers)."""
    return _values(store().get(view.dataset or "").fingerprint, column, view)


@st.cache_data(max_entries=256, show_spinner=False)
def _transitions(key: tuple[Any, ...], query: GraphQuery, _view: ViewState, _segment: Segment) -> TransitionsResult:
    return compute_transitions(_journeys(_view, _segment), query, goal=_view.shaping.goal)


def transitions(view: ViewState, segment: Segment) -> TransitionsResult:
    return _transitions(_key(view, segment), view.graph, view, segment)


@st.cache_data(max_entries=256, show_spinner=False)
def _paths(key: tuple[Any, ...], query: PathQuery, _view: ViewState, _segment: Segment) -> PathsResult:
    return compute_paths(_journeys(_view, _segment), query, goal=_view.shaping.goal)


def paths(view: ViewState, segment: Segment) -> PathsResult:
    return _paths(_key(view, segment), view.paths, view, segment)


@st.cache_data(max_entries=64, show_spinner=False)
def _node_customers(key: tuple[Any, ...], query: PathQuery, node: str, _view: ViewState, _segment: Segment) -> list[str]:
    return node_customers(_journeys(_view, _segment), query, node)


def customers_through(view: ViewState, segment: Segment, node: str) -> list[str]:
    return _node_customers(_key(view, segment), view.paths, node, view, segment)


@st.cache_data(max_entries=256, show_spinner=False)
def _funnel(key: tuple[Any, ...], query: FunnelQuery, _view: ViewState, _segment: Segment) -> FunnelResult:
    return compute_funnel(_journeys(_view, _segment), query)


def funnel(view: ViewState, segment: Segment, query: FunnelQuery) -> FunnelResult:
    return _funnel(_key(view, segment), query, view, segment)


@st.cache_data(max_entries=64, show_spinner=False)
def _dropped(key: tuple[Any, ...], query: FunnelQuery, step: int, _view: ViewState, _segment: Segment) -> list[str]:
    return list(dropped_customers(_journeys(_view, _segment), query, step).to_pandas().customer_id)


def dropped(view: ViewState, segment: Segment, query: FunnelQuery, step: int) -> list[str]:
    return _dropped(_key(view, segment), query, step, view, segment)


@st.cache_data(max_entries=128, show_spinner=False)
def _journey_map(key: tuple[Any, ...], stages: tuple[tuple[str, str], ...], scale: str, _view: ViewState,
                 _segment: Segment) -> JourneyMapResult:
    return compute_journey_map(_journeys(_view, _segment), stages, goal=_view.shaping.goal, scale=scale)


def journey_map(view: ViewState, segment: Segment, stages: tuple[tuple[str, str], ...]) -> JourneyMapResult:
    return _journey_map(_key(view, segment), stages, view.voice.scale, view, segment)


def forget_results() -> None:
    """After a dataset changes (rename, delete, new load), drop cached listings and results."""
    st.cache_data.clear()


@st.cache_data(max_entries=16, show_spinner=False)
def _report(key: tuple[Any, ...], params: str, link_base: str, _view: ViewState) -> Any:
    from journeys.report.build import build_report

    info = store().get(_view.dataset or "")
    return build_report(store().table(info.id), info, _view, link_base=link_base)


def report(view: ViewState, link_base: str) -> Any:
    """The journey analysis report of this view (a :class:`journeys.report.model.Report`)."""
    return _report(_key(view, view.segment) + _sentiment_stamp(view), repr(sorted(view.to_params().items())),
                   link_base, view)


def _customers_view(view: ViewState) -> ViewState:
    """Drivers describe customers: person scope, whole journeys, every event (the cleaning rules still apply)."""
    return replace(view, shaping=replace(view.shaping, scope="person", cut_at_goal=False, collapse_repeats=False))


@st.cache_data(max_entries=64, show_spinner=False)
def _drivers(key: tuple[Any, ...], query: drv.DriversQuery, what: str, _view: ViewState, _segment: Segment) -> Any:
    j = _journeys(_view, _segment)
    if what == "key":
        return drv.key_touchpoints(j, query)
    if what == "graph":
        return drv.graph_drivers(j, query.outcomes.goals)
    events = filter_dates(store().table(_view.dataset or ""), _view.date_from, _view.date_to)
    return drv.compute_drivers(j, query, end=data_end(events) if query.outcome == "churn" else None, reuse=key,
                               whole=None if _segment.is_empty else _journeys(_view, Segment()))


def drivers(view: ViewState, segment: Segment, query: drv.DriversQuery) -> drv.DriversResult:
    pv = _customers_view(view)
    return _drivers(_key(pv, segment), query, "drivers", pv, segment)


def key_drivers(view: ViewState, segment: Segment, query: drv.DriversQuery) -> drv.DriversResult:
    pv = _customers_view(view)
    return _drivers(_key(pv, segment), query, "key", pv, segment)


def graph_driver_table(view: ViewState, segment: Segment, query: drv.DriversQuery) -> Any:
    pv = _customers_view(view)
    return _drivers(_key(pv, segment), query, "graph", pv, segment)


@st.cache_data(max_entries=64, show_spinner=False)
def _attribution(key: tuple[Any, ...], query: Any, _view: ViewState, _segment: Segment) -> Any:
    from journeys.analyses.attribution import compute_attribution

    return compute_attribution(_journeys(_view, _segment), query, known=touchpoints(_view))


def attribution(view: ViewState, segment: Segment, query: Any) -> Any:
    """Credit for the goal by every model (a :class:`journeys.analyses.attribution.AttributionResult`)."""
    return _attribution(_key(view, segment), query, view, segment)


@st.cache_data(max_entries=64, show_spinner=False)
def _voice(key: tuple[Any, ...], query: Any, _view: ViewState, _segment: Segment) -> Any:
    from journeys.analyses.voice import compute_voice, voice_journeys

    events = filter_dates(store().table(_view.dataset or ""), _view.date_from, _view.date_to)
    return compute_voice(voice_journeys(events, _view.shaping, _segment), query, known=touchpoints(_view))


def voice(view: ViewState, segment: Segment, query: Any) -> Any:
    """The voice of the customer (a :class:`journeys.analyses.voice.VoiceResult`) for a ``VoiceQuery``."""
    return _voice(_key(_customers_view(view), segment) + _sentiment_stamp(view), query, view, segment)


# ---- retention, lifecycle, churn, P(alive): customers' whole journeys; the dataset's end censors a segment too
@st.cache_data(max_entries=64, show_spinner=False)
def _retention_part(key: tuple[Any, ...], query: Any, what: str, _view: ViewState, _segment: Segment) -> Any:
    from journeys.analyses import churn, lifecycle, palive, palive_product, retention

    events = filter_dates(store().table(_view.dataset or ""), _view.date_from, _view.date_to)
    j = _journeys(_view, _segment)
    if what == "retention":
        return retention.compute_retention(j, query, end=data_end(events))
    if what == "lifecycle":
        return lifecycle.compute_lifecycle(j, query, end=data_end(events))
    whole = None if _segment.is_empty else _journeys(_view, Segment())  # a segment keeps everyone's threshold
    if what == "churn":
        return churn.compute_churn(j, query, end=data_end(events), whole=whole)
    if what == "path":  # (ChurnQuery, path): still-active customers ending so
        return churn.customers_on_path(j, query[0], query[1], end=data_end(events), whole=whole)
    query = palive.judged_at(query, data_end(events))
    if what == "palive":
        return palive.compute_palive(j, query, whole=whole)
    return palive_product.customer_value(j, query.purchases, query.until)


def retention_part(view: ViewState, segment: Segment, query: Any, what: str) -> Any:
    """``what``: retention, lifecycle, churn, palive or values (purchase value per buyer) for the matching query."""
    pv = _customers_view(view)
    return _retention_part(_key(pv, segment), query, what, pv, segment)


@st.cache_data(max_entries=32, show_spinner=False)
def _holdout(key: tuple[Any, ...], query: Any, weeks: float, _view: ViewState, _segment: Segment) -> Any:
    from journeys.analyses.palive import judged_at
    from journeys.analyses.palive_product import holdout_check

    events = filter_dates(store().table(_view.dataset or ""), _view.date_from, _view.date_to)
    query = judged_at(query, data_end(events))
    return holdout_check(_journeys(_view, _segment), query, holdout_weeks=weeks)


def holdout(view: ViewState, segment: Segment, query: Any, weeks: float) -> Any:
    pv = _customers_view(view)
    return _holdout(_key(pv, segment), query, weeks, pv, segment)


@st.cache_data(max_entries=64, show_spinner=False)
def _emotion_curve(key: tuple[Any, ...], stages: tuple[tuple[str, str], ...], scale: str, _view: ViewState,
                   _segment: Segment) -> Any:
    from journeys.analyses.voice import compute_curve, voice_journeys

    events = filter_dates(store().table(_view.dataset or ""), _view.date_from, _view.date_to)
    return compute_curve(voice_journeys(events, _view.shaping, _segment), stages, scale)


def emotion_curve(view: ViewState, segment: Segment, stages: tuple[tuple[str, str], ...]) -> Any:
    """Average sentiment and score by stage (a frame like ``VoiceResult.curve``)."""
    return _emotion_curve(_key(_customers_view(view), segment) + _sentiment_stamp(view), stages, view.voice.scale,
                          view, segment)


# ---- predict, next best action, a customer's timeline (issue 12) -------------------------------------------

def _dataset_end(view: ViewState) -> Any:
    """The last event of the dataset in the view's dates: where "open" is judged, whatever the segment."""
    from journeys.outcomes import data_end

    return data_end(filter_dates(store().table(view.dataset or ""), view.date_from, view.date_to))


def _segment_events(view: ViewState, segment: Segment) -> Any:
    from journeys.analyses.predict_features import segment_events

    events = filter_dates(store().table(view.dataset or ""), view.date_from, view.date_to)
    return segment_events(events, segment, view.shaping.goal)


@st.cache_data(max_entries=16, show_spinner=False)
def _predict(key: tuple[Any, ...], query: Any, _view: ViewState, _segment: Segment) -> Any:
    from journeys.analyses.predict import compute_predict

    return compute_predict(_segment_events(_view, _segment), query, end=_dataset_end(_view))


def predict(view: ViewState, segment: Segment, query: Any) -> Any:
    """``PredictResult`` of a ``PredictQuery`` on the segment's customers."""
    return _predict(_key(view, segment), query, view, segment)


@st.cache_data(max_entries=16, show_spinner=False)
def _nba(key: tuple[Any, ...], query: Any, as_of: Any, _view: ViewState, _segment: Segment) -> Any:
    from journeys.analyses.nba import compute_nba

    return compute_nba(_segment_events(_view, _segment), query, as_of=as_of, end=_dataset_end(_view))


def nba(view: ViewState, segment: Segment, query: Any, as_of: Any = None) -> Any:
    """``NBAResult`` of an ``NBAQuery`` on the segment's customers."""
    return _nba(_key(view, segment), query, as_of, view, segment)


@st.cache_data(max_entries=64, show_spinner=False)
def _timeline(fingerprint: str, customer: str, _view: ViewState) -> Any:
    from journeys.analyses.predict import customer_timeline

    return customer_timeline(store().table(_view.dataset or ""), customer)


def timeline(view: ViewState, customer: str) -> Any:
    """(the customer's last 500 events, their number of events)."""
    return _timeline(store().get(view.dataset or "").fingerprint, customer, view)
