"""Churn paths' frames, read off one count of customers per (status, last K touchpoints): the Sankey's nodes and
links, each touchpoint's exposure and over-representation among churned customers, and the most common last-K
paths. Pure pandas apart from that count (see :func:`journeys.analyses.churn.churn_paths`)."""

from __future__ import annotations

import math

import ibis.expr.types as ir
import pandas as pd

from journeys.analyses.base import OTHER, to_frame
from journeys.outcomes import CHURNED
from journeys.stats import bh_qvalues, two_by_two

NODES_PER_STEP = 5
PATHS_SHOWN = 20
#: below these, an over-representation row is shown with a badge instead of a rank (DESIGN's floors)
MIN_EXPOSED, MIN_CELL = 30, 5
CHURNED_NODE, ACTIVE_NODE = "CHURNED", "STILL ACTIVE"


def combos_of(per: ir.Table, k: int) -> pd.DataFrame:
    """``status, t1..tK, n``: customers per status and last-K touchpoints (few rows: journeys end alike)."""
    cols = [f"t{b}" for b in range(1, k + 1)]
    frame = to_frame(per.group_by(["status", *cols]).aggregate(n=per.count()))
    return frame.astype({"n": "int64"}).astype(dict.fromkeys(cols, "object"))


def nodes_and_steps(combos: pd.DataFrame, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customers per status at each step back (``status, touchpoint, n, back``) and per move between steps
    (``status, src, dst, n, back``: from ``t{back}`` to ``t{back - 1}``), both touchpoints present."""
    nodes = [combos.dropna(subset=[f"t{b}"]).groupby(["status", f"t{b}"], as_index=False)["n"].sum()
             .rename(columns={f"t{b}": "touchpoint"}).assign(back=b) for b in range(1, k + 1)]
    steps = [combos.dropna(subset=[f"t{b}", f"t{b - 1}"]).groupby(["status", f"t{b}", f"t{b - 1}"], as_index=False)["n"]
             .sum().rename(columns={f"t{b}": "src", f"t{b - 1}": "dst"}).assign(back=b) for b in range(2, k + 1)]
    return (pd.concat(nodes, ignore_index=True),
            pd.concat(steps, ignore_index=True) if steps else pd.DataFrame(columns=["status", "src", "dst", "n", "back"]))


def exposed_of(combos: pd.DataFrame, k: int) -> pd.DataFrame:
    """``touchpoint, status, n``: customers with the touchpoint anywhere among their last K."""
    cols = [f"t{b}" for b in range(1, k + 1)]
    if combos.empty:
        return pd.DataFrame({"touchpoint": pd.Series(dtype="object"), "status": pd.Series(dtype="object"),
                             "n": pd.Series(dtype="int64")})
    long = combos.reset_index().melt(id_vars=["index", "status", "n"], value_vars=cols, value_name="touchpoint")
    long = long.dropna(subset=["touchpoint"]).drop_duplicates(["index", "touchpoint"])
    out = long.groupby(["touchpoint", "status"], as_index=False)["n"].sum()
    out["status"] = out.status.astype(str)
    return out[out.n > 0].sort_values(["status", "touchpoint"]).reset_index(drop=True)


def top_paths(combos: pd.DataFrame, k: int, limit: int = PATHS_SHOWN) -> pd.DataFrame:
    """The ``limit`` most common last-K paths among churned customers (``path`` oldest first, a tuple), with how
    many churned and still-active customers ended exactly so, and the churn rate on the path. ``combos`` (see
    :func:`combos_of`) counts customers per ``status`` and ``t1`` (the last touchpoint) ... ``tK``."""
    cols = [f"t{b}" for b in range(1, k + 1)]
    c = combos.assign(churned=combos.n.where(combos.status == CHURNED, 0),
                      active=combos.n.where(combos.status != CHURNED, 0))
    paths = c.groupby(cols, dropna=False, as_index=False)[["churned", "active"]].sum()
    # most churned first, then most active, then by the touchpoints (absent ones last)
    top = paths.sort_values(["churned", "active", *cols], ascending=[False, False, *[True] * k],
                            na_position="last", kind="mergesort").head(limit)
    out = pd.DataFrame({
        "path": [tuple(str(v) for v in reversed(row) if v is not None and not pd.isna(v))
                 for row in top[cols].itertuples(index=False)],
        "churned": top["churned"].astype("int64").to_numpy(), "active": top["active"].astype("int64").to_numpy()})
    out["rate"] = out.churned / (out.churned + out.active)
    return out[out.churned > 0].reset_index(drop=True)


def _label(back: int, touchpoint: str) -> str:
    return f"-{back} · {touchpoint}"


def links_of(nodes: pd.DataFrame, steps: pd.DataFrame) -> pd.DataFrame:
    cols = ["source", "target", "status", "customers"]
    if nodes.empty:
        return pd.DataFrame(columns=cols)
    # each group keeps its own most common touchpoints per step: churned paths are not drowned by the active ones
    totals = nodes.assign(churned=nodes.status == CHURNED).groupby(["churned", "back", "touchpoint"], as_index=False)["n"].sum()
    totals = totals.sort_values(["churned", "back", "n", "touchpoint"], ascending=[True, True, False, True])
    top = {(bool(r.churned), int(r.back), str(r.touchpoint))
           for r in totals.groupby(["churned", "back"]).head(NODES_PER_STEP).itertuples()}

    def name(status: str, back: int, tp: str) -> str:
        return _label(back, tp if (status == CHURNED, back, tp) in top else OTHER)

    final = nodes[nodes.back == 1]
    rows = [(name(str(r.status), 1, str(r.touchpoint)), CHURNED_NODE if r.status == CHURNED else ACTIVE_NODE,
             str(r.status), int(r.n)) for r in final.itertuples()]
    rows += [(name(str(r.status), int(r.back), str(r.src)), name(str(r.status), int(r.back) - 1, str(r.dst)),
              str(r.status), int(r.n)) for r in steps.itertuples()]
    out = pd.DataFrame(rows, columns=cols).groupby(["source", "target", "status"], as_index=False)["customers"].sum()
    return out.sort_values(["customers", "source", "target", "status"], ascending=[False, True, True, True],
                           ignore_index=True)


def overrepresentation(exposed: pd.DataFrame, totals: pd.DataFrame) -> pd.DataFrame:
    """Per touchpoint: churned and active customers with it among their last K, the churn rate with and without
    it, lift, odds ratio (95% interval), p and BH q-value; ``ranked`` False below the floors."""
    cols = ["touchpoint", "churned_with", "active_with", "churned_share", "active_share", "rate_with",
            "rate_without", "lift", "odds_ratio", "ci_low", "ci_high", "p_value", "q_value", "ranked", "badge"]
    n_churned = int(totals.loc[totals.status == CHURNED, "n"].sum())
    n_active = int(totals.loc[totals.status != CHURNED, "n"].sum())
    if exposed.empty:
        return pd.DataFrame(columns=cols)
    wide = exposed.assign(churned=exposed.status == CHURNED).pivot_table(
        index="touchpoint", columns="churned", values="n", aggfunc="sum", fill_value=0)
    rows = []
    for tp in wide.index:
        a = int(wide.loc[tp, True]) if True in wide.columns else 0
        b = int(wide.loc[tp, False]) if False in wide.columns else 0
        t = two_by_two(a, b, n_churned - a, n_active - b)
        ranked = a + b >= MIN_EXPOSED and t.min_cell >= MIN_CELL
        rows.append([str(tp), a, b, a / n_churned if n_churned else math.nan, b / n_active if n_active else math.nan,
                     t.rate_with, t.rate_without, t.lift, t.odds_ratio, t.ci_low, t.ci_high, t.p_value, 0.0, ranked,
                     "" if ranked else f"too few customers to rank (< {MIN_EXPOSED} with it or < {MIN_CELL} in a cell)"])
    out = pd.DataFrame(rows, columns=cols)
    out["q_value"] = bh_qvalues(list(out.p_value))
    out = out.sort_values(["ranked", "lift", "churned_with", "touchpoint"], ascending=[False, False, False, True],
                          na_position="last")
    return out.reset_index(drop=True)
