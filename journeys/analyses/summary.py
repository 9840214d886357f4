"""One row per journey of a stored dataset (a customer under the default shaping, or a journey of its stored
reshaped journeys, such as sessions): its length, first and last timestamps, value, first and last
touchpoints and the set of touchpoints it touched (a bit per touchpoint in ``tp_mask``, in the order
:func:`codes_for` gives); beside it, per customer, each move's count and the last touchpoints.

Questions about whole journeys (Sankey variants, which stages a journey reached) otherwise group every event
by journey; these tables answer them with a scan of one row per journey. They are derived tables of the store
(see :mod:`journeys.engine.derived`): built once per dataset fingerprint (and shaping), dropped when the
dataset changes. A segment's rows are its customers' rows.

:func:`journeys.analyses.base.journeys_for` remembers, for the journeys it hands out, the stored events and
the segment's customers they came from; :func:`summary_for` turns that back into summaries, or None (reshaped
journeys, date ranges, other engines, a read-only store without the table): then the analyses group events.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import ibis
import ibis.expr.types as ir

from journeys.analyses import periods
from journeys.engine import derived

KEY = "journey summary v3"
EDGES_KEY = "journey edges v1"
CODES_KEY = "touchpoint codes v1"
TAILS_KEY = "journey tails v3"
#: first touchpoints kept per journey (Sankey variants deeper than this group events)
DEPTH = 10
#: last touchpoints kept per journey (churn paths show up to this many)
TAIL = 10
#: the value of a customer's events this many days up to their last event is kept too (revenue lost to churn)
REVENUE_WINDOW_DAYS = 30
#: touchpoints of the bit set (one bit each in a BIGINT); a dataset with more has no ``tp_mask``
MASK_TOUCHPOINTS = 62


@dataclass(frozen=True, slots=True)
class _Source:
    """Where remembered journeys come from: the stored ``events`` (whose fingerprint keys every derived table),
    the ``journeys`` table the summaries are built from (``events`` itself, or its stored reshaped journeys, then
    ``suffix`` names the shaping), and the segment's customers ``keep``."""

    events: ir.Table
    journeys: ir.Table
    keep: ir.Table | None
    suffix: str = ""

    @property
    def per_customer(self) -> bool:
        return not self.suffix


_REMEMBERED: OrderedDict[object, _Source] = OrderedDict()
_GUARD = threading.Lock()
_REMEMBER_MAX = 256


def remember(journeys: ir.Table, events: ir.Table, keep: ir.Table | None, *, shaped: ir.Table | None = None,
             shaping: str = "") -> None:
    """Note that ``journeys`` are the journeys of stored ``events`` for the customers in ``keep`` (None:
    everyone): the default ones, or with ``shaped`` the stored journeys under the shaping named ``shaping``."""
    if derived.stored_dataset(events) is None:
        return
    source = _Source(events, _as_journeys(events) if shaped is None else shaped, keep,
                     f" of {shaping}" if shaped is not None else "")
    with _GUARD:
        _REMEMBERED[journeys.op()] = source
        _REMEMBERED.move_to_end(journeys.op())
        while len(_REMEMBERED) > _REMEMBER_MAX:
            _REMEMBERED.popitem(last=False)


def summary_for(journeys: ir.Table, *, per_customer: bool = False) -> ir.Table | None:
    """The summaries of exactly the journeys in ``journeys``, or None when they cannot be had. ``per_customer``:
    only when each journey is a whole customer (default shaping)."""
    return _derived_for(journeys, KEY, build, per_customer=per_customer)


def edges_for(journeys: ir.Table) -> ir.Table | None:
    """Per customer and move ``touchpoint -> next_touchpoint``: how often they made that move (``n``); or None.
    A move's customers are then its rows, with no distinct count over the events."""
    return _derived_for(journeys, EDGES_KEY, build_edges)


def tails_for(journeys: ir.Table) -> ir.Table | None:
    """Per customer their last ``TAIL`` touchpoints, ``l1`` the last (None when shorter); or None (also for
    reshaped journeys: churn reads whole customers)."""
    return _derived_for(journeys, TAILS_KEY, build_tails, per_customer=True)


def gaps_for(journeys: ir.Table, purchases: Sequence[str]) -> ir.Table | None:
    """How many gaps of each length lie between consecutive purchase days (:func:`journeys.outcomes.purchase_gaps`)
    for the whole dataset's default journeys; None for a segment or reshaped journeys (they count their own)."""
    with _GUARD:
        found = _REMEMBERED.get(journeys.op())
    if found is None or found.keep is not None or not found.per_customer:
        return None
    from journeys.outcomes import gap_counts

    key = f"{derived.GAPS}of {', '.join(sorted(purchases)) or 'any event'} v1"
    return derived.stored(found.events, key, partial(gap_counts, found.journeys, tuple(purchases)))


