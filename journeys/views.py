"""The dashboard's view state as plain data: URL query parameters <-> specs.

This codec is the single source of truth for shareable links: a link is the dataset id plus the
segment, shaping and analysis specs, with only non-default values written. Reading a link never
fails: unknown or stale parameters are reported as sentences and fall back to defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir

from journeys.act_view import URL_KEYS as ACT_KEYS
from journeys.act_view import ActPage
from journeys.analyses.attribution import URL_KEYS as ATTRIBUTION_KEYS
from journeys.analyses.attribution import AttributionQuery
from journeys.analyses.drivers import URL_KEYS as DRIVERS_KEYS
from journeys.analyses.drivers import DriversQuery
from journeys.analyses.funnels import WINDOW_DEFAULT, Exclusion, FunnelQuery
from journeys.analyses.journey_map import edited_stages, parse_stage_edit
from journeys.analyses.paths import PathQuery
from journeys.analyses.transitions import GraphQuery
from journeys.analyses.voice import URL_KEYS as VOICE_KEYS
from journeys.analyses.voice import VoicePage
from journeys.durations import format_duration, parse_duration
from journeys.errors import JourneyError, QueryError, did_you_mean
from journeys.outcomes import URL_KEYS as OUTCOME_KEYS
from journeys.outcomes import Outcomes
from journeys.retention_view import URL_KEYS as RETENTION_KEYS
from journeys.retention_view import RetentionPage
from journeys.segments import Segment
from journeys.shaping import DEFAULT_SESSION_GAP, Shaping

Params = Mapping[str, Sequence[str]]
GRAPH_TOP_DEFAULT = 30  # the dashboard draws the 30 heaviest edges until people ask for all: no hairball


@dataclass(frozen=True, slots=True)
class ViewState:
    """Everything a view depends on. ``page`` is not here: it is the URL path."""

    dataset: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    segment: Segment = field(default_factory=Segment)
    segment_b: Segment = field(default_factory=Segment)
    shaping: Shaping = field(default_factory=Shaping)
    paths: PathQuery = field(default_factory=PathQuery)
    pct: str = "start"
    funnel_steps: tuple[tuple[str, ...], ...] = ()
    funnel_window: timedelta = WINDOW_DEFAULT
    funnel_order: str = "sequential"
    funnel_exclusions: tuple[Exclusion, ...] = ()
    funnel_step_windows: tuple[timedelta | None, ...] = ()
    breakdown: str | None = None
    trend: str | None = None
    funnel_drop: int | None = None  # the step whose drop-offs the funnel page drills into (None: the biggest)
    attribution_show: str = "conversions"  # the Attribution chart: conversions or value credited
    driver_pick: str | None = None  # the driver the Drivers page opens as a segment (None: the first ranked)
    graph: GraphQuery = field(default_factory=lambda: GraphQuery(top_k=GRAPH_TOP_DEFAULT))
    compare: str = "funnel"
    outcomes: Outcomes = field(default_factory=Outcomes)
    drivers: DriversQuery = field(default_factory=DriversQuery)  # its outcomes come from ``outcomes``
    attribution: AttributionQuery = field(default_factory=AttributionQuery)  # its goals come from ``outcomes``
    retention: RetentionPage = field(default_factory=RetentionPage)  # returns and churn come from ``outcomes``
    voice: VoicePage = field(default_factory=VoicePage)  # its goals and churn come from ``outcomes``
    act: ActPage = field(default_factory=ActPage)  # predict, act and customer pages; outcomes from ``outcomes``
    stage_edits: tuple[tuple[str, str], ...] = ()  # the Journey map's corrections of the guessed stages

    def stages(self, touchpoints: list[str]) -> tuple[tuple[str, str], ...]:
        """Each touchpoint's stage as the Journey map page shows it: guessed from names, then the edits."""
        return edited_stages(touchpoints, self.stage_edits)

    def funnel(self) -> FunnelQuery | None:
        if not self.funnel_steps:
            return None
        return FunnelQuery(steps=self.funnel_steps, window=self.funnel_window, order=self.funnel_order,  # type: ignore[arg-type]
                           exclusions=self.funnel_exclusions, breakdown=self.breakdown, trend=self.trend,  # type: ignore[arg-type]
                           step_windows=self.funnel_step_windows,
                           count_by="session" if self.shaping.scope == "session" else "customer")

    # ---- encoding -------------------------------------------------------------------------------
    def effective_outcomes(self) -> Outcomes:
        """The view's outcomes; without goals of their own, the sidebar's goal is the purchase whose gaps set the
        default inactivity threshold (so every page finds the same churn definition)."""
        o, goal = self.outcomes, self.shaping.goal
        return o if o.goals or not goal else replace(o, goals=(goal,))

    def to_params(self) -> dict[str, str | list[str]]:
        d, sh, p = ViewState(), self.shaping, self.paths
        out: dict[str, str | list[str]] = {}

        def put(key: str, value: Any, default: Any) -> None:
            if value != default and value is not None:
                out[key] = value if isinstance(value, list) else str(value)

        put("ds", self.dataset, None)
        put("from", self.date_from.isoformat() if self.date_from else None, None)
        put("to", self.date_to.isoformat() if self.date_to else None, None)
        put("seg", None if self.segment.is_empty else self.segment.to_param(), None)
        put("segb", None if self.segment_b.is_empty else self.segment_b.to_param(), None)
        put("scope", sh.scope, "person")
        put("gap", format_duration(sh.session_gap), format_duration(DEFAULT_SESSION_GAP))
        put("collapse", "1" if sh.collapse_repeats else None, None)
        put("goal", sh.goal, None)
        put("cut", "1" if sh.cut_at_goal else None, None)
        put("node", sh.node, "touchpoint")
        put("rule", [f"{a}={b}" for a, b in sh.rules], [])
        put("excl", list(sh.exclude), [])
        put("anchor", p.anchor, "start")
        put("start", p.start, None)
        put("end", p.end, None)
        put("depth", p.depth, d.paths.depth)
        put("top", p.top, d.paths.top)
        put("ms", p.min_steps, None)
        put("pct", self.pct, "start")
        put("steps", ",".join("|".join(s) for s in self.funnel_steps) or None, None)
        put("window", format_duration(self.funnel_window), format_duration(WINDOW_DEFAULT))
        put("order", self.funnel_order, "sequential")
        put("fx", [f"{'|'.join(e.touchpoints)}:{e.after}:{e.before}" for e in self.funnel_exclusions], [])
        put("sw", ",".join(format_duration(w) if w else "-" for w in self.funnel_step_windows) or None, None)
        put("bd", self.breakdown, None)
        put("trend", self.trend, None)
        put("fdrop", self.funnel_drop, None)
        put("ashow", self.attribution_show, "conversions")
        put("dpick", self.driver_pick, None)
        put("minw", self.graph.min_weight, 1)
        put("topk", "all" if self.graph.top_k is None else self.graph.top_k, d.graph.top_k)
        put("cmp", self.compare, "funnel")
        put("stg", [f"{tp}={stage}" for tp, stage in self.stage_edits], [])
        out.update(self.outcomes.to_params())
        out.update(self.drivers.to_params())
        out.update(self.attribution.to_params())
        out.update(self.retention.to_params())
        out.update(self.voice.to_params())
        out.update(self.act.to_params())
        return out

    @classmethod
    def from_params(cls, params: Params) -> tuple[ViewState, list[str]]:
        """Decode a link; ``problems`` explains each parameter that was ignored."""
        problems: list[str] = []
        known = {"ds", "from", "to", "seg", "segb", "scope", "gap", "collapse", "goal", "cut", "node", "rule", "excl",
                 "anchor", "start", "end", "depth", "top", "ms", "pct", "steps", "window", "order", "fx", "sw", "bd", "trend",
                 "minw", "topk", "cmp", "fdrop", "ashow", "dpick", "stg", *OUTCOME_KEYS, *DRIVERS_KEYS, *ATTRIBUTION_KEYS,
                 *RETENTION_KEYS, *VOICE_KEYS, *ACT_KEYS}
        for key in params:
            if key not in known:
                problems.append(f"The link parameter '{_echo(key)}' is not known and was ignored.{did_you_mean(key, known)}")

        def one(key: str) -> str | None:
            vals = params.get(key) or []
            return vals[-1] if vals else None

        view = cls()

        def attempt(key: str, apply: Any, what: str = "") -> None:
            nonlocal view
            raw = one(key)
            if raw is None or raw == "":
                return
            try:
                view = apply(view, raw)
            except (ValueError, JourneyError, KeyError, TypeError) as err:
                reason = err.message if isinstance(err, JourneyError) else str(err)
                problems.append(f"The {what} in the link could not be read, so {_FALLBACK.get(key, 'the default applies')}."
                                if what else f"The link parameter {key}='{_echo(raw)}' could not be used ({_echo(reason)}); "
                                f"{_FALLBACK.get(key, 'the default applies')}.")

        def choice(options: Sequence[str]) -> Any:
            def check(raw: str) -> str:
                if raw not in options:
                    raise ValueError(f"expected one of {', '.join(options)}")
                return raw
            return check

        def sh(**kw: Any) -> Any:
            return lambda v, raw: replace(v, shaping=replace(v.shaping, **{k: f(raw) for k, f in kw.items()}))

        def pq(**kw: Any) -> Any:
            def apply(v: ViewState, raw: str) -> ViewState:
                q = replace(v.paths, **{k: f(raw) for k, f in kw.items()})
                q.validate() if kw.keys() & {"depth", "top", "min_steps"} else None
                return replace(v, paths=q)
            return apply

        attempt("ds", lambda v, raw: replace(v, dataset=raw))
        attempt("from", lambda v, raw: replace(v, date_from=date.fromisoformat(raw)))
        attempt("to", lambda v, raw: replace(v, date_to=date.fromisoformat(raw)))
        attempt("seg", lambda v, raw: replace(v, segment=Segment.from_param(raw)), "segment")
        attempt("segb", lambda v, raw: replace(v, segment_b=Segment.from_param(raw)), "segment B")
        attempt("scope", sh(scope=choice(["person", "session"])))
        attempt("gap", sh(session_gap=parse_duration))
        attempt("collapse", sh(collapse_repeats=lambda r: r == "1"))
        attempt("goal", sh(goal=str))
        attempt("cut", sh(cut_at_goal=lambda r: r == "1"))
        attempt("node", sh(node=choice(["touchpoint", "touchpoint_channel", "channel", "stage"])))
        rules = params.get("rule") or []
        if rules:
            attempt("rule", lambda v, _raw: replace(v, shaping=replace(v.shaping, rules=tuple(_rule(r) for r in rules))))
        excl = [e for e in params.get("excl") or [] if e]
        if excl:
            view = replace(view, shaping=replace(view.shaping, exclude=tuple(excl)))
        attempt("anchor", pq(anchor=choice(["start", "from", "to", "between"])))
        attempt("start", pq(start=str))
        attempt("end", pq(end=str))
        attempt("depth", pq(depth=int))
        attempt("top", pq(top=int))
        attempt("ms", pq(min_steps=int))
        attempt("pct", lambda v, raw: replace(v, pct=choice(["start", "prev"])(raw)))
        attempt("steps", lambda v, raw: replace(v, funnel_steps=_steps(raw)))
        attempt("window", lambda v, raw: replace(v, funnel_window=_window(parse_duration(raw))))
        attempt("order", lambda v, raw: replace(v, funnel_order=choice(["strict", "sequential", "any"])(raw)))
        fx = params.get("fx") or []
        if fx:
            attempt("fx", lambda v, _raw: replace(v, funnel_exclusions=tuple(parse_exclusion(x) for x in fx)))
        attempt("sw", lambda v, raw: replace(v, funnel_step_windows=parse_step_windows(raw)))
        attempt("bd", lambda v, raw: replace(v, breakdown=raw))
        attempt("trend", lambda v, raw: replace(v, trend=choice(["day", "week", "month"])(raw)))
        attempt("fdrop", lambda v, raw: replace(v, funnel_drop=max(1, int(raw))))
        attempt("ashow", lambda v, raw: replace(v, attribution_show=choice(["conversions", "value"])(raw)))
        attempt("dpick", lambda v, raw: replace(v, driver_pick=raw))
        attempt("minw", lambda v, raw: replace(v, graph=replace(v.graph, min_weight=max(1, int(raw)))))
        attempt("topk", lambda v, raw: replace(v, graph=replace(v.graph, top_k=None if raw == "all" else max(1, int(raw)))))
        attempt("cmp", lambda v, raw: replace(v, compare=choice(["funnel", "paths", "graph"])(raw)))
        stg = [e for e in params.get("stg") or [] if e]
        if stg:
            attempt("stg", lambda v, _raw: replace(v, stage_edits=tuple(parse_stage_edit(e) for e in stg)))
        outcomes, outcome_problems = Outcomes.from_params(params)
        view = replace(view, outcomes=outcomes)
        drivers, drivers_problems = DriversQuery.from_params(params, Outcomes())
        view = replace(view, drivers=drivers)
        problems += drivers_problems
        attribution, attribution_problems = AttributionQuery.from_params(lambda k: next(reversed(params.get(k) or []), None))
        view = replace(view, attribution=attribution)
        problems += attribution_problems
        retention, retention_problems = RetentionPage.from_params(params)
        view = replace(view, retention=retention)
        problems += retention_problems
        voice, voice_problems = VoicePage.from_params(params)
        view = replace(view, voice=voice)
        problems += voice_problems
        act, act_problems = ActPage.from_params(params)
        view = replace(view, act=act)
        problems += act_problems
        problems += outcome_problems
        if view.date_from and view.date_to and view.date_from > view.date_to:
            problems.append(f"The date range in the link ends ({view.date_to}) before it starts ({view.date_from}), "
                            "so the whole date range is shown.")
            view = replace(view, date_from=None, date_to=None)
        try:
            view.shaping.validate()
        except JourneyError as err:
            problems.append(f"The journey shaping in the link was reset ({err}).")
            view = replace(view, shaping=Shaping())
        return view, problems


