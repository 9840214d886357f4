"""Attribution: who gets the credit for the goal's conversions and value, by rule and by Markov removal effect.

A journey's *path* is its touches' ``by`` values (channel, touchpoint or any attribute) in ``(ts, seq)``
order: for a converting journey the touches strictly before its first goal event and within the lookback
window before it; for the others the touches within the window before their last event. Goal events are
never touches, touches whose ``by`` value is missing are left out (and counted). Converting journeys with
no touch in the window cannot be credited; they are counted as ``uncredited``.

The engine returns two small aggregates: distinct paths with their conversions, non-conversions and value
(the same table as an aggregated path dataset), and time-decay credit per (path, item) of converters.
Every model is computed from them in Python: the rules by :mod:`journeys.analyses.attribution_rules`,
Markov by the exact solver in :mod:`journeys.markov`. Bands: ``bootstrap`` resamples of journeys
(multinomial counts over the distinct (path, outcome) cells, so a journey is drawn with its path, outcome
and value), 2.5th and 97.5th percentiles of each item's credit. In a resample, time-decay credit uses
the mean decay shares of converters with the same path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from journeys.analyses.attribution_rules import (
    PATH_MODELS,
    POSITION_PRESETS,
    credit_matrix,
    format_position,
    parse_position,
    warnings_for,
)
from journeys.analyses.attribution_touches import (
    LOOKBACK_DEFAULT,
    VALUE,
    decay_credit,
    exact_sum,
    stored_aggregates,
)
from journeys.analyses.base import materialize, to_frame
from journeys.durations import format_duration, parse_duration
from journeys.errors import QueryError, unknown
from journeys.markov import (
    CONVERSION,
    MAX_ORDER,
    NULL,
    START,
    PathTable,
    design_chain,
    fit_chain,
    removal_effects,
)

if TYPE_CHECKING:
    import scipy.sparse as sp

Model = Literal["first", "last", "linear", "position", "time_decay", "markov"]
MODELS: tuple[Model, ...] = ("first", "last", "linear", "position", "time_decay", "markov")
MODEL_NAMES = {"first": "First touch", "last": "Last touch", "linear": "Linear", "position": "Position-based",
               "time_decay": "Time decay", "markov": "Markov removal effect"}
#: how the chain's own states read on a page (the raw names stay in the CLI, as ChannelAttribution spells them)
STATE_NAMES = {START: "(journey start)", CONVERSION: "(converted)", NULL: "(not converted)"}
HALF_LIFE_DEFAULT = timedelta(days=7)
BOOTSTRAP_DEFAULT = 200
BOOTSTRAP_MAX = 2000
LEVEL = 0.95
CREDIT_COLUMNS = ["model", "item", "conversions", "value", "removal_effect", "ci_low", "ci_high",
                  "value_removal_effect", "value_ci_low", "value_ci_high", "share"]


@dataclass(frozen=True, slots=True)
class AttributionQuery:
    """Credit for reaching any of ``goals``. ``by``: ``channel``, ``touchpoint`` or an attribute column.
    ``lookback`` None = the whole journey. ``position``: (first, middle, last) weights, normalised."""

    goals: tuple[str, ...] = ()
    by: str = "channel"
    models: tuple[Model, ...] = MODELS
    lookback: timedelta | None = LOOKBACK_DEFAULT
    half_life: timedelta = HALF_LIFE_DEFAULT
    position: tuple[float, float, float] = POSITION_PRESETS["U"]
    order: int = 1
    bootstrap: int = BOOTSTRAP_DEFAULT
    seed: int = 0

    def validate(self) -> None:
        bad = [m for m in self.models if m not in MODELS]
        if bad:
            raise unknown("attribution model", bad[0], MODELS)
        if not self.models:
            raise QueryError("Pick at least one attribution model.")
        if not 1 <= self.order <= MAX_ORDER:
            raise QueryError(f"The Markov order must be between 1 and {MAX_ORDER}, not {self.order}.")
        if self.lookback is not None and self.lookback <= timedelta(0):
            raise QueryError("The lookback window must be longer than zero (or 'all').")
        if self.half_life <= timedelta(0):
            raise QueryError("The time-decay half-life must be longer than zero.")
        if len(self.position) != 3 or min(self.position) < 0 or sum(self.position) <= 0:
            raise QueryError("Position weights are three non-negative numbers (first, middle, last), not all zero.")
        if not 0 <= self.bootstrap <= BOOTSTRAP_MAX:
            raise QueryError(f"Bootstrap resamples must be between 0 and {BOOTSTRAP_MAX:,}, not {self.bootstrap}.")

    # ---- the URL (keys in URL_KEYS; goals live in the shared Outcomes spec, not here) ----
    def to_params(self) -> dict[str, str]:
        """Only the settings that differ from the defaults."""
        d = AttributionQuery()
        out = {"aby": self.by if self.by != d.by else None,
               "am": ",".join(self.models) if self.models != d.models else None,
               "alb": ("all" if self.lookback is None else format_duration(self.lookback)) if self.lookback != d.lookback else None,
               "ahl": format_duration(self.half_life) if self.half_life != d.half_life else None,
               "apos": format_position(self.position) if format_position(self.position) != "U" else None,
               "aord": str(self.order) if self.order != d.order else None,
               "abs": str(self.bootstrap) if self.bootstrap != d.bootstrap else None}
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_params(cls, get: Callable[[str], str | None]) -> tuple[AttributionQuery, list[str]]:
        """Read the keys one by one; a value that cannot be used is a sentence and the default stays."""
        q, problems = cls(), []
        readers: dict[str, tuple[str, Callable[[str], Any]]] = {
            "aby": ("by", str), "am": ("models", parse_models), "alb": ("lookback", parse_lookback),
            "ahl": ("half_life", parse_duration), "apos": ("position", parse_position), "aord": ("order", int),
            "abs": ("bootstrap", int)}
        for key, (name, read) in readers.items():
            raw = get(key)
            if not raw:
                continue
            try:
                candidate = replace(q, **{name: read(raw)})
                candidate.validate()
                q = candidate
            except (ValueError, QueryError) as err:
                reason = err.message if isinstance(err, QueryError) else "not a number"
                problems.append(f"The attribution setting {key}='{raw[:40]}' could not be used ({reason}); "
                                "the default applies.")
        return q, problems


URL_KEYS = ("aby", "am", "alb", "ahl", "apos", "aord", "abs")


def parse_lookback(text: str) -> timedelta | None:
    """``30d``, ``12h`` ... or ``all`` (the whole journey)."""
    return None if text.strip().lower() == "all" else parse_duration(text)


def parse_models(text: str) -> tuple[Model, ...]:
    models = tuple(m.strip() for m in text.split(",") if m.strip())
    for m in models:
        if m not in MODELS:
            raise unknown("attribution model", m, MODELS)
    if not models:
        raise QueryError("Pick at least one attribution model.")
    return models  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class AttributionResult:
    """``credits``: one row per (model, item), see :data:`CREDIT_COLUMNS`. ``paths``: the distinct paths
    (``path`` as a tuple, ``conversions``, ``nulls``, ``value``). Counts say what could not be credited."""

    query: AttributionQuery
    credits: pd.DataFrame
    paths: pd.DataFrame
    journeys: int
    conversions: int
    uncredited: int
    value: float | None
    touches_without_item: int
    p_conversion: float | None
    warnings: tuple[str, ...] = field(default=())

    def wide(self, what: str = "conversions") -> pd.DataFrame:
        """Items x models (a column per model, in the query's order)."""
        table = self.credits.pivot_table(index="item", columns="model", values=what, aggfunc="sum")
        return table[[m for m in self.query.models if m in table.columns]]


def _journey_touches(journeys: ir.Table, q: AttributionQuery) -> ir.Table:
    """One row per journey: ``converted``, ``cvalue`` (the first goal event's value), ``end`` (epoch s of that
    goal event, else of the last event) and ``touches``: the (step, epoch s, item) of its events strictly before
    the first goal and within the lookback, sorted by step (the item is null where the event has no ``by`` value).

    Two passes: the journeys' goal and end (a group-by), then their events joined to it, filtered and collected.
    Collected unordered (Spark has no ordered aggregates) and sorted by step. (Filtering a collected list by
    each journey's own goal step inside the engine was 1.6x slower at 10M events.)"""
    j = journeys
    is_goal = j.touchpoint.isin(list(q.goals))
    per = j.group_by("journey_id").aggregate(
        goal_step=ibis.cases((is_goal, j.step), else_=ibis.null("int64")).min(), last_ts=j.ts.max())
    goal = j.filter(is_goal).select(g_id="journey_id", g_step="step", g_ts="ts", g_value="value")
    per = per.left_join(goal, (per.journey_id == goal.g_id) & (per.goal_step == goal.g_step))
    per = materialize(per.select("journey_id", "goal_step", end=ibis.coalesce(per.g_ts, per.last_ts),
                                 converted=per.goal_step.notnull().cast("int64"), cvalue=per.g_value.cast("float64")))
    e = j.select(t_id="journey_id", step="step", ts="ts", item=j[q.by].cast("string"))
    ends = per.select(p_id="journey_id", p_goal="goal_step", p_end="end")
    e = e.join(ends, e.t_id == ends.p_id)
    keep = e.p_goal.isnull() | (e.step < e.p_goal)
    if q.lookback is not None:
        keep &= e.ts >= e.p_end - ibis.interval(seconds=int(q.lookback.total_seconds()))
    e = e.filter(keep)
    touched = e.group_by(k_id="t_id").aggregate(
        touches=ibis.struct({"s": e.step, "t": e.ts.epoch_seconds(), "i": e.item}).collect())
    out = per.left_join(touched, per.journey_id == touched.k_id)
    return out.select("journey_id", "converted", "cvalue", end=out.end.epoch_seconds(),
                      touches=ibis.coalesce(out.touches.sort(), ibis.literal([], type=out.touches.type())))


def _aggregates(journeys: ir.Table, q: AttributionQuery) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Distinct paths, time-decay credit per (path, item) of converters, and overall counts (read off the stored
    paths when ``journeys`` have them, see :mod:`journeys.analyses.attribution_touches`)."""
    fast = stored_aggregates(journeys, q)
    if fast is not None:
        return fast
    per = materialize(_journey_touches(journeys, q))
    per = per.mutate(path=per.touches.filter(lambda x: x.i.notnull()).map(lambda x: x.i))
    paths = per.filter(per.path.length() > 0)
    table = paths.group_by("path").aggregate(
        conversions=paths.converted.sum(), nulls=(1 - paths.converted).sum(),
        value=exact_sum(paths.cvalue.fill_null(0.0), VALUE, where=paths.converted == 1).fill_null(0.0))
    counts = per.aggregate(
        journeys=per.count(), conversions=per.converted.sum(),
        valued=((per.converted == 1) & per.cvalue.notnull()).cast("int64").sum(),
        value=exact_sum(per.cvalue.fill_null(0.0), VALUE, where=per.converted == 1).fill_null(0.0),
        missing=(per.touches.length() - per.path.length()).sum(),
        credited=((per.converted == 1) & (per.path.length() > 0)).cast("int64").sum(),
    )
    decay = pd.DataFrame({"path": [], "item": [], "credit": [], "value": []})
    if "time_decay" in q.models:
        conv = paths.filter(paths.converted == 1)
        rows = conv.select("journey_id", "end", x=conv.touches.unnest())
        rows = rows.filter(rows.x.i.notnull())
        decay = to_frame(decay_credit(rows.select("journey_id", "end", t=rows.x.t, item=rows.x.i),
                                      conv.select("journey_id", "path", "cvalue"), q))
    return to_frame(table), decay, {k: float(v or 0) for k, v in to_frame(counts).iloc[0].to_dict().items()}


def compute_attribution(journeys: ir.Table, query: AttributionQuery, *, span: timedelta | None = None,
                        known: list[str] | None = None) -> AttributionResult:
    """Credit per item and model. An explicit lookback must fit in ``span`` (the data's time span; measured on
    ``journeys`` when not given); ``known`` touchpoints give a did-you-mean for an unknown goal."""
    q = query
    q.validate()
    if not q.goals:
        raise QueryError("Attribution needs a goal touchpoint: the conversion to credit.")
    if q.by not in journeys.columns or q.by in ("journey_id", "customer_id", "ts", "step", "seq"):
        raise unknown("column", q.by, [c for c in journeys.columns if c not in ("journey_id", "ts", "step", "seq")])
    if known is not None:
        for g in q.goals:
            if g not in known:
                raise unknown("touchpoint", g, known)
    if q.lookback is not None and q.lookback != LOOKBACK_DEFAULT and span is None:
        ends = to_frame(journeys.aggregate(lo=journeys.ts.min(), hi=journeys.ts.max())).iloc[0]
        span = (pd.Timestamp(ends.hi) - pd.Timestamp(ends.lo)).to_pytimedelta() if pd.notna(ends.lo) else None
    if span is not None and q.lookback is not None and q.lookback != LOOKBACK_DEFAULT and q.lookback > span:
        raise QueryError(f"The lookback of {_days(q.lookback)} is longer than the data, which spans {_days(span)}.",
                         hint="Use a shorter lookback, or 'all' for the whole journey.")
    table, decay, counts = _aggregates(journeys, q)
    if counts["conversions"] == 0:
        goals = " or ".join(f"'{g}'" for g in q.goals)
        raise QueryError(f"Nobody reached the goal {goals} in these journeys, so there is nothing to credit.",
                         hint="Pick another goal, a wider date range or another segment.")
    # the engine returns groups in any order: sort them, so the bootstrap draws (and bands) repeat exactly
    table = table.assign(path=[tuple(str(x) for x in p) for p in table.path]).sort_values("path", ignore_index=True)
    pt = PathTable(tuple(table.path), table.conversions.to_numpy(float), table.nulls.to_numpy(float),
                   table.value.to_numpy(float))
    return _fit(q, pt, decay, counts)


def _days(td: timedelta) -> str:
    days = td.total_seconds() / 86400
    return f"{days:,.0f} days" if days >= 1 else f"{td.total_seconds() / 3600:,.1f} hours"


def _fit(q: AttributionQuery, pt: PathTable, decay: pd.DataFrame, counts: dict[str, float]) -> AttributionResult:
    """Every model's credit on the distinct paths, bootstrap bands and the warnings."""
    items = pt.channels
    converting = {c for p, k in zip(pt.paths, pt.conversions, strict=True) if k > 0 for c in p}
    if len(converting) < 2:
        only = f" ('{next(iter(converting))}')" if converting else ""
        raise QueryError(f"Only one {q.by}{only} appears before the conversions, so there is no credit to share.",
                         hint=f"Credit another column than '{q.by}', or widen the lookback window.")
    longest = max((len(p) for p in pt.paths), default=0)
    if "markov" in q.models and q.order > 1 and longest < q.order:
        raise QueryError(f"Markov order {q.order} is too high for this data: the longest path has {longest} "
                         f"touch{'es' if longest != 1 else ''}.", hint="Use a lower order.")
    evaluate = _evaluator(q, pt, decay, items)
    conv_n, null_n = pt.conversions, pt.nulls
    per_conv = np.divide(pt.values, conv_n, out=np.zeros_like(conv_n), where=conv_n > 0)
    point_c, point_v, (effects, value_effects), fx = evaluate(conv_n, null_n, pt.values)
    bands = _bands(q, conv_n, null_n, per_conv, evaluate)
    has_value = counts.get("valued", 0) > 0
    rows = []
    total = max(float(conv_n.sum()), 1.0)
    for m, model in enumerate(q.models):
        for i, item in enumerate(items):
            lo_c, hi_c, lo_v, hi_v = (bands[k][m, i] if bands else np.nan for k in range(4))
            rows.append({"model": model, "item": item, "conversions": point_c[m, i],
                         "value": point_v[m, i] if has_value else np.nan,
                         "removal_effect": effects.get(item, 0.0) if model == "markov" else np.nan,
                         "ci_low": lo_c, "ci_high": hi_c,
                         "value_removal_effect": value_effects.get(item, 0.0) if model == "markov" and has_value else np.nan,
                         "value_ci_low": lo_v if has_value else np.nan,
                         "value_ci_high": hi_v if has_value else np.nan, "share": point_c[m, i] / total})
    credits = pd.DataFrame(rows, columns=CREDIT_COLUMNS)
    paths = pd.DataFrame({"path": list(pt.paths), "conversions": conv_n, "nulls": null_n, "value": pt.values})
    return AttributionResult(
        query=q, credits=credits,
        paths=paths.sort_values(["conversions", "nulls"], ascending=False).reset_index(drop=True),
        journeys=int(counts["journeys"]), conversions=int(counts["conversions"]),
        uncredited=int(counts["conversions"] - counts["credited"]),
        value=float(counts["value"]) if has_value else None, touches_without_item=int(counts["missing"]),
        p_conversion=fx if "markov" in q.models else None,
        warnings=tuple(warnings_for(q, pt, counts, effects, converting)),
    )


Effects = tuple[dict[str, float], dict[str, float]]  # Markov removal effects on conversions, on value
Evaluator = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, Effects, float]]


