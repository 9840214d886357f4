"""Predict and next-best-action results -> Plotly figures. User text goes in as data, escaped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from journeys.analyses.predict import PredictResult
from journeys.charts import GREY, PALETTE, _plain

MARGIN = {"l": 10, "r": 10, "t": 30, "b": 10}
BINS = 20


def score_histogram(result: PredictResult, band: tuple[float, float] = (0.0, 1.0)) -> go.Figure:
    """Customers per score bin (twenty bins of 0.05); the chosen band in colour, the rest grey."""
    scores = result.scores["score"].to_numpy("float64")
    counts, edges = np.histogram(scores, bins=BINS, range=(0.0, 1.0))
    mids = (edges[:-1] + edges[1:]) / 2
    inside = (edges[1:] > band[0]) & (edges[:-1] <= band[1])
    fig = go.Figure(go.Bar(x=mids, y=counts, width=1 / BINS * 0.95, marker_color=[PALETTE[0] if i else GREY for i in inside],
                           customdata=np.column_stack([edges[:-1], edges[1:]]),
                           hovertemplate="score %{customdata[0]:.2f}-%{customdata[1]:.2f}: %{y:,} customers<extra></extra>"))
    fig.update_layout(height=300, margin=MARGIN, bargap=0, xaxis={"title": "score", "range": [0, 1]},
                      yaxis={"title": "customers"}, title={"text": "Score distribution", "font": {"size": 14}})
    return fig


def calibration_figure(result: PredictResult) -> go.Figure:
    """Observed rate against mean score per bin, one line per model, the diagonal for reference."""
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"color": GREY, "dash": "dot"},
                               name="perfectly calibrated", hoverinfo="skip"))
    for i, (name, m) in enumerate(result.metrics.items()):
        rows = pd.DataFrame(m.calibration, columns=["low", "high", "customers", "mean_score", "observed"])
        fig.add_trace(go.Scatter(x=rows.mean_score, y=rows.observed, mode="lines+markers", name=_plain(name),
                                 marker={"size": np.clip(np.sqrt(rows.customers), 5, 18), "color": PALETTE[i]},
                                 customdata=rows.customers,
                                 hovertemplate="mean score %{x:.2f}: %{y:.1%} observed (%{customdata:,})<extra></extra>"))
    fig.update_layout(height=340, margin=MARGIN, xaxis={"title": "mean predicted score", "range": [-0.03, 1.03]},
                      yaxis={"title": "observed rate", "range": [-0.03, 1.03], "tickformat": ".0%"},
                      title={"text": "Calibration on the validation period", "font": {"size": 14}},
                      legend={"orientation": "h", "y": -0.25})
    return fig


def _short_left(text: str, limit: int) -> str:
    """``text`` cut from the left to ``limit`` characters (at least 12), the cut marked with an ellipsis."""
    limit = max(limit, 12)
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def uplift_figure(options: pd.DataFrame, top: int = 15) -> go.Figure:
    """The supported (state, action) pairs with the largest uplift, with their 95% intervals."""
    rows = options[options["recommendable"]].sort_values(["uplift", "support"], ascending=[False, False]).head(top)
    rows = rows.iloc[::-1]
    # the action is what the chart is about: a long state gives way from its oldest touchpoints, never the action
    labels = [_plain(f"{_short_left(str(s), 48 - len(str(a)))} → {a}") for s, a in zip(rows.state, rows.action, strict=True)]
    fig = go.Figure(go.Bar(
        x=rows.uplift, y=labels, orientation="h", marker_color=[PALETTE[4] if u > 0 else PALETTE[2] for u in rows.uplift],
        error_x={"type": "data", "symmetric": False, "array": rows.ci_high - rows.uplift,
                 "arrayminus": rows.uplift - rows.ci_low, "color": "#374151"},
        customdata=np.column_stack([rows.support, rows.ci_low, rows.ci_high]),
        hovertemplate="%{y}<br>%{x:+.1%} (95%: %{customdata[1]:+.1%} to %{customdata[2]:+.1%}); "
                      "%{customdata[0]:,} customers<extra></extra>"))
    fig.update_layout(height=max(260, 40 + 26 * len(rows)), margin=MARGIN, xaxis={"tickformat": "+.0%", "title": "uplift"},
                      title={"text": "Largest supported uplifts (state → action)", "font": {"size": 14}})
    return fig
