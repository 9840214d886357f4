"""The absorbing Markov chain, solved exactly: P(absorption), expected visits and removal effects.

One solver for every view that needs it (attribution, graph drivers, next best action). Two layers:

- :func:`absorption` and :func:`expected_visits` solve ``(I - Q) X = R`` / ``(I - Q)^T y = s`` for any
  transient -> transient matrix ``Q`` (dense or sparse); nothing here knows about channels.
- :class:`PathTable` -> :func:`build_chain` -> :func:`removal_effects` follow ChannelAttribution's
  conventions for multi-touch attribution (Anderl et al. 2014), computed by linear algebra instead of
  simulation:

  * states are the windows of ``order`` consecutive channels of a path (a path shorter than ``order`` is
    one shorter state), and consecutive equal states are merged (for order 1: ``a > a > b`` is ``a > b``);
  * every path starts in ``(start)`` and ends in ``(conversion)`` with weight ``conversions`` and in
    ``(null)`` with weight ``nulls``; its inner transitions carry ``conversions + nulls``;
  * removing channel k sends every transition into a state that contains k to ``(null)``;
    ``RE(k) = 1 - P(conversion without k) / P(conversion)``, which equals P(k visited | conversion),
    the quantity ChannelAttribution estimates by simulation;
  * the value of a conversion is the mean conversion value of the paths that end in the same last
    state; the value removal effect uses the expected value instead of P(conversion).

Examples:
    >>> table = PathTable.from_rows([(("a", "b"), 1, 0, 10.0), (("b",), 0, 1, 0.0)])
    >>> fx = removal_effects(build_chain(table))
    >>> round(fx.p_conversion, 3), fx.removal_effect
    (0.5, {'a': 1.0, 'b': 1.0})
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse as sp

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
MAX_ORDER = 4
DENSE_LIMIT = 400  # states up to which a dense solve beats a sparse LU

Matrix: TypeAlias = Any  # a numpy array or a scipy sparse matrix


def _system(q: Matrix) -> Matrix:
    import scipy.sparse as sp  # loads with a model, not with every page
    n = q.shape[0]
    if sp.issparse(q):
        return (sp.identity(n, format="csc") - sp.csc_matrix(q)).tocsc()
    return np.eye(n) - np.asarray(q, dtype=float)


def _solve(a: Matrix, b: np.ndarray) -> np.ndarray:
    import scipy.sparse as sp  # loads with a model, not with every page
    if sp.issparse(a):
        if a.shape[0] <= DENSE_LIMIT:
            return np.asarray(np.linalg.solve(a.toarray(), b), dtype=float)
        import scipy.sparse.linalg as spla  # loads with a model, not with every page

        return np.asarray(spla.spsolve(a, b), dtype=float).reshape(b.shape)
    return np.asarray(np.linalg.solve(a, b), dtype=float)


def absorption(q: Matrix, r: np.ndarray) -> np.ndarray:
    """P(ending in each absorbing state) from each transient state: solves ``(I - Q) X = R``.

    ``q``: transient -> transient probabilities (n x n); ``r``: transient -> absorbing (n, or n x m).
    Rows of ``[Q R]`` sum to at most 1 (a row of zeros is a state never left, which absorbs nothing).
    """
    r = np.asarray(r, dtype=float)
    if q.shape[0] == 0:
        return r.copy()
    return _solve(_system(q), r)


def expected_visits(q: Matrix, start: np.ndarray) -> np.ndarray:
    """Expected number of visits to each transient state from the initial distribution ``start``:
    solves ``(I - Q)^T y = s``. Multiply by a state's exit probabilities to get where paths end."""
    start = np.asarray(start, dtype=float)
    if q.shape[0] == 0:
        return start.copy()
    return _solve(_system(q).T, start)


def merge_repeats(items: Sequence[str]) -> tuple[str, ...]:
    """``a > a > b > a`` -> ``a > b > a``."""
    return tuple(x for i, x in enumerate(items) if i == 0 or x != items[i - 1])


def chain_states(path: Sequence[str], order: int = 1) -> list[tuple[str, ...]]:
    """The order-k states a path visits (ChannelAttribution's windows), consecutive repeats merged.

    >>> chain_states(["a", "a", "b", "c"], 2)
    [('a', 'a'), ('a', 'b'), ('b', 'c')]
    >>> chain_states(["a"], 3)
    [('a',)]
    """
    if not path:
        return []
    windows = [tuple(path[i:i + order]) for i in range(max(len(path) - order + 1, 1))]
    return [w for i, w in enumerate(windows) if i == 0 or w != windows[i - 1]]


