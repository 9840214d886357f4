"""The order-k journey chain with back-off: P(outcome | the last k touchpoints), for the predict baseline and NBA.

The engine counts transitions ``state -> next`` where the state is a customer's last ``k`` touchpoints (fewer
at the start of a journey) and ``next`` is the following touchpoint, an outcome (``(success)`` for a goal or
churn touchpoint, ``(failure)`` for the other absorbing kind) or ``(end)``: no next event before the cutoff,
or the next one more than the horizon later. Python turns the counts into an absorbing chain:

- a state's row is its own transition distribution when it has at least ``MIN_ROW`` transitions, otherwise
  the row of its shorter suffix (back-off; single touchpoints always use their own row);
- after ``s`` and touchpoint ``t`` the chain moves to the longest known suffix of ``(s + t)[-k:]``;
- P(success | state) comes from the shared solver :func:`journeys.markov.absorption`.

``sample_probabilities`` redraws every row from its Dirichlet posterior (counts as weights) for intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from journeys.analyses.base import to_frame
from journeys.markov import MAX_ORDER, absorption

SUCCESS, FAILURE, END = "(success)", "(failure)", "(end)"
MIN_ROW = 30
State = tuple[str, ...]


def _ts(value: datetime) -> ir.Value:
    return ibis.literal(pd.Timestamp(value).to_pydatetime(), type="timestamp")


def transitions(events: ir.Table, cutoff: datetime, *, order: int, horizon: timedelta,
                success: Sequence[str], failure: Sequence[str], end_is: Literal["failure", "success"] = "failure",
                actions: Sequence[str] = ()) -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
    """Transition counts before ``cutoff`` (engine aggregates): ``h0..h{k-1}`` (the state, h0 = oldest; None
    where the history is shorter), ``next``, ``n``. With ``actions``, also per order m the distinct customers
    who went from each length-m state to each action (``state``, ``next``, ``customers``)."""
    if not 1 <= order <= MAX_ORDER:
        from journeys.errors import QueryError

        raise QueryError(f"The chain order must be 1 to {MAX_ORDER}, not {order}.")
    e = events.filter(events.ts < _ts(cutoff)).select("customer_id", "ts", "seq", "touchpoint")
    w = ibis.window(group_by=e.customer_id, order_by=[e.ts, e.seq])
    lags = {f"h{order - 1 - j}": (e.touchpoint.lag(j).over(w) if j else e.touchpoint) for j in range(order)}
    e = e.mutate(_nt=e.touchpoint.lead().over(w), _nts=e.ts.lead().over(w), **lags)
    # a failure ends the journey; a success does not: a customer who bought can buy again, so a history that
    # ends with a goal is a state of its own (without it, every repeat buyer went unscored)
    e = e.filter(~e.touchpoint.isin(list(failure))) if failure else e
    gap = e._nts.epoch_seconds() - e.ts.epoch_seconds()
    end_label = SUCCESS if end_is == "success" else FAILURE
    nxt = ibis.cases(
        (e._nt.isnull() | (gap > horizon.total_seconds()), ibis.literal(END if end_is == "failure" else end_label)),
        (e._nt.isin(list(success)) if success else ibis.literal(False), ibis.literal(SUCCESS)),
        (e._nt.isin(list(failure)) if failure else ibis.literal(False), ibis.literal(FAILURE)),
        else_=e._nt,
    )
    e = e.mutate(next=nxt)
    hs = [f"h{j}" for j in range(order)]
    counts = to_frame(e.group_by([*hs, "next"]).aggregate(n=e.count()))
    supports: dict[int, pd.DataFrame] = {}
    if actions:
        acted = e.filter(e.next.isin(list(actions)))
        for m in range(1, order + 1):
            keys = hs[order - m:]
            full = acted.filter(acted[keys[0]].notnull())
            frame = to_frame(full.group_by([*keys, "next"]).aggregate(customers=full.customer_id.nunique()))
            frame["state"] = [tuple(str(x) for x in row) for row in frame[keys].itertuples(index=False)]
            supports[m] = frame[["state", "next", "customers"]]
    return counts, supports


@dataclass
class StateChain:
    """A solved chain: ``p[i]`` = P(success) from ``states[i]``; rows kept for redraws."""

    order: int
    states: list[State]
    index: dict[State, int]
    p: np.ndarray
    row_of: np.ndarray  # the state whose counts give each state's row (itself or a suffix)
    edges: tuple[np.ndarray, np.ndarray, np.ndarray]  # (state, target or -1 success / -2 not, entry)
    entries: tuple[np.ndarray, np.ndarray]  # per (row source, next): the source state and the count
    supports: dict[int, dict[tuple[State, str], int]] = field(default_factory=dict)
    p_next: np.ndarray = field(default_factory=lambda: np.zeros(0))  # P(the very next move is success)

    def state_of(self, history: Sequence[str]) -> State | None:
        """The longest known suffix of the last ``order`` touchpoints of ``history``."""
        h = tuple(history)[-self.order:]
        for i in range(len(h)):
            if h[i:] in self.index:
                return h[i:]
        return None

    def prob(self, history: Sequence[str], *, next_step: bool = False) -> float:
        """P(success) from ``history``'s state: absorbed eventually, or (``next_step``) as its very next move."""
        s = self.state_of(history)
        if s is None:
            return float("nan")
        return float((self.p_next if next_step else self.p)[self.index[s]])

    def support(self, state: State, action: str) -> tuple[int, State]:
        """Customers who took ``action`` from the longest suffix of ``state`` with at least ``MIN_ROW`` of them
        (or the most found, with the state it was found at)."""
        best: tuple[int, State] = (0, state)
        for i in range(len(state)):
            s = state[i:]
            n = self.supports.get(len(s), {}).get((s, action), 0)
            if n >= MIN_ROW:
                return n, s
            if n > best[0]:
                best = (n, s)
        return best

    def sample_probabilities(self, draws: int, seed: int = 0) -> np.ndarray:
        """``draws`` x states: P(success) under rows redrawn from their Dirichlet posteriors."""
        src, tgt, entry = self.edges
        owner, cnt = self.entries
        rng = np.random.default_rng(seed)
        n = len(self.states)
        out = np.empty((draws, n))
        for d in range(draws):
            g = rng.gamma(cnt)  # one draw per source row, shared by every state that backs off to it
            prob = g / np.bincount(owner, weights=g, minlength=n)[owner]
            out[d] = _solve(n, src, tgt, prob[entry])
        return out


