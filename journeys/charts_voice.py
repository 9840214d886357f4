"""Voice of the customer results -> Plotly figures: the emotion curve and touchpoints by negative share."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from journeys.analyses.scores import SCALES
from journeys.charts import _plain, _short

NEGATIVE, POSITIVE, SCORE = "#e15759", "#59a14f", "#4e79a7"


def score_axis_range(curve: pd.DataFrame, given: tuple[int, int] | None = None) -> tuple[int, int] | None:
    """The score axis: the given scale, else the smallest known scale (CSAT 1-5, 1-7, NPS 0-10) holding
    every stage average, else whole numbers around them, so ticks read 1, 2, 3 and never 2.496."""
    if given is not None:
        return given
    shown = curve.avg_score.dropna()
    if shown.empty:
        return None
    lo, hi = float(shown.min()), float(shown.max())
    fits = [b for b in SCALES.values() if b[0] <= lo and hi <= b[1]]
    return min(fits, key=lambda b: b[1] - b[0]) if fits else (math.floor(lo), max(math.ceil(hi), math.floor(lo) + 1))


def stages_with_data(curve: pd.DataFrame) -> list[str]:
    """Stages that have a point on the curve (enough texts or enough score responses)."""
    return [str(s) for s, a, b in zip(curve.stage, curve.avg_sentiment, curve.avg_score, strict=True)
            if pd.notna(a) or pd.notna(b)]


def curve_note(curve: pd.DataFrame) -> str:
    """A sentence when the curve cannot show a change across stages (one stage or none has a point), else ''."""
    have = stages_with_data(curve)
    if len(have) > 1:
        return ""
    if not have:
        return "No stage has enough texts or score responses for a point, so the curve is empty."
    return (f"Only one stage ({have[0].capitalize()}) has enough texts or score responses for a point, so the curve "
            "shows a single point, not a change across the journey. If the touchpoints that carry feedback belong to "
            "different stages, give each its own stage and the curve fills in.")


def emotion_curve_figure(curve: pd.DataFrame, *, score_name: str = "score", score_range: tuple[int, int] | None = None,
                         height: int = 320) -> go.Figure:
    """Average sentiment (-1..1, left axis) and average score (right axis) by stage, in journey order.
    Stages below the floor are gaps in the line, not zeros."""
    stages = [_plain(str(s)).capitalize() for s in curve.stage]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=stages, y=curve.avg_sentiment, mode="lines+markers", name="average sentiment", line={"color": NEGATIVE},
        customdata=list(zip(curve.texts, curve.negative_share.fillna(0), strict=True)),
        hovertemplate="%{x}: sentiment %{y:.2f}<br>%{customdata[0]:,} texts, %{customdata[1]:.0%} negative<extra></extra>"))
    if curve.avg_score.notna().any():
        fig.add_trace(go.Scatter(
            x=stages, y=curve.avg_score, mode="lines+markers", name=f"average {score_name}", yaxis="y2",
            line={"color": SCORE, "dash": "dot"}, customdata=curve.responses,
            hovertemplate="%{x}: %{y:.2f} from %{customdata:,} responses<extra></extra>"))
    fig.add_hline(y=0, line={"color": "#d1d5db", "width": 1})
    axis = score_axis_range(curve, score_range)
    pad = 0.2 / (axis[1] - axis[0]) if axis else 0.0
    fig.update_layout(
        height=height, template="plotly_white", margin={"l": 50, "r": 50, "t": 20, "b": 40}, hovermode="x unified",
        # the same padding as the score axis, so sentiment -1 / 1 sit level with the scale's ends
        yaxis={"title": "sentiment", "range": [-1 - pad, 1 + pad], "zeroline": False},
        yaxis2={"title": score_name, "overlaying": "y", "side": "right", "showgrid": False,
                **({"range": [axis[0] - 0.1, axis[1] + 0.1], "tick0": axis[0], "dtick": 1, "tickformat": "d"}
                   if axis else {})},
        legend={"orientation": "h", "y": -0.2})
    return fig


def negative_share_figure(touchpoints: pd.DataFrame, *, height: int | None = None) -> go.Figure:
    """Touchpoints (those with enough texts) by their share of negative texts, most negative on top."""
    shown = touchpoints[touchpoints.shown].sort_values("negative_share")
    labels = [_plain(_short(str(t))) for t in shown.touchpoint]
    fig = go.Figure(go.Bar(
        x=shown.negative_share, y=labels, orientation="h", marker={"color": NEGATIVE},
        text=[f"{v:.0%}" for v in shown.negative_share], textposition="outside",
        customdata=list(zip(shown.texts, shown.negative, strict=True)),
        hovertemplate="%{y}: %{x:.0%} negative (%{customdata[1]:,} of %{customdata[0]:,} texts)<extra></extra>"))
    top = float(shown.negative_share.max()) if len(shown) else 1.0
    fig.update_layout(height=height or max(220, 36 * len(shown) + 80), template="plotly_white",
                      margin={"l": 10, "r": 30, "t": 20, "b": 40},
                      xaxis={"title": "share of texts that are negative", "tickformat": ".0%",
                             "range": [0, min(1.0, math.ceil(top * 12) / 10 + 0.05)]})
    return fig
