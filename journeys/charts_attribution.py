"""Attribution -> Plotly: the models side by side as grouped bars per item, with 95% bootstrap bands."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from journeys.analyses.attribution import MODEL_NAMES, AttributionResult
from journeys.charts import PALETTE, _plain, _short

LABEL_CHARS = 28


def attribution_figure(result: AttributionResult, what: str = "conversions") -> go.Figure:
    """One bar per (item, model); items sorted by their mean credit over the models, largest first.

    ``what`` is ``conversions`` or ``value``; whiskers are the 95% bands when the result has them.
    """
    lo_col, hi_col = ("ci_low", "ci_high") if what == "conversions" else ("value_ci_low", "value_ci_high")
    c = result.credits
    order = c.groupby("item")[what].mean().sort_values(ascending=False).index.tolist()
    fig = go.Figure()
    for k, model in enumerate(result.query.models):
        rows = c[c.model == model].set_index("item").reindex(order)
        y = rows[what].to_numpy(float)
        has_band = bool(np.isfinite(rows[hi_col].to_numpy(float)).any())
        error = ({"type": "data", "symmetric": False, "array": np.clip(rows[hi_col] - y, 0, None),
                  "arrayminus": np.clip(y - rows[lo_col], 0, None), "color": "#374151", "thickness": 1.2, "width": 3}
                 if has_band else None)
        hover = [f"{_plain(str(i))}<br>{MODEL_NAMES[model]}: {v:,.1f}"
                 + (f" (95% band {lo:,.1f}–{hi:,.1f})" if has_band else "")
                 for i, v, lo, hi in zip(order, y, rows[lo_col], rows[hi_col], strict=True)]
        fig.add_bar(x=[_plain(_short(str(i), LABEL_CHARS)) for i in order], y=y, name=MODEL_NAMES[model],
                    marker_color=PALETTE[k % len(PALETTE)], error_y=error, hovertext=hover, hoverinfo="text")
    fig.update_layout(
        barmode="group", height=460, margin={"l": 10, "r": 10, "t": 30, "b": 80},
        yaxis={"title": "conversions credited" if what == "conversions" else "value credited", "rangemode": "tozero"},
        xaxis={"title": result.query.by}, legend={"orientation": "h", "y": 1.08, "x": 0},
    )
    return fig
