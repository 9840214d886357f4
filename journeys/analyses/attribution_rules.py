"""Credit arithmetic outside the engine: rule weights, credit matrices over distinct paths (for the
bootstrap), the warnings a path table calls for, and the fitted chain as a transition table.

A rule gives each touch of a converting path a share of the conversion (shares sum to 1):

- ``first`` / ``last``: everything to the first / last touch;
- ``linear``: 1/n to each touch, so a channel touched twice gets two shares (ChannelAttribution's
  ``heuristic_models`` convention);
- ``position``: ``(first, middle, last)`` weights, normalised; the middle weight is spread evenly over the
  middle touches. Two touches split ``first : last``; one touch gets everything. U = 40/20/40,
  J = 20/20/60 (the peak on the converting touch), inverse J = 60/20/20;
- ``time_decay``: ``2^(-age / half-life)``, age = time from the touch to the conversion, normalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from journeys.errors import QueryError
from journeys.markov import CONVERSION, NULL, START, PathTable, design_chain

if TYPE_CHECKING:
    import scipy.sparse as sp

    from journeys.analyses.attribution import AttributionQuery, AttributionResult

POSITION_PRESETS: dict[str, tuple[float, float, float]] = {
    "U": (0.4, 0.2, 0.4), "J": (0.2, 0.2, 0.6), "inverse_J": (0.6, 0.2, 0.2),
}
PATH_MODELS = ("first", "last", "linear", "position")
FEW_CONVERSIONS = 100  # below this, every credit is shaky (DESIGN floors)
THIN_STATE = 5  # a Markov state seen in fewer journeys than this is estimated from too little
THIN_SHARE = 0.2  # warn when more than this share of states is thin


def normalised(weights: Sequence[float]) -> tuple[float, float, float]:
    """Position weights scaled to sum to 1 (custom weights such as 30/40/30 or 3/4/3 mean the same)."""
    first, middle, last = (float(w) for w in weights)
    total = first + middle + last
    return (first / total, middle / total, last / total)


def parse_position(text: str) -> tuple[float, float, float]:
    """``U``, ``J``, ``inverse_J`` or custom ``first/middle/last`` weights such as ``30/40/30`` (normalised)."""
    if text in POSITION_PRESETS:
        return POSITION_PRESETS[text]
    try:
        weights = tuple(float(p) for p in text.replace(",", "/").split("/"))
    except ValueError:
        weights = ()
    if len(weights) != 3 or min(weights) < 0 or sum(weights) <= 0:
        raise QueryError(f"'{text}' is not a position weighting.",
                         hint="Use U, J, inverse_J or three weights first/middle/last, e.g. 30/40/30.")
    return normalised(weights)


def format_position(weights: tuple[float, float, float]) -> str:
    """The preset's name, else ``first/middle/last`` in percent (what :func:`parse_position` reads back)."""
    for name, preset in POSITION_PRESETS.items():
        if np.allclose(normalised(weights), preset):
            return name
    return "/".join(f"{100 * w:g}" for w in normalised(weights))


def touch_weights(n: int, model: str, position: tuple[float, float, float] = POSITION_PRESETS["U"]) -> np.ndarray:
    """Each touch's share of a conversion on a path of ``n`` touches under a path-only rule.

    >>> touch_weights(4, "position").tolist()
    [0.4, 0.1, 0.1, 0.4]
    """
    w = np.zeros(n)
    if n == 0:
        return w
    if model == "first":
        w[0] = 1.0
    elif model == "last":
        w[-1] = 1.0
    elif model == "linear":
        w[:] = 1.0 / n
    elif model == "position":
        first, middle, last = normalised(position)
        if n == 1:
            w[0] = 1.0
        elif n == 2:
            ends = first + last
            w[:] = (first / ends, last / ends) if ends > 0 else (0.5, 0.5)
        else:
            w[0], w[-1] = first, last
            w[1:-1] = middle / (n - 2)
    else:
        raise ValueError(f"'{model}' is not a path rule")
    return w