def _solve(n: int, src: np.ndarray, tgt: np.ndarray, prob: np.ndarray) -> np.ndarray:
    import scipy.sparse as sp  # loads with a model, not with every page
    inner = tgt >= 0
    q = sp.csr_matrix((prob[inner], (src[inner], tgt[inner])), shape=(n, n))
    r = np.bincount(src[tgt == -1], weights=prob[tgt == -1], minlength=n)
    return np.clip(absorption(q, r), 0.0, 1.0)


def build_chain(counts: pd.DataFrame, order: int, supports: dict[int, pd.DataFrame] | None = None) -> StateChain:
    """Solve the chain of :func:`transitions`' counts (see the module docstring for back-off)."""
    hs = [f"h{j}" for j in range(order)]
    hist = [tuple(str(x) for x in row if x is not None and not (isinstance(x, float) and np.isnan(x)))
            for row in counts[hs].itertuples(index=False)]
    frame = pd.DataFrame({"hist": hist, "next": counts["next"].astype(str), "n": counts["n"].astype("float64")})
    rows: dict[State, dict[str, float]] = {}
    for m in range(1, order + 1):
        part = frame[frame["hist"].map(len) >= m]
        keys = part["hist"].map(lambda h, m=m: h[-m:])
        for (state, nxt), n in part.assign(key=keys).groupby(["key", "next"], sort=True)["n"].sum().items():
            rows.setdefault(state, {})[nxt] = float(n)
    states = sorted(rows, key=lambda s: (len(s), s))
    index = {s: i for i, s in enumerate(states)}

    def source(s: State) -> State:
        while len(s) > 1 and sum(rows[s].values()) < MIN_ROW:
            s = s[1:]
        return s

    def target(s: State, t: str) -> int:
        if t == SUCCESS:
            return -1
        if t in (FAILURE, END):
            return -2
        h = (*s, t)[-order:]
        for i in range(len(h)):
            if h[i:] in index:
                return index[h[i:]]
        return -2  # a touchpoint never left before the cutoff: nothing is known after it

    entry_of: dict[tuple[State, str], int] = {}
    owner: list[int] = []
    cnt: list[float] = []
    for s in states:
        for t, n in rows[s].items():
            entry_of[(s, t)] = len(owner)
            owner.append(index[s])
            cnt.append(n)
    src: list[int] = []
    tgt: list[int] = []
    entry: list[int] = []
    row_of = np.empty(len(states), dtype=np.int64)
    for i, s in enumerate(states):
        rs = source(s)
        row_of[i] = index[rs]
        for t in rows[rs]:
            src.append(i)
            tgt.append(target(s, t))
            entry.append(entry_of[(rs, t)])
    edges = (np.asarray(src, np.int64), np.asarray(tgt, np.int64), np.asarray(entry, np.int64))
    entries = (np.asarray(owner, np.int64), np.asarray(cnt, float))
    n_states = len(states)
    prob = entries[1] / np.bincount(entries[0], weights=entries[1], minlength=n_states)[entries[0]] if states else entries[1]
    p = _solve(n_states, edges[0], edges[1], prob[edges[2]]) if states else np.zeros(0)
    won = edges[1] == -1
    p_next = np.bincount(edges[0][won], weights=prob[edges[2]][won], minlength=n_states) if states else np.zeros(0)
    sup = {m: {(st, str(nx)): int(c) for st, nx, c in f.itertuples(index=False)} for m, f in (supports or {}).items()}
    return StateChain(order, states, index, p, row_of, edges, entries, sup, p_next=p_next)