def journeys_table_for(journeys: ir.Table, key: str, make: Callable[[ir.Table], ir.Table], *,
                       whole: bool = False) -> ir.Table | None:
    """Another analysis's derived table ``key``, built by ``make`` from the remembered journeys (as the summaries
    are); narrowed to the segment's customers unless ``whole``; or None (as :func:`summary_for`)."""
    return _derived_for(journeys, key, make, whole=whole)


def activity_for(journeys: ir.Table, period: periods.Period) -> ir.Table | None:
    """Per customer and rolling period ``k`` since their first event (``period`` long, see
    :mod:`journeys.analyses.periods`): their first event's time and the value of the period's events; or None."""
    return _derived_for(journeys, activity_key(period), partial(build_activity, period=period), per_customer=True)


def activity_key(period: periods.Period) -> str:
    return f"activity by {period} v1"


def calendar_activity_for(journeys: ir.Table, unit: periods.Period) -> ir.Table | None:
    """The distinct (customer, calendar period ``p``) pairs of the customers' events; or None."""
    return _derived_for(journeys, calendar_key(unit), partial(build_calendar_activity, unit=unit), per_customer=True)


def calendar_key(unit: periods.Period) -> str:
    return f"calendar activity by {unit} v1"


def build_calendar_activity(events: ir.Table, unit: periods.Period) -> ir.Table:
    return events.select("customer_id", p=periods.index(events.ts, unit)).distinct()


