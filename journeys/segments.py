"""Segments: which customers an analysis looks at.

A segment is a tree of filters combined with AND / OR. Attribute filters match a customer when any of
their events has the value (a person container, as in the leading CJA tools); behavioural filters look
at what the customer did, in ``(ts, seq)`` order. Every segment says itself as a sentence and is
evaluated inside the engine as one group-by over customers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Union

import ibis
import ibis.expr.types as ir

from journeys.errors import QueryError, unknown

FilterKind = Literal["attribute", "did", "did_not", "then", "at_least", "at_step", "converted", "not_converted", "entered",
                     "ends_with", "felt", "alive"]
AttrOp = Literal["in", "not_in", "contains", "range"]
ALIVE_BANDS = ("likely lost", "at risk", "active")  # journeys.analyses.palive.BANDS, without importing the fit
#: first value of an ``ends_with`` path that is the whole journey ("^" as in a regular expression)
START = "^"
KINDS: tuple[str, ...] = ("attribute", "did", "did_not", "then", "at_least", "at_step", "converted", "not_converted",
                          "entered", "ends_with", "felt", "alive")


@dataclass(frozen=True, slots=True)
class Filter:
    """One condition on a customer.

    - ``attribute``: ``column`` ``op`` ``values`` (in / not_in / contains / range ``(lo, hi)``)
    - ``did`` / ``did_not``: any of ``values`` (touchpoints)
    - ``then``: ``values[0]`` then later ``values[1]``, optionally within ``within_days``
    - ``at_least``: any of ``values`` at least ``times`` times
    - ``at_step``: the customer's event number ``times`` (from their first) is one of ``values``
    - ``converted`` / ``not_converted``: did the goal (``values[0]`` or the shaping goal)
    - ``entered``: first event on or after ``values[0]`` and before ``values[1]`` (ISO dates, either may be empty)
    - ``ends_with``: the customer's last touchpoints are exactly ``values`` (a churn path), in ``(ts, seq)`` order;
      a first value :data:`START` means the whole journey is exactly the rest (a path shorter than the K shown)
    - ``alive``: in the P(alive) band ``values[0]`` (likely lost, at risk, active; BG/NBD at the data's end);
      ``values[1:]`` are the purchase touchpoints (default purchase)
    - ``felt``: had a text of sentiment band ``values[0]`` (negative / neutral / positive) at any of ``values[1:]``
      (any touchpoint when none): "had a negative call"
    """

    kind: FilterKind
    values: tuple[str, ...] = ()
    column: str = ""
    op: AttrOp = "in"
    times: int = 1
    within_days: int | None = None

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise unknown("filter kind", self.kind, KINDS)
        if self.kind == "attribute" and not self.column:
            raise QueryError("An attribute filter needs a column.")
        if self.kind == "attribute" and self.op == "range" and len(self.values) != 2:
            raise QueryError("A range filter needs a lower and an upper bound.")
        if self.kind == "then" and len(self.values) != 2:
            raise QueryError("A 'did X then Y' filter needs exactly two touchpoints.")
        if self.kind == "ends_with" and self.values[:1] == (START,) and len(self.values) == 1:
            raise QueryError("A whole-journey path needs at least one touchpoint after its start.")
        if self.kind in ("did", "did_not", "at_least", "at_step", "ends_with") and not self.values:
            raise QueryError(f"A '{self.kind.replace('_', ' ')}' filter needs at least one touchpoint.")
        if self.kind == "alive" and (not self.values or self.values[0] not in ALIVE_BANDS):
            raise QueryError(f"A P(alive) filter starts with a band: {', '.join(ALIVE_BANDS)}.")
        if self.kind == "felt" and (not self.values or self.values[0] not in ("negative", "neutral", "positive")):
            raise QueryError("A sentiment filter starts with a band: negative, neutral or positive.")
        if self.kind == "entered":
            if len(self.values) != 2:
                raise QueryError("An entry-date filter needs a start and an end date (either may be empty).")
            for v in self.values:
                if v:
                    try:
                        date.fromisoformat(v)
                    except ValueError as err:
                        raise QueryError(f"'{v}' is not a date (use YYYY-MM-DD).") from err
        if self.within_days is not None and self.within_days < 1:
            raise QueryError("'Within N days' needs N >= 1.")
        if self.times < 1:
            raise QueryError("'At least N times' needs N >= 1.")

    def describe(self, goal: str | None = None) -> str:
        vals = " or ".join(self.values)
        if self.kind == "attribute":
            if self.op == "range":
                return f"have {self.column} between {self.values[0]} and {self.values[1]}"
            verb = {"in": "have", "not_in": "do not have", "contains": "have"}[self.op]
            middle = " containing" if self.op == "contains" else ""
            return f"{verb} {self.column}{middle} {vals}"
        if self.kind == "did":
            return f"did {vals}"
        if self.kind == "did_not":
            return f"did not do {vals}"
        if self.kind == "then":
            within = f" within {self.within_days} days" if self.within_days else ""
            return f"did {self.values[0]} then {self.values[1]}{within}"
        if self.kind == "at_least":
            return f"did {vals} at least {self.times} times"
        if self.kind == "ends_with":
            if self.values[:1] == (START,):
                return f"did only {' > '.join(self.values[1:])} (their whole journey)"
            return f"ended with {' > '.join(self.values)}"
        if self.kind == "alive":
            return f"are {self.values[0]} by P(alive)"
        if self.kind == "felt":
            return f"had a {self.values[0]} {' or '.join(self.values[1:]) or 'interaction'}"
        if self.kind == "at_step":
            return f"had {vals} as step {self.times}"
        if self.kind in ("converted", "not_converted"):
            target = (self.values[0] if self.values else goal) or "the goal"
            return f"{'reached' if self.kind == 'converted' else 'did not reach'} {target}"
        lo, hi = self.values
        return f"first seen {'from ' + lo if lo else ''}{' ' if lo and hi else ''}{'before ' + hi if hi else ''}".strip()


@dataclass(frozen=True, slots=True)
class Segment:
    """Filters (or nested segments) combined with ``and`` / ``or``. The empty segment is everyone."""

    items: tuple[Union[Filter, Segment], ...] = ()  # noqa: UP007 (recursive type)
    combine: Literal["and", "or"] = "and"
    negate: bool = False  # everyone not matched by the items (Compare's default B is "not A")

    def complement(self) -> Segment:
        """Everyone not in this segment (the empty segment's complement is nobody's business: itself)."""
        if self.is_empty:
            return self
        if self.negate:
            return Segment(self.items, self.combine)
        return Segment(self.items, self.combine, negate=True)

    @property
    def is_empty(self) -> bool:
        return not self.items

    def validate(self) -> None:
        if self.combine not in ("and", "or"):
            raise QueryError(f"Segments combine with 'and' or 'or', not '{self.combine}'.")
        for item in self.items:
            item.validate()

    def describe(self, goal: str | None = None) -> str:
        """``customers who did cart and did not do purchase``."""
        if self.is_empty:
            return "all customers"
        if self.negate:
            return "customers other than those who " + Segment(self.items, self.combine)._clause(goal)
        return "customers who " + self._clause(goal)

    def _clause(self, goal: str | None) -> str:
        parts = [f"({i._clause(goal)})" if isinstance(i, Segment) else i.describe(goal) for i in self.items]
        text = f" {self.combine} ".join(parts)
        return f"are not among those who {text}" if self.negate else text

    # ---- URL codec: compact JSON ----------------------------------------------------------------
    def to_param(self) -> str:
        return json.dumps(_encode(self), separators=(",", ":"))

    @classmethod
    def from_param(cls, text: str) -> Segment:
        try:
            seg = _decode(json.loads(text))
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise QueryError(f"The segment cannot be read ({err}).") from err
        if not isinstance(seg, Segment):
            seg = Segment((seg,))
        seg.validate()
        return seg


def _encode(item: Filter | Segment) -> dict[str, Any]:
    if isinstance(item, Segment):
        return {"c": item.combine, "i": [_encode(i) for i in item.items], **({"not": 1} if item.negate else {})}
    out: dict[str, Any] = {"k": item.kind, "v": list(item.values)}
    if item.column:
        out["col"] = item.column
    if item.op != "in":
        out["op"] = item.op
    if item.times != 1:
        out["n"] = item.times
    if item.within_days is not None:
        out["w"] = item.within_days
    return out


def _decode(data: dict[str, Any]) -> Filter | Segment:
    if "i" in data:
        return Segment(tuple(_decode(d) for d in data["i"]), data.get("c", "and"), negate=bool(data.get("not")))
    return Filter(kind=data["k"], values=tuple(str(v) for v in data.get("v", [])), column=data.get("col", ""),
                  op=data.get("op", "in"), times=int(data.get("n", 1)),
                  within_days=int(data["w"]) if data.get("w") is not None else None)


# ---- evaluation ------------------------------------------------------------------------------------

def _leaves(seg: Segment) -> list[Filter]:
    out: list[Filter] = []
    for item in seg.items:
        out.extend(_leaves(item) if isinstance(item, Segment) else [item])
    return out


def _check_columns(t: ir.Table, seg: Segment) -> None:
    for leaf in _leaves(seg):
        if leaf.kind == "attribute" and leaf.column not in t.columns:
            hidden = {"journey_id", "step", "next_touchpoint", "next_ts", "seq", "ts"}
            raise unknown("column", leaf.column, [c for c in t.columns if c not in hidden])
        if leaf.kind == "felt" and "sentiment_band" not in t.columns:
            raise QueryError("This dataset has no sentiment: map a text column when loading it.")


def _customers(t: ir.Table) -> ir.Table:
    return t.select("customer_id").distinct()


def _leaf(t: ir.Table, leaf: Filter, goal: str | None, everyone: ir.Table) -> ir.Table:
    """The customers one filter keeps, as a set. Positive filters scan only the rows they match, which is
    much cheaper than aggregating every event per customer; negative ones are everyone minus a set."""
    if leaf.kind == "attribute":
        col = t[leaf.column]
        if leaf.op == "range":
            lo, hi = (float(v) if v != "" else None for v in leaf.values)
            num = col.cast("float64") if col.type().is_numeric() else col.cast("string").try_cast("float64")
            cond = ibis.literal(True)
            if lo is not None:
                cond &= num >= lo
            if hi is not None:
                cond &= num <= hi
            return _customers(t.filter(cond.fill_null(False)))
        text = col.cast("string")
        if leaf.op == "contains":
            return _customers(t.filter(ibis.or_(*[text.lower().contains(v.lower()) for v in leaf.values]).fill_null(False)))
        hits = _customers(t.filter(text.isin(list(leaf.values)).fill_null(False)))
        return everyone.difference(hits) if leaf.op == "not_in" else hits
    if leaf.kind in ("did", "did_not", "converted", "not_converted"):
        targets = list(leaf.values) or ([goal] if goal else [])
        if not targets:
            raise QueryError("A converted / not converted filter needs a goal touchpoint.")
        hits = _customers(t.filter(t.touchpoint.isin(targets)))
        return everyone.difference(hits) if leaf.kind in ("did_not", "not_converted") else hits
    if leaf.kind == "at_least":
        rows = t.filter(t.touchpoint.isin(list(leaf.values)))
        counted = rows.group_by("customer_id").aggregate(_n=rows.count())
        return counted.filter(counted._n >= leaf.times).select("customer_id")
    if leaf.kind == "ends_with":
        return _ends_with(t, leaf.values)
    if leaf.kind == "alive":
        from journeys.analyses.palive_product import (
            customers_in_band,  # fits BG/NBD: only loaded when a segment asks
        )

        return customers_in_band(t, leaf.values[0], leaf.values[1:] or ("purchase",))
    if leaf.kind == "felt":
        felt = t.sentiment_band == leaf.values[0]
        return _customers(t.filter(felt & t.touchpoint.isin(list(leaf.values[1:])) if leaf.values[1:] else felt))
    if leaf.kind == "at_step":
        return _customers(t.filter(t.touchpoint.isin(list(leaf.values)) & (t.step == leaf.times)))
    if leaf.kind == "then":
        if leaf.within_days:
            return _then_within(t, leaf)
        rows = t.filter(t.touchpoint.isin(list(leaf.values)))
        per = rows.group_by("customer_id").aggregate(
            _x=ibis.cases((rows.touchpoint == leaf.values[0], rows.step), else_=ibis.null("int64")).min(),
            _y=ibis.cases((rows.touchpoint == leaf.values[1], rows.step), else_=ibis.null("int64")).max())
        return per.filter(per._y > per._x).select("customer_id")
    start, end = leaf.values
    firsts = t.group_by("customer_id").aggregate(_first=t.ts.min())
    cond = ibis.literal(True)
    if start:
        cond &= firsts._first >= ibis.timestamp(f"{start} 00:00:00")
    if end:
        cond &= firsts._first < ibis.timestamp(f"{end} 00:00:00")
    return firsts.filter(cond).select("customer_id")


def _then_within(t: ir.Table, leaf: Filter) -> ir.Table:
    """Customers with an X followed later (in step order) by a Y no more than ``within_days`` after it."""
    x = t.filter(t.touchpoint == leaf.values[0]).select(cx=t.customer_id, sx=t.step, tx=t.ts.epoch_seconds())
    y = t.filter(t.touchpoint == leaf.values[1]).select(cy=t.customer_id, sy=t.step, ty=t.ts.epoch_seconds())
    pairs = x.join(y, [x.cx == y.cy, y.sy > x.sx, y.ty - x.tx <= int(leaf.within_days or 0) * 86400])
    return pairs.select(customer_id=pairs.cx).distinct()


def _ends_with(t: ir.Table, path: tuple[str, ...]) -> ir.Table:
    """Customers whose last ``len(path)`` events (by step, i.e. ``(ts, seq)``) are the path's touchpoints (and,
    after :data:`START`, who have no other event)."""
    whole, path = path[:1] == (START,), path[1:] if path[:1] == (START,) else path
    m = len(path)
    last = t.group_by("customer_id").aggregate(_last=t.step.max())
    if whole:
        last = last.filter(last._last == m)
    tail = t.join(last, "customer_id")
    tail = tail.filter(tail._last - tail.step < m)
    back = tail._last - tail.step  # 0 = the last event
    fits = ibis.or_(*[(back == m - 1 - i) & (tail.touchpoint == tp) for i, tp in enumerate(path)])
    hits = tail.filter(fits)
    counted = hits.group_by("customer_id").aggregate(_n=hits.count())
    return counted.filter(counted._n == m).select("customer_id")


def matching_customers(events: ir.Table, segment: Segment, *, goal: str | None = None) -> ir.Table:
    """Distinct ``customer_id`` of customers in the segment: set operations over each filter's customers.

    ``events`` is the customer-level event table (person scope, so ``step`` orders each customer).
    """
    segment.validate()
    _check_columns(events, segment)
    everyone = _customers(events)

    def combine(seg: Segment) -> ir.Table:
        parts = [combine(i) if isinstance(i, Segment) else _leaf(events, i, goal, everyone) for i in seg.items]
        first, rest = parts[0], parts[1:]
        if rest:
            first = first.intersect(*rest) if seg.combine == "and" else first.union(*rest, distinct=True)
        return everyone.difference(first) if seg.negate else first

    return combine(segment)