_FALLBACK = {"seg": "no segment is applied (all customers)", "segb": "segment B is everyone not in segment A",
             "from": "the dataset's first day is used", "to": "the dataset's last day is used",
             "stg": "the journey map's stages are guessed from names"}


def _echo(text: str, limit: int = 60) -> str:
    """A link value quoted back: one line, shortened."""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _rule(text: str) -> tuple[str, str]:
    pattern, sep, alias = text.rpartition("=")
    if not sep or not pattern:
        raise ValueError("a rule is REGEX=ALIAS")
    return pattern, alias


def _steps(text: str) -> tuple[tuple[str, ...], ...]:
    steps = tuple(tuple(t for t in s.split("|") if t) for s in text.split(","))
    if any(not s for s in steps):
        raise ValueError("a funnel step is empty")
    FunnelQuery(steps=steps).validate()
    return steps


def _window(td: timedelta) -> timedelta:
    FunnelQuery(steps=(("x",),), window=td).validate()
    return td


def parse_exclusion(text: str) -> Exclusion:
    """``TOUCHPOINT[|TOUCHPOINT]:AFTER:BEFORE`` (the link's ``fx``, the command line's ``--exclusion``)."""
    try:
        tps, after, before = text.rsplit(":", 2)
        return Exclusion(tuple(t for t in tps.split("|") if t), int(after), int(before))
    except ValueError as err:
        raise QueryError(f"'{text}' is not an exclusion: write TOUCHPOINT[|TOUCHPOINT]:AFTER:BEFORE, for example "
                         "chat:2:3 (a chat after step 2 and before step 3 stops the journey at step 2).") from err


def parse_step_windows(text: str) -> tuple[timedelta | None, ...]:
    """``-,3m,1h``: each step's own window from the previous step, ``-`` for none (link ``sw``, ``--step-windows``)."""
    return tuple(None if w.strip() in ("-", "") else parse_duration(w) for w in text.split(","))


def filter_dates(events: ir.Table, start: date | None, end: date | None) -> ir.Table:
    """Events on or after ``start`` and on or before ``end`` (whole days, UTC).

    The stored steps and next events describe whole journeys, so a date range drops them and the
    journeys are renumbered within the range: a journey starts at its first event in the range.
    """
    if start or end:
        events = events.drop(*[c for c in ("step", "next_touchpoint", "next_ts") if c in events.columns])
    if start:
        events = events.filter(events.ts >= ibis.timestamp(f"{start.isoformat()} 00:00:00"))
    if end:
        events = events.filter(events.ts < ibis.timestamp(f"{(end + timedelta(days=1)).isoformat()} 00:00:00"))
    return events

