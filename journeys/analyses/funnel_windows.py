"""Funnel attempts by window functions, on every backend (Spark has no ASOF join; DuckDB's sequential funnels
use :mod:`journeys.analyses.funnel_asof`), and what both paths share: the attempts' starts, the step windows.
The counting rule is in :mod:`journeys.analyses.funnels`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir

if TYPE_CHECKING:
    from journeys.analyses.funnels import FunnelQuery


def _next_position(e: ir.Table, touchpoints: tuple[str, ...]) -> ir.Value:
    """Position of the first event in ``touchpoints`` strictly after each event of its journey."""
    w = ibis.window(group_by=e.journey_id, order_by=e.step, rows=(1, None))
    return ibis.cases((e.touchpoint.isin(list(touchpoints)), e.step), else_=ibis.null("int64")).min().over(w)


def starts(e: ir.Table, q: FunnelQuery, also_by: tuple[str, ...], carry: list[str]) -> ir.Table:
    """One row per step-1 event: the start of an attempt."""
    start = e.filter(e.touchpoint.isin(list(q.steps[0])))
    return start.select(
        "journey_id", "customer_id", p1="step", t1="tsec", entry="ts", after1="next_touchpoint",
        nt1="next_touchpoint",
        bd=start[q.breakdown].cast("string") if q.breakdown else ibis.null("string"),
        **{f"bd{i}": start[col].cast("string") for i, col in enumerate(also_by)},
        **{f"{c}_1": start[c] for c in carry},
    )


def window_attempts(journeys: ir.Table, q: FunnelQuery, also_by: tuple[str, ...], window: int) -> ir.Table:
    """Every attempt, by windows over the funnel's events (every backend; see :mod:`funnel_asof` for DuckDB)."""
    n = len(q.steps)
    needs = set(range(2, n + 1)) if q.order != "strict" else set()
    extra = {f"nx{k}": _next_position(journeys, q.steps[k - 1]) for k in sorted(needs)}
    extra |= {f"ex{i}": _next_position(journeys, ex.touchpoints) for i, ex in enumerate(q.exclusions)}
    e = journeys.mutate(tsec=journeys.ts.epoch_seconds(), **extra)
    carry = [c for c in e.columns if c.startswith(("nx", "ex"))]
    a = starts(e, q, also_by, carry)
    look = e.select(j_id="journey_id", j_step="step", j_t="tsec", j_nt="next_touchpoint",
                    **{f"j_{c}": e[c] for c in carry})
    if q.order == "any" or n == 1:
        return _any_order(a, look, q, carry, window)
    return _linked(a, _chains(e, look, q, carry), q, window)


def step_window(q: FunnelQuery, k: int) -> int | None:
    sw = q.step_windows[k - 1] if k - 1 < len(q.step_windows) else None
    return int(sw.total_seconds()) if sw is not None else None


def _follow(t: ir.Table, look: ir.Table, q: FunnelQuery, carry: list[str], k: int, key: str) -> ir.Table:
    """Step ``k`` of each row of ``t`` (which holds step ``k - 1``): the greedy next position, joined to
    that event's time, next touchpoint and next-position columns. ``key`` names the journey column."""
    prev = k - 1
    if q.order == "strict":
        cand = ibis.ifelse(t[f"nt{prev}"].isin(list(q.steps[k - 1])), t[f"p{prev}"] + 1, ibis.null("int64"))
    elif q.order == "sequential":
        cand = t[f"nx{k}_{prev}"]
    else:
        cand = t[f"nx{k}_1"]
    t = t.mutate(_c=ibis.ifelse(t[f"p{prev}"].notnull(), cand, ibis.null("int64")))
    t = t.left_join(look, [t[key] == look.j_id, t._c == look.j_step])
    return t


def _chains(e: ir.Table, look: ir.Table, q: FunnelQuery, carry: list[str]) -> ir.Table:
    """From every step-2 event, the greedy path through steps 3..n (sequential and strict orders).

    An attempt's later steps depend only on where its step 2 is, so following each step-2 event once
    replaces following every attempt; per-step windows after step 2 apply here, the overall window
    (which depends on the attempt's start) in :func:`_linked`."""
    n = len(q.steps)
    s2 = e.filter(e.touchpoint.isin(list(q.steps[1])))
    c = s2.select(c_j="journey_id", p2="step", t2="tsec", nt2="next_touchpoint", **{f"{x}_2": s2[x] for x in carry})
    for k in range(3, n + 1):
        c = _follow(c, look, q, carry, k, "c_j")
        ok = c._c.notnull()
        sw = step_window(q, k)
        if sw is not None:
            ok &= (c.j_t - c[f"t{k - 1}"] <= sw).fill_null(False)
        c = c.mutate(**{f"p{k}": ibis.ifelse(ok, c._c, ibis.null("int64")),
                        f"t{k}": ibis.ifelse(ok, c.j_t, ibis.null("int64")), f"nt{k}": c.j_nt,
                        **{f"{x}_{k}": c[f"j_{x}"] for x in carry}})
        c = c.drop("j_id", "j_step", "j_t", "j_nt", *[f"j_{x}" for x in carry], "_c")
    return c


def _linked(a: ir.Table, chains: ir.Table, q: FunnelQuery, window: int) -> ir.Table:
    """Attach each attempt to the chain of its step-2 event and keep the steps inside its window."""
    key = (ibis.ifelse(a.nt1.isin(list(q.steps[1])), a.p1 + 1, ibis.null("int64")) if q.order == "strict"
           else a.nx2_1)
    a = a.mutate(_key=key)
    return in_window(a.left_join(chains, [a.journey_id == chains.c_j, a._key == chains.p2]).drop("c_j", "_key"),
                     q, window)


def in_window(a: ir.Table, q: FunnelQuery, window: int) -> ir.Table:
    """Attempts linked to their chains: the steps past the overall window (or step 2's own) are dropped."""
    sw2 = step_window(q, 2)
    for k in range(2, len(q.steps) + 1):
        ok = a[f"p{k}"].notnull() & (a[f"t{k}"] - a.t1 <= window).fill_null(False)
        if k == 2 and sw2 is not None:
            ok &= (a.t2 - a.t1 <= sw2).fill_null(False)
        a = a.mutate(**{f"p{k}": ibis.ifelse(ok, a[f"p{k}"], ibis.null("int64")), f"after{k}": a[f"nt{k}"]})
    return a


def _any_order(a: ir.Table, look: ir.Table, q: FunnelQuery, carry: list[str], window: int) -> ir.Table:
    """Any order: each step is the first of its touchpoints after the step-1 event (one join per step)."""
    for k in range(2, len(q.steps) + 1):
        a = _follow(a, look, q, carry, k, "journey_id")
        limit = a.j_t - a.t1 <= window
        sw = step_window(q, k)
        if sw is not None:
            limit &= a.j_t - a[f"t{k - 1}"] <= sw
        hit = a._c.notnull() & limit.fill_null(False)
        a = a.mutate(**{
            f"p{k}": ibis.ifelse(hit, a._c, ibis.null("int64")), f"t{k}": ibis.ifelse(hit, a.j_t, ibis.null("int64")),
            f"nt{k}": a.j_nt, f"after{k}": a.j_nt, **{f"{c}_{k}": a[f"j_{c}"] for c in carry},
        })
        a = a.drop("j_id", "j_step", "j_t", "j_nt", *[f"j_{c}" for c in carry], "_c")
    return a
