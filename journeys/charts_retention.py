"""Retention, lifecycle, churn and P(alive) results -> Plotly figures. User text goes in as data, escaped."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from journeys.analyses.churn import ACTIVE_NODE, CHURNED_NODE, ChurnResult
from journeys.analyses.lifecycle import LifecycleResult
from journeys.analyses.palive import ACTIVE_ABOVE, LIKELY_LOST_BELOW, PAliveResult
from journeys.analyses.palive_product import HoldoutCheck
from journeys.analyses.retention import RetentionResult
from journeys.charts import GREY, PALETTE, _plain, _short

Measure = Literal["pct", "retained", "revenue"]
MARGIN = {"l": 10, "r": 10, "t": 30, "b": 10}
LIFECYCLE_COLOURS = {"new": PALETTE[0], "returning": PALETTE[4], "resurrecting": PALETTE[5], "dormant": PALETTE[2]}
CHURN_RED, ACTIVE_GREEN = PALETTE[2], PALETTE[4]


def _cell(value: float | None, measure: Measure) -> str:
    if value is None or pd.isna(value):
        return ""
    if measure == "pct":
        return f"{value:.1%}"
    return f"{value:,.0f}" if measure == "retained" else f"{value:,.2f}"


def retention_heatmap(result: RetentionResult, group: str, measure: Measure = "pct") -> go.Figure:
    """Cohorts down, k across, and on top the weighted average (percentages) or all cohorts together (customers,
    revenue: their totals, left out of the colour scale so they do not wash the cohorts out); blank cells are
    periods not observed yet."""
    rows = result.table[result.table.group == group]
    avg = result.average[result.average.group == group].set_index("k")
    wide = rows.pivot_table(index="cohort", columns="k", values=measure, aggfunc="first", dropna=False)
    wide = wide.reindex(columns=sorted(rows.k.unique()))
    sizes = rows.groupby("cohort")["size"].first()
    head = "Average" if measure == "pct" else "All cohorts"
    labels = [f"{head} ({int(avg['size'].iloc[0]):,})" if len(avg) else head]
    labels += [f"{pd.Timestamp(c):%Y-%m-%d} ({int(sizes[c]):,})" for c in wide.index]
    top = [avg[measure].get(k) for k in wide.columns]
    z = [[None if v is None or pd.isna(v) else float(v) for v in top]]
    z += [[None if pd.isna(v) else float(v) for v in row] for row in wide.to_numpy()]
    text = [[_cell(v, measure) for v in row] for row in z]
    # colours spread over the returns (k >= 1), so 100% at k = 0 does not wash every later cell out
    later = [v for row in (z if measure == "pct" else z[1:]) for v in row[1:] if v is not None]
    zmax = max(later) if later and max(later) > 0 else None
    hover = "%{y}<br>period %{x}: %{text}<extra></extra>"
    fig = go.Figure(go.Heatmap(z=z, x=[f"k={k}" for k in wide.columns], y=labels, text=text, texttemplate="%{text}",
                               colorscale="Blues", hovertemplate=hover, showscale=False, xgap=1, ygap=1,
                               zmin=0, zmax=zmax))
    fig.update_layout(height=max(260, 60 + 24 * len(labels)), margin=MARGIN, yaxis={"autorange": "reversed"},
                      xaxis={"side": "top"})
    return fig


def retention_curves(result: RetentionResult) -> go.Figure:
    """Each cohort's retention by k (thin), and the weighted average per group (bold). When every average after
    k = 0 stays below 50%, k = 0 (100% by definition) is left out so the curves are not flattened against zero."""
    fig = go.Figure()
    groups = list(dict.fromkeys(result.average.group))
    later = result.average[(result.average.k > 0) & result.average.pct.notna()].pct.astype(float)
    zoom = bool(len(later)) and float(later.max()) < 0.5
    if len(groups) == 1:
        for cohort, part in result.table.groupby("cohort"):
            seen = part[part.pct.notna() & ((part.k > 0) if zoom else True)]
            fig.add_scatter(x=seen.k, y=seen.pct.astype(float), mode="lines", line={"color": "#cbd5e1", "width": 1},
                            name=f"{pd.Timestamp(cohort):%Y-%m-%d}", showlegend=False,
                            hovertemplate=f"{pd.Timestamp(cohort):%Y-%m-%d}: " + "k=%{x} %{y:.1%}<extra></extra>")
    for i, g in enumerate(groups):
        part = result.average[(result.average.group == g) & result.average.pct.notna()
                              & ((result.average.k > 0) if zoom else True)]
        fig.add_scatter(x=part.k, y=part.pct.astype(float), mode="lines+markers", name=_plain(_short(str(g), 30)),
                        line={"color": PALETTE[i % len(PALETTE)], "width": 3},
                        hovertemplate=_plain(str(g)) + ": k=%{x} %{y:.1%}<extra></extra>")
    fig.update_layout(height=340, margin=MARGIN, yaxis_tickformat=".1%" if zoom else ".0%", yaxis_title="retained",
                      xaxis_title=f"{result.query.period}s after the start (k)"
                      + (" (k = 0, 100% by definition, left out)" if zoom else ""), yaxis_rangemode="tozero")
    if zoom:  # the averages, not a lone cohort's spike, set the scale
        fig.update_yaxes(range=[0, float(later.max()) * 1.6])
    return fig


def lifecycle_figure(result: LifecycleResult) -> go.Figure:
    """Stacked bars per period, dormant below zero; an incomplete last period is faded."""
    p = result.periods
    opacity = [1.0 if c else 0.45 for c in p.complete]
    fig = go.Figure()
    for state in ("new", "returning", "resurrecting", "dormant"):
        y = -p[state] if state == "dormant" else p[state]
        fig.add_bar(x=p.period, y=y, name=state, marker={"color": LIFECYCLE_COLOURS[state], "opacity": opacity},
                    customdata=p[state], hovertemplate=f"%{{x|%Y-%m-%d}} {state}: %{{customdata:,}}<extra></extra>")
    fig.update_layout(barmode="relative", height=360, margin=MARGIN, yaxis_title="customers",
                      legend={"orientation": "h", "y": 1.08})
    return fig


def churn_over_time_figure(result: ChurnResult) -> go.Figure:
    t = result.over_time
    fig = go.Figure(go.Bar(x=t.period, y=t.rate.astype(float), marker_color=CHURN_RED,
                           customdata=list(zip(t.churned, t.customers, strict=True)),
                           hovertemplate="%{x|%Y-%m-%d}: %{y:.1%} (%{customdata[0]:,} of %{customdata[1]:,})"
                                         "<extra></extra>"))
    unknown = t[~t.known]
    if len(unknown):
        fig.add_vrect(x0=unknown.period.min(), x1=unknown.period.max(), fillcolor=GREY, opacity=0.15, line_width=0,
                      annotation_text="too recent to know", annotation_position="top left")
    fig.update_layout(height=300, margin=MARGIN, yaxis_tickformat=".1%", yaxis_title="churned in the period")
    return fig


def time_to_churn_figure(result: ChurnResult) -> go.Figure:
    t = result.time_to_churn
    fig = go.Figure(go.Bar(x=t.weeks, y=t.churned, marker_color=CHURN_RED,
                           hovertemplate="week %{x}: %{y:,} customers<extra></extra>"))
    fig.update_layout(height=280, margin=MARGIN, xaxis_title="weeks from first event to churn", yaxis_title="customers")
    return fig


def churn_sankey(result: ChurnResult, *, churned_only: bool = False) -> go.Figure:
    """The last K touchpoints, step-indexed (-K ... -1), flowing into CHURNED (and STILL ACTIVE)."""
    links = result.links
    if churned_only:
        links = links[links.target.ne(ACTIVE_NODE) & (links.status.eq("churned"))]
    links = links.groupby(["source", "target"], as_index=False)["customers"].sum()
    names = sorted(set(links.source) | set(links.target), key=_node_order)
    at = {n: i for i, n in enumerate(names)}
    k = result.query.last_k
    x = [0.999 if n in (CHURNED_NODE, ACTIVE_NODE) else 0.001 + (k - int(n.split(" ", 1)[0][1:])) / k * 0.9
         for n in names]
    colours = [CHURN_RED if n == CHURNED_NODE else ACTIVE_GREEN if n == ACTIVE_NODE else PALETTE[0] for n in names]
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node={"label": [_plain(_short(n, 32)) for n in names], "color": colours, "x": x, "pad": 12,
              "hovertemplate": "%{label}: %{value:,} customers<extra></extra>"},
        link={"source": [at[s] for s in links.source], "target": [at[t] for t in links.target],
              "value": list(links.customers), "color": "rgba(148,163,184,0.35)",
              "hovertemplate": "%{source.label} → %{target.label}: %{value:,}<extra></extra>"}))
    fig.update_layout(height=520, margin=MARGIN)
    return fig


def _node_order(name: str) -> tuple[int, str]:
    if name in (CHURNED_NODE, ACTIVE_NODE):
        return (0, name)
    return (-int(name.split(" ", 1)[0][1:]), name)


def palive_bands_figure(result: PAliveResult) -> go.Figure:
    """How many buyers per P(alive) tenth, coloured by band (edges at 0.3 and 0.7)."""
    p = result.customers.p_alive
    edges = [i / 10 for i in range(11)]
    counts, _ = np.histogram(p, bins=edges)  # [0, 0.1), ..., [0.9, 1.0]: the last bin keeps P(alive) = 1
    mids = [i / 10 + 0.05 for i in range(10)]
    colours = [CHURN_RED if m < LIKELY_LOST_BELOW else ACTIVE_GREEN if m > ACTIVE_ABOVE else PALETTE[5] for m in mids]
    fig = go.Figure(go.Bar(x=mids, y=list(counts), width=0.095, marker_color=colours,
                           hovertemplate="P(alive) %{x:.2f} ± 0.05: %{y:,} buyers<extra></extra>"))
    fig.update_layout(height=280, margin=MARGIN, xaxis_title="P(alive)", yaxis_title="buyers", xaxis_range=[0, 1])
    return fig


def holdout_figure(check: HoldoutCheck) -> go.Figure:
    """Mean purchase days in the hold-out, predicted and actual, by purchases before it (Fader et al., fig. 3)."""
    t = check.table
    labels = [f"{int(f)}+" if i == len(t) - 1 and f >= 7 else str(int(f)) for i, f in enumerate(t.frequency)]
    fig = go.Figure()
    fig.add_scatter(x=labels, y=t.actual, mode="lines+markers", name="actual", line={"color": PALETTE[0]},
                    customdata=t.customers, hovertemplate="%{x}: %{y:.2f} (%{customdata:,} buyers)<extra>actual</extra>")
    fig.add_scatter(x=labels, y=t.predicted, mode="lines+markers", name="predicted",
                    line={"color": PALETTE[1], "dash": "dash"}, hovertemplate="%{x}: %{y:.2f}<extra>predicted</extra>")
    fig.update_layout(height=300, margin=MARGIN, xaxis_title="repeat purchase days before the hold-out", xaxis_type="category",
                      yaxis_title="mean purchase days in the hold-out", legend={"orientation": "h", "y": 1.1})
    return fig