@dataclass(frozen=True, slots=True)
class PathTable:
    """Distinct paths with how many journeys took each: ``conversions``, ``nulls`` (journeys that did not
    convert) and ``values`` (total conversion value of the path's conversions)."""

    paths: tuple[tuple[str, ...], ...]
    conversions: np.ndarray
    nulls: np.ndarray
    values: np.ndarray

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[Sequence[str], float, float, float]]) -> PathTable:
        listed = [(tuple(p), float(c), float(n), float(v)) for p, c, n, v in rows]
        return cls(
            paths=tuple(r[0] for r in listed),
            conversions=np.array([r[1] for r in listed], dtype=float),
            nulls=np.array([r[2] for r in listed], dtype=float),
            values=np.array([r[3] for r in listed], dtype=float),
        )

    @property
    def channels(self) -> list[str]:
        return sorted({c for p in self.paths for c in p})

    @property
    def journeys(self) -> float:
        return float(self.conversions.sum() + self.nulls.sum())


@dataclass(frozen=True, slots=True)
class ChainDesign:
    """A path table's chain structure, computed once: the states, the distinct transitions (``edge_from`` ->
    ``edge_to``; ``from`` = number of states is ``(start)``) and how often each path takes each (``inner``).

    Re-weighting paths (a bootstrap resample) only changes ``conversions`` / ``nulls`` / ``values``:
    :func:`fit_chain` turns any such weights into a fitted :class:`Chain` with one sparse product.
    """

    order: int
    states: tuple[tuple[str, ...], ...]
    channels: tuple[str, ...]
    edge_from: np.ndarray
    edge_to: np.ndarray
    inner: sp.csr_matrix  # paths x edges: times the path takes the transition
    last: np.ndarray  # the last state of each path (-1 for an empty path)
    contains: np.ndarray = field(repr=False)  # channels x states: does the state contain the channel

    def transition_weights(self, weights: np.ndarray) -> np.ndarray:
        """Per edge: the total weight of the paths taking it (with repeats)."""
        return np.asarray(self.inner.T @ weights, dtype=float)


@dataclass(frozen=True, slots=True)
class Chain:
    """A fitted absorbing chain: ``q`` transient -> transient (dense up to DENSE_LIMIT states, else sparse),
    ``conv`` / ``null`` exit probabilities, ``start`` initial distribution, ``value`` the mean conversion value
    when leaving from each state."""

    design: ChainDesign
    q: Matrix
    conv: np.ndarray
    null: np.ndarray
    start: np.ndarray
    value: np.ndarray
    conversions: float
    total_value: float


def design_chain(table: PathTable, order: int = 1) -> ChainDesign:
    """States and per-path transition counts of ``table`` at Markov ``order`` (1..4)."""
    import scipy.sparse as sp  # loads with a model, not with every page
    if not 1 <= order <= MAX_ORDER:
        raise ValueError(f"The Markov order must be between 1 and {MAX_ORDER}, not {order}.")
    index: dict[tuple[str, ...], int] = {}
    walks = [[index.setdefault(state, len(index)) for state in chain_states(path, order)] for path in table.paths]
    n = len(index)
    edges: dict[tuple[int, int], int] = {}
    rows, cols = [], []
    for i, walk in enumerate(walks):
        prev = n
        for j in walk:
            rows.append(i)
            cols.append(edges.setdefault((prev, j), len(edges)))
            prev = j
    inner = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(walks), len(edges)))
    inner.sum_duplicates()
    pairs = np.array(list(edges), dtype=np.int64).reshape(-1, 2)
    states = tuple(index)
    channels = tuple(sorted({c for s in states for c in s}))
    pos = {c: i for i, c in enumerate(channels)}
    contains = np.zeros((len(channels), n), dtype=bool)
    for j, s in enumerate(states):
        for c in s:
            contains[pos[c], j] = True
    last = np.array([w[-1] if w else -1 for w in walks], dtype=np.int64)
    return ChainDesign(order, states, channels, pairs[:, 0], pairs[:, 1], inner, last, contains)


