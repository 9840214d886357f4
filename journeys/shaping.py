"""Journey shaping: how raw events become the journeys every analysis counts.

Applied before every analysis and part of its cache key: path-cleaning rules (regex -> alias) and
exclusions, the node level (touchpoint, touchpoint x channel, channel or stage), person or session
scope (sessions by inactivity gap or by the session column), collapsing consecutive repeats, and
cutting journeys at a goal touchpoint. Every step is an Ibis expression, so it runs in the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal

import ibis
import ibis.expr.types as ir

from journeys.errors import QueryError

Scope = Literal["person", "session"]
NodeLevel = Literal["touchpoint", "touchpoint_channel", "channel", "stage"]
DEFAULT_SESSION_GAP = timedelta(minutes=30)
DEFAULT_STAGES = ("awareness", "consideration", "purchase", "retention")
OTHER_STAGE = "other"
NODE_SEP = " · "


@dataclass(frozen=True, slots=True)
class Shaping:
    """How to turn events into journeys. The default is one journey per customer, events as they are.

    Examples:
        >>> Shaping(scope="session", collapse_repeats=True).is_default
        False
    """

    scope: Scope = "person"
    session_by: Literal["gap", "column"] = "gap"
    session_gap: timedelta = DEFAULT_SESSION_GAP
    collapse_repeats: bool = False
    rules: tuple[tuple[str, str], ...] = ()
    exclude: tuple[str, ...] = ()
    node: NodeLevel = "touchpoint"
    stages: tuple[tuple[str, str], ...] = ()
    goal: str | None = None
    cut_at_goal: bool = False

    @property
    def is_default(self) -> bool:
        return self.with_goal(None) == Shaping()

    def with_goal(self, goal: str | None) -> Shaping:
        return replace(self, goal=goal, cut_at_goal=self.cut_at_goal and goal is not None)

    def validate(self) -> None:
        if self.session_gap <= timedelta(0):
            raise QueryError("The session gap must be positive.")
        if self.cut_at_goal and not self.goal:
            raise QueryError("Cutting journeys at the goal needs a goal touchpoint.")
        if self.node == "stage" and not self.stages:
            raise QueryError("Stage-level journeys need a touchpoint -> stage mapping.")


def _window(t: ir.Table, key: str = "journey_id", **kw: Any) -> Any:
    return ibis.window(group_by=t[key], order_by=[t.ts, t.seq], **kw)


def apply_rules(t: ir.Table, shaping: Shaping) -> ir.Table:
    """Exclusions first (regex on the original name), then the first matching alias rule wins."""
    for pattern in shaping.exclude:
        t = t.filter(~t.touchpoint.re_search(pattern))
    if shaping.rules:
        cases = [(t.touchpoint.re_search(pattern), ibis.literal(alias)) for pattern, alias in shaping.rules]
        t = t.mutate(touchpoint=ibis.cases(*cases, else_=t.touchpoint))
    return t


def stage_expr(t: ir.Table, stages: tuple[tuple[str, str], ...]) -> ir.Value:
    """Stage of each event's touchpoint; unmapped touchpoints are ``other``."""
    if not stages:
        return ibis.literal(OTHER_STAGE)
    return ibis.cases(*[(t.touchpoint == tp, ibis.literal(st)) for tp, st in stages], else_=ibis.literal(OTHER_STAGE))


def apply_node(t: ir.Table, shaping: Shaping) -> ir.Table:
    if shaping.node == "touchpoint_channel":
        return t.mutate(touchpoint=t.touchpoint.concat(NODE_SEP, t.channel.fill_null("(none)")))
    if shaping.node == "channel":
        return t.mutate(touchpoint=t.channel.fill_null("(none)"))
    if shaping.node == "stage":
        return t.mutate(touchpoint=stage_expr(t, shaping.stages))
    return t


def apply_scope(t: ir.Table, shaping: Shaping) -> ir.Table:
    """Add ``journey_id``: the customer, or customer + session number."""
    if shaping.scope == "person":
        return t.mutate(journey_id=t.customer_id)
    if shaping.session_by == "column":
        return t.mutate(journey_id=t.customer_id.concat("#", t.session_id.fill_null("(none)")))
    w = ibis.window(group_by=t.customer_id, order_by=[t.ts, t.seq])
    secs = t.ts.epoch_seconds()
    gap = int(shaping.session_gap.total_seconds())
    prev_secs, prev_tp = secs.lag().over(w), t.touchpoint.lag().over(w)
    t = t.mutate(_new=ibis.ifelse(prev_secs.isnull() | (secs - prev_secs > gap), 1, 0), _prev_tp=prev_tp)
    # the same pass tells collapse_repeats which events repeat their predecessor inside the session
    t = t.mutate(_repeat=(t._new == 0) & (t.touchpoint == t._prev_tp).fill_null(False))
    w2 = ibis.window(group_by=t.customer_id, order_by=[t.ts, t.seq], rows=(None, 0))
    t = t.mutate(_sess=t._new.sum().over(w2))
    return t.mutate(journey_id=t.customer_id.concat("#", t._sess.cast("string"))).drop("_new", "_sess", "_prev_tp")


def collapse_repeats(t: ir.Table) -> ir.Table:
    """Drop an event when the previous event of the same journey has the same node."""
    if "_repeat" in t.columns:  # gap sessions computed it in their own pass
        return t.filter(~t._repeat).drop("_repeat")
    t = t.mutate(_prev=t.touchpoint.lag().over(_window(t)))  # a column first: Spark cannot filter on a window
    return t.filter(t._prev.isnull() | (t.touchpoint != t._prev)).drop("_prev")


def number_steps(t: ir.Table) -> ir.Table:
    """Recompute ``step`` (1-based), ``next_touchpoint`` and ``next_ts`` inside each journey."""
    w = _window(t)
    return t.mutate(step=ibis.row_number().over(w) + 1, next_touchpoint=t.touchpoint.lead().over(w),
                    next_ts=t.ts.lead().over(w))


def cut_at_goal(t: ir.Table, goal: str) -> ir.Table:
    """Keep each journey up to and including its first goal event."""
    first = ibis.cases((t.touchpoint == goal, t.step), else_=ibis.null("int64")).min().over(ibis.window(group_by=t.journey_id))
    t = t.mutate(_goal_step=first)
    t = t.filter(t._goal_step.isnull() | (t.step <= t._goal_step)).drop("_goal_step")
    return t.mutate(next_touchpoint=ibis.ifelse(t.touchpoint == goal, ibis.null("string"), t.next_touchpoint),
                    next_ts=ibis.ifelse(t.touchpoint == goal, ibis.null("timestamp"), t.next_ts))


def shape(events: ir.Table, shaping: Shaping) -> ir.Table:
    """Events as journeys: ``journey_id``, ordered ``step``, ``next_touchpoint`` and ``next_ts`` per event.

    A stored dataset already carries steps for the default shaping, so that case is a plain projection.
    """
    shaping.validate()
    have_steps = {"step", "next_touchpoint", "next_ts"} <= set(events.columns)
    t = apply_rules(events, shaping)
    t = apply_node(t, shaping)
    t = apply_scope(t, shaping)
    if shaping.collapse_repeats:
        t = collapse_repeats(t)
    elif "_repeat" in t.columns:
        t = t.drop("_repeat")
    changed = bool(shaping.rules or shaping.exclude or shaping.node != "touchpoint" or shaping.scope != "person"
                   or shaping.collapse_repeats)
    if changed or not have_steps:
        t = number_steps(t)
    if shaping.cut_at_goal and shaping.goal:
        t = cut_at_goal(t, shaping.goal)
    return t