def build_activity(events: ir.Table, period: periods.Period) -> ir.Table:
    first = events.filter(events.step == 1)
    first = first.select(_c=first.customer_id, first_ts=first.ts)
    e = events.join(first, events.customer_id == first._c)
    e = e.mutate(k=((periods.seconds(e.ts) - periods.seconds(e.first_ts)) // periods.SECONDS[period]).cast("int64"))
    return e.group_by(["customer_id", "first_ts", "k"]).aggregate(paid=e.value.sum())


def build_tails(events: ir.Table) -> ir.Table:
    """Per customer: ``l1`` (the last touchpoint) ... ``l{TAIL}``, ``first_ts``, ``last_ts``, and ``paid``/``paid_n``: the sum
    and count of the values of their events in the ``REVENUE_WINDOW_DAYS`` up to their last event."""
    lasts = events.filter(events.next_touchpoint.isnull())
    lasts = lasts.select(_c=lasts.customer_id, _n=lasts.step, _lt=lasts.ts)
    e = events.join(lasts, events.customer_id == lasts._c)
    e = e.mutate(back=e._n - e.step + 1)
    recent = (e.ts <= e._lt) & (periods.seconds(e.ts) > periods.seconds(e._lt) - REVENUE_WINDOW_DAYS * 86_400)
    paid = recent & e.value.notnull()
    return e.group_by("customer_id").aggregate(
        first_ts=e.ts.min(), last_ts=e._lt.max(), paid=ibis.cases((paid, e.value), else_=ibis.null("float64")).sum(),
        paid_n=paid.cast("int64").sum(),
        **{f"l{b}": ibis.cases((e.back == b, e.touchpoint), else_=ibis.null("string")).max() for b in range(1, TAIL + 1)})


def _as_journeys(events: ir.Table) -> ir.Table:
    """Stored events as default journeys: each customer's events are one journey."""
    return events if "journey_id" in events.columns else events.mutate(journey_id=events.customer_id)


#: a segment with fewer of the customers than this share reads its own events (filtering the derived tables,
#: several times the segment's size, by its customers costs more: measured at 10M with 11% of customers)
SEGMENT_SHARE_MIN = 0.4
_SHARES: OrderedDict[object, bool] = OrderedDict()


def _small_segment(found: _Source) -> bool:
    if found.keep is None:
        return False
    key = found.keep.op()
    with _GUARD:
        if key in _SHARES:
            return _SHARES[key]
    total = derived.customers(found.events)
    small = total is None or int(found.keep.count().to_pandas()) < SEGMENT_SHARE_MIN * max(total, 1)
    with _GUARD:
        _SHARES[key] = small
        while len(_SHARES) > _REMEMBER_MAX:
            _SHARES.popitem(last=False)
    return small


def reads_own_events(journeys: ir.Table) -> bool:
    """True for the journeys of a small segment of a stored dataset (see ``SEGMENT_SHARE_MIN``): their queries
    each filter the dataset's events by the segment, so an analysis with several queries filters them once."""
    with _GUARD:
        found = _REMEMBERED.get(journeys.op())
    return found is not None and _small_segment(found)


def whole_for(journeys: ir.Table, key: str, make: Callable[[ir.Table], ir.Table]) -> ir.Table | None:
    """A stored aggregate ``make(journeys)`` of all the journeys of a stored dataset (under its shaping), or None
    when ``journeys`` are a segment's, or not a stored dataset's: an aggregate cannot be cut to a segment."""
    with _GUARD:
        found = _REMEMBERED.get(journeys.op())
    if found is None or found.keep is not None:
        return None
    return derived.stored(found.events, key + found.suffix, partial(make, found.journeys))


def codes_for(journeys: ir.Table) -> list[str] | None:
    """The touchpoints in ``tp_mask`` bit order (all the journeys' touchpoints, whatever the segment), or None."""
    table = _derived_for(journeys, CODES_KEY, build_codes, whole=True)
    if table is None:
        return None
    return sorted(str(t) for t in table.to_pandas()["touchpoint"].dropna())


def _derived_for(journeys: ir.Table, key: str, make: Callable[[ir.Table], ir.Table], *,
                 whole: bool = False, per_customer: bool = False) -> ir.Table | None:
    with _GUARD:
        found = _REMEMBERED.get(journeys.op())
    if found is None or (per_customer and not found.per_customer) or (not whole and _small_segment(found)):
        return None
    table = derived.stored(found.events, key + found.suffix, partial(make, found.journeys))
    if table is None:
        return None
    return table if found.keep is None or whole else table.semi_join(found.keep, "customer_id")


def build_edges(events: ir.Table) -> ir.Table:
    moves = events.filter(events.next_touchpoint.notnull())
    return moves.group_by(["customer_id", "touchpoint", "next_touchpoint"]).aggregate(n=moves.count())


def touchpoint_codes(events: ir.Table) -> list[str]:
    """The touchpoints in bit order of ``tp_mask`` (sorted names)."""
    names = events.select("touchpoint").distinct().to_pandas()["touchpoint"].dropna()
    return sorted(str(n) for n in names)


def build(events: ir.Table) -> ir.Table:
    """The summary expression over journeys (``journey_id``, and ``step`` 1..n within each journey)."""
    e = events
    codes = touchpoint_codes(e)
    if len(codes) <= MASK_TOUCHPOINTS:
        bit = ibis.cases(*[(e.touchpoint == t, ibis.literal(1 << i, "int64")) for i, t in enumerate(codes)],
                         else_=ibis.literal(0, "int64")) if codes else ibis.literal(0, "int64")
        mask = bit.bit_or()
    else:
        mask = ibis.null("int64").max()
    firsts = {f"p{k}": ibis.cases((e.step == k, e.touchpoint), else_=ibis.null("string")).max()
              for k in range(1, DEPTH + 1)}
    last = ibis.cases((e.next_touchpoint.isnull(), e.touchpoint), else_=ibis.null("string")).max()
    return e.group_by(["journey_id", "customer_id"]).aggregate(
        n=e.step.max(), first_ts=e.ts.min(), last_ts=e.ts.max(), value_sum=e.value.sum(), tp_mask=mask,
        last_tp=last, **firsts)


def build_codes(events: ir.Table) -> ir.Table:
    return events.select("touchpoint").distinct()


BUILDERS: tuple[tuple[str, Callable[[ir.Table], ir.Table]], ...] = (
    (CODES_KEY, build_codes), (KEY, build), (EDGES_KEY, build_edges), (TAILS_KEY, build_tails),
    # the Retention page's default period (retention) and interval (lifecycle)
    (activity_key("week"), partial(build_activity, period="week")),
    (calendar_key("week"), partial(build_calendar_activity, unit="week")))


def _other_builders(events: ir.Table) -> list[tuple[str, Callable[[ir.Table], ir.Table]]]:
    """Other analyses' default tables: the touchpoint occurrences and first items of drivers, the sequences attribution credits by
    channel (its default) with the code tables it reads."""
    from journeys.analyses import attribution_touches as at
    from journeys.analyses import drivers_candidates as dc
    from journeys.analyses import drivers_items as di
    from journeys.analyses import journey_map as jm

    out: list[tuple[str, Callable[[ir.Table], ir.Table]]] = [(jm.MOVES_KEY, jm.build_moves),
                                                             (dc.OCCURRENCES_KEY, dc.build_occurrences),
                                                             (di.ITEMS_KEY, di.build_items)]
    out += [(at.codes_key(by), partial(at.build_codes, by=by)) for by in ("touchpoint", "channel")
            if by in events.columns]
    if "channel" in events.columns:
        out.append((at.sequences_key("channel"), partial(at.build_sequences, by="channel")))
    return out


def prepare(events: ir.Table, *, stop: threading.Event | None = None) -> list[str]:
    """Build the default views' derived tables of stored ``events`` now (what the first view would otherwise
    wait for); returns what it built or found. ``stop`` ends it between tables."""
    done = []
    for key, make in (*BUILDERS, *_other_builders(events)):
        if stop is not None and stop.is_set():
            break
        if derived.stored(events, key, partial(make, _as_journeys(events))) is not None:
            done.append(key)
    return done


def prepare_in_background(table: Callable[[], ir.Table], *, stop: threading.Event | None = None) -> threading.Thread:
    """:func:`prepare` on a daemon thread (``table`` is called there: a store hands each thread its own cursor).
    A failure only means the first view builds what is missing."""
    def run() -> None:
        with contextlib.suppress(Exception):
            prepare(table(), stop=stop)

    thread = threading.Thread(target=run, daemon=True, name="journeys-prepare")
    thread.start()
    return thread
