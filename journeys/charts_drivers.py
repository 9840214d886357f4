"""Drivers -> Plotly: a forest plot of odds ratios with their 95% intervals on a log axis (1 = no effect)."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from journeys.analyses.drivers import DriversResult
from journeys.charts import PALETTE, _plain, _short

POSITIVE, NEGATIVE = PALETTE[4], PALETTE[2]
LABEL_CHARS = 40
TICKS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]


def forest_rows(result: DriversResult) -> pd.DataFrame:
    """The rows the plot draws: top positive drivers (strongest effect on top), then top negative ones."""
    pos = result.top("positive").sort_values("odds_ratio", ascending=False)
    neg = result.top("negative").sort_values("odds_ratio", ascending=False)
    return pd.concat([pos, neg], ignore_index=True)


def forest_figure(result: DriversResult) -> go.Figure:
    """Odds ratio markers with 95% CI whiskers, one row per driver, on a log x axis with a line at 1."""
    rows = forest_rows(result)
    colours = [POSITIVE if v > 1 else NEGATIVE for v in rows.odds_ratio]
    labels = [f"{i + 1}. {_plain(_short(lbl, LABEL_CHARS))}" for i, lbl in enumerate(rows.label)]
    hover = [f"{_plain(lbl)}<br>odds ratio {o:.2f} (95% CI {lo:.2f}–{hi:.2f})<br>rate {rw:.1%} with, {ro:.1%} without"
             f"<br>q = {q:.2g}" for lbl, o, lo, hi, rw, ro, q in
             zip(rows.label, rows.odds_ratio, rows.ci_low, rows.ci_high, rows.rate_with, rows.rate_without,
                 rows.q_value, strict=True)]
    fig = go.Figure(go.Scatter(
        x=rows.odds_ratio, y=labels, mode="markers", marker={"color": colours, "size": 10, "symbol": "square"},
        error_x={"type": "data", "symmetric": False, "array": rows.ci_high - rows.odds_ratio,
                 "arrayminus": rows.odds_ratio - rows.ci_low, "color": "#6b7280", "thickness": 1.5},
        hovertext=hover, hoverinfo="text",
    ))
    fig.add_vline(x=1, line_dash="dash", line_color="#9ca3af")
    span = [v for v in (*rows.ci_low, *rows.ci_high) if v > 0 and math.isfinite(v)]
    lo, hi = (min(span), max(span)) if span else (0.5, 2.0)
    lo, hi = min(lo, 0.9), max(hi, 1.1)
    ticks = [t for t in TICKS if lo / 1.5 <= t <= hi * 1.5]
    fig.update_layout(
        height=120 + 28 * max(len(rows), 1), margin={"l": 10, "r": 20, "t": 20, "b": 40},
        xaxis={"type": "log", "title": "odds ratio (95% CI), log scale", "tickvals": ticks,
               "ticktext": [f"{t:g}" for t in ticks], "range": [math.log10(lo) - 0.05, math.log10(hi) + 0.05]},
        yaxis={"autorange": "reversed"}, showlegend=False)
    return fig
