"""Rule-based attribution weights, and credit matrices over distinct paths for the bootstrap.

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

import numpy as np
import scipy.sparse as sp

from journeys.errors import QueryError

POSITION_PRESETS: dict[str, tuple[float, float, float]] = {
    "U": (0.4, 0.2, 0.4), "J": (0.2, 0.2, 0.6), "inverse_J": (0.6, 0.2, 0.2),
}
PATH_MODELS = ("first", "last", "linear", "position")


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