def fit_chain(design: ChainDesign, conversions: np.ndarray, nulls: np.ndarray, values: np.ndarray) -> Chain:
    """Transition probabilities from path weights (ChannelAttribution: conversions and nulls as weights)."""
    import scipy.sparse as sp  # loads with a model, not with every page
    n = len(design.states)
    keep = design.last >= 0
    conversions = np.where(keep, conversions, 0.0)
    nulls = np.where(keep, nulls, 0.0)
    values = np.where(keep, values, 0.0)
    weight = design.transition_weights(conversions + nulls)
    last = design.last[keep]
    conv_n = np.bincount(last, weights=conversions[keep], minlength=n).astype(float)
    null_n = np.bincount(last, weights=nulls[keep], minlength=n).astype(float)
    value_n = np.bincount(last, weights=values[keep], minlength=n).astype(float)
    from_start = design.edge_from == n
    start = np.bincount(design.edge_to[from_start], weights=weight[from_start], minlength=n).astype(float)
    f, t, w = design.edge_from[~from_start], design.edge_to[~from_start], weight[~from_start]
    out = np.bincount(f, weights=w, minlength=n) + conv_n + null_n
    safe = np.where(out > 0, out, 1.0)
    p = w / safe[f]
    if n <= DENSE_LIMIT:
        q: Matrix = np.zeros((n, n))
        q[f, t] = p  # each (from, to) edge appears once
    else:
        q = sp.csr_matrix((p, (f, t)), shape=(n, n))
    total_start = start.sum()
    return Chain(
        design=design, q=q, conv=conv_n / safe, null=null_n / safe,
        start=start / total_start if total_start > 0 else start,
        value=np.divide(value_n, conv_n, out=np.zeros(n), where=conv_n > 0),
        conversions=float(conversions.sum()), total_value=float(values.sum()),
    )


def build_chain(table: PathTable, order: int = 1) -> Chain:
    """Design and fit in one call."""
    return fit_chain(design_chain(table, order), table.conversions, table.nulls, table.values)


def conversion_outcome(chain: Chain, removed: np.ndarray | None = None) -> tuple[float, float]:
    """(P(conversion), expected conversion value) per journey from ``(start)``; ``removed`` marks states
    whose incoming transitions go to ``(null)`` instead."""
    keep = np.ones(len(chain.start), dtype=bool) if removed is None else ~removed
    if not keep.any():
        return 0.0, 0.0
    idx = np.flatnonzero(keep)
    q = chain.q[np.ix_(idx, idx)] if isinstance(chain.q, np.ndarray) else chain.q[idx][:, idx]
    y = expected_visits(q, chain.start[idx])
    p = float(y @ chain.conv[idx])
    v = float(y @ (chain.conv[idx] * chain.value[idx]))
    return p, v


@dataclass(frozen=True, slots=True)
class RemovalEffects:
    """Per channel: ``removal_effect`` (conversions), ``value_removal_effect``, and the credit they give:
    ``conversions`` = total conversions x RE / sum RE (same for ``value``)."""

    p_conversion: float
    expected_value: float
    removal_effect: dict[str, float]
    value_removal_effect: dict[str, float]
    conversions: dict[str, float]
    value: dict[str, float]


def removal_effects(chain: Chain) -> RemovalEffects:
    """Exact removal effects of every channel of the chain (one linear solve per channel)."""
    p, v = conversion_outcome(chain)
    channels = chain.design.channels
    re: dict[str, float] = {}
    rv: dict[str, float] = {}
    for k, c in enumerate(channels):
        pk, vk = conversion_outcome(chain, chain.design.contains[k])
        re[c] = _clip(1.0 - pk / p) if p > 0 else 0.0
        rv[c] = _clip(1.0 - vk / v) if v > 0 else 0.0
    return RemovalEffects(
        p_conversion=p, expected_value=v, removal_effect=re, value_removal_effect=rv,
        conversions=_share(re, chain.conversions), value=_share(rv, chain.total_value),
    )


def _clip(x: float) -> float:
    """Round-off can put an effect a hair outside [0, 1]."""
    return float(min(max(x, 0.0), 1.0))


def _share(effects: dict[str, float], total: float) -> dict[str, float]:
    s = sum(effects.values())
    return {c: (total * e / s if s > 0 else 0.0) for c, e in effects.items()}