def credit_matrix(paths: Sequence[Sequence[str]], items: Sequence[str], model: str,
                  position: tuple[float, float, float] = POSITION_PRESETS["U"]) -> sp.csr_matrix:
    """paths x items: the credit one conversion on each path gives each item under ``model``."""
    import scipy.sparse as sp  # loads with a model, not with every page
    pos = {c: i for i, c in enumerate(items)}
    rows: list[int] = []
    cols: list[int] = []
    data: list[float] = []
    cache: dict[int, np.ndarray] = {}
    for r, path in enumerate(paths):
        n = len(path)
        w = cache.get(n)
        if w is None:
            w = cache[n] = touch_weights(n, model, position)
        for c, x in zip(path, w, strict=True):
            if x:
                rows.append(r)
                cols.append(pos[c])
                data.append(float(x))
    m = sp.csr_matrix((data, (rows, cols)), shape=(len(paths), len(items)))
    m.sum_duplicates()
    return m


def warnings_for(q: AttributionQuery, pt: PathTable, counts: dict[str, float], effects: dict[str, float],
              converting: set[str]) -> list[str]:
    out = []
    credited = int(pt.conversions.sum())
    if credited < FEW_CONVERSIONS:
        out.append(f"Only {credited:,} conversions can be credited: with fewer than {FEW_CONVERSIONS} every "
                   "credit (and its band) rests on few journeys.")
    if counts["conversions"] > counts["credited"]:
        gone = int(counts["conversions"] - counts["credited"])
        out.append(f"{gone:,} conversions had no touch with a {q.by} in the lookback window and are not credited.")
    if counts["missing"]:
        out.append(f"{int(counts['missing']):,} touches have no {q.by} value and are left out of the paths.")
    if "markov" in q.models:
        conv_paths = [p for p, k in zip(pt.paths, pt.conversions, strict=True) if k > 0]
        everywhere = sorted(c for c in converting if all(c in p for p in conv_paths))
        for c in everywhere:
            out.append(f"'{c}' is on every converting path: its removal effect is 1 whatever it does, so the Markov "
                       "model cannot tell its part from the conversion itself.")
        # no "every removal effect is ~0" check: solved exactly, RE(k) = P(a state with k is visited | conversion),
        # and every conversion visits a state, so the effects sum to at least 1 (near-zero effects everywhere are
        # an artefact of too few simulated paths in ChannelAttribution)
        design = design_chain(pt, q.order)
        entered = design.transition_weights(pt.conversions + pt.nulls)
        visits = np.bincount(design.edge_to, weights=entered, minlength=len(design.states))
        thin = int((visits < THIN_STATE).sum())
        if visits.size and thin / visits.size > THIN_SHARE:
            out.append(f"{thin:,} of the {visits.size:,} order-{q.order} states are entered fewer than {THIN_STATE} "
                       f"times: order {q.order} is too high for this much data"
                       + (f"; try order {q.order - 1}." if q.order > 1 else "."))
    return out


def transition_matrix(result: AttributionResult) -> pd.DataFrame:
    """The fitted Markov chain as rows ``from``, ``to``, ``probability``, ``journeys`` (weight of the transition),
    with ``(start)``, ``(conversion)`` and ``(null)``; states of order > 1 read ``a > b``."""
    pt = PathTable(tuple(tuple(p) for p in result.paths.path), result.paths.conversions.to_numpy(float),
                   result.paths.nulls.to_numpy(float), result.paths.value.to_numpy(float))
    design = design_chain(pt, result.query.order)
    n = len(design.states)
    names = [" > ".join(s) for s in design.states] + [START]
    weight = design.transition_weights(pt.conversions + pt.nulls)
    rows = [(names[f], names[t], w) for f, t, w in zip(design.edge_from, design.edge_to, weight, strict=True) if w > 0]
    last = design.last
    conv = np.bincount(last, weights=pt.conversions, minlength=n)
    null = np.bincount(last, weights=pt.nulls, minlength=n)
    rows += [(names[i], CONVERSION, conv[i]) for i in np.flatnonzero(conv)]
    rows += [(names[i], NULL, null[i]) for i in np.flatnonzero(null)]
    frame = pd.DataFrame(rows, columns=["from", "to", "journeys"])
    if (frame.journeys % 1 == 0).all():  # journeys, not fractions (path tables may carry weights)
        frame["journeys"] = frame.journeys.astype("int64")
    frame["probability"] = frame.journeys / frame.groupby("from").journeys.transform("sum")
    return frame.sort_values(["from", "probability"], ascending=[True, False]).reset_index(drop=True)