def _evaluator(q: AttributionQuery, pt: PathTable, decay: pd.DataFrame, items: list[str]) -> Evaluator:
    """A function of path weights (conversions, nulls, value) -> models x items credit, removal effects, P(conv)."""
    import scipy.sparse as sp  # loads with a model, not with every page
    pos = {c: i for i, c in enumerate(items)}
    conv_n = pt.conversions
    per_conv = np.divide(pt.values, conv_n, out=np.zeros_like(conv_n), where=conv_n > 0)
    mats: dict[str, tuple[sp.csr_matrix, sp.csr_matrix]] = {}
    for m in q.models:
        if m in PATH_MODELS:
            cm = credit_matrix(pt.paths, items, m, q.position)
            mats[m] = (cm, sp.csr_matrix(cm.multiply(per_conv[:, None])))
    if "time_decay" in q.models:
        index = {p: r for r, p in enumerate(pt.paths)}
        rows = [index[tuple(str(x) for x in p)] for p in decay.path]
        cols = [pos[str(x)] for x in decay["item"]]
        per = np.where(conv_n > 0, conv_n, 1.0)
        shape = (len(pt.paths), len(items))
        credit = decay.credit.to_numpy(float) / per[rows] if rows else np.array([])
        value = decay.value.to_numpy(float) / per[rows] if rows else np.array([])
        mats["time_decay"] = (sp.csr_matrix((credit, (rows, cols)), shape=shape),
                              sp.csr_matrix((value, (rows, cols)), shape=shape))
    design = design_chain(pt, q.order) if "markov" in q.models else None

    def evaluate(conv: np.ndarray, nulls: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, Effects, float]:
        c = np.zeros((len(q.models), len(items)))
        v = np.zeros_like(c)
        effects: Effects = ({}, {})
        p_conv = float("nan")
        for m, model in enumerate(q.models):
            if model == "markov" and design is not None:
                fx = removal_effects(fit_chain(design, conv, nulls, values))
                effects, p_conv = (fx.removal_effect, fx.value_removal_effect), fx.p_conversion
                for item, k in fx.conversions.items():
                    c[m, pos[item]] = k
                for item, k in fx.value.items():
                    v[m, pos[item]] = k
            else:
                cm, vm = mats[model]
                c[m] = cm.T @ conv
                v[m] = vm.T @ conv
        return c, v, effects, p_conv

    return evaluate


def _bands(q: AttributionQuery, conv: np.ndarray, nulls: np.ndarray, per_conv: np.ndarray,
           evaluate: Evaluator) -> list[np.ndarray] | None:
    """2.5th / 97.5th percentiles of credit over ``q.bootstrap`` resamples of journeys (conversions, value)."""
    if q.bootstrap <= 0:
        return None
    cells = np.concatenate([conv, nulls])
    n = int(cells.sum())
    rng = np.random.default_rng(q.seed)
    draws_c, draws_v = [], []
    for _ in range(q.bootstrap):
        draw = rng.multinomial(n, cells / n).astype(float)
        c_w, n_w = draw[: len(conv)], draw[len(conv):]
        c, v, _, _ = evaluate(c_w, n_w, c_w * per_conv)
        draws_c.append(c)
        draws_v.append(v)
    tail = (1 - LEVEL) / 2 * 100
    lo_c, hi_c = np.percentile(np.stack(draws_c), [tail, 100 - tail], axis=0)
    lo_v, hi_v = np.percentile(np.stack(draws_v), [tail, 100 - tail], axis=0)
    return [lo_c, hi_c, lo_v, hi_v]
