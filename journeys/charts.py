"""Results -> Plotly figures. The only module of ``journeys`` that imports plotly.

Labels are passed to Plotly as data (never as HTML); Plotly escapes text it renders.
"""

from __future__ import annotations

import math

import networkx as nx
import pandas as pd
import plotly.graph_objects as go

from journeys.analyses.base import ENDS_LABEL, OTHER, START
from journeys.analyses.funnels import FunnelResult
from journeys.analyses.paths import PathsResult
from journeys.analyses.transitions import TransitionsResult, build_graph
from journeys.durations import humanize_seconds

PALETTE = ["#2563eb", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#db2777", "#65a30d", "#7c3aed", "#0d9488",
           "#c2410c", "#4f46e5", "#059669", "#be123c", "#0284c7", "#a16207", "#6d28d9", "#15803d", "#b91c1c"]
GREY = "#9ca3af"


def _plain(text: str) -> str:
    """Plotly renders a small HTML subset in labels; show user text literally."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _colour_map(labels: list[str]) -> dict[str, str]:
    names = sorted({x for x in labels if x not in (OTHER, ENDS_LABEL)})
    out = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    out[OTHER], out[ENDS_LABEL] = GREY, "#d1d5db"
    return out


def sankey_figure(result: PathsResult, *, pct: str = "start", height: int = 560) -> go.Figure:
    """Step-indexed Sankey; hover shows journeys, % of start and % of previous step."""
    nodes = result.nodes.reset_index(drop=True)
    index = {k: i for i, k in enumerate(nodes.key)}
    colours = _colour_map(list(nodes.label))
    steps = nodes.step.astype(int)
    last = max(int(steps.max()), 2) if len(nodes) else 2
    x = [0.001 + 0.998 * (s - 1) / (last - 1) for s in steps]
    if result.query.anchor == "to":
        x = [1 - v for v in x]
    y = _stack_positions(nodes)
    node_share = _node_shares(nodes, result.journeys_covered, pct)
    link_colour = [_fade(colours[nodes.label[index[s]]]) for s in result.links.source]
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node={
            "label": [f"{_plain(lbl)} {_pct(p)}" for lbl, p in zip(nodes.label, node_share, strict=True)],
            "color": [colours[lbl] for lbl in nodes.label],
            "x": x, "y": y, "pad": 14, "thickness": 14,
            "customdata": [[int(s), int(c), c / max(result.journeys_covered, 1)] for s, c in zip(nodes.step, nodes.customers, strict=True)],
            "hovertemplate": "Step %{customdata[0]}: %{label}<br>%{customdata[1]:,} journeys (%{customdata[2]:.1%} of start)<extra></extra>",
        },
        link={
            "source": [index[s] for s in result.links.source], "target": [index[t] for t in result.links.target],
            "value": list(result.links.customers), "color": link_colour,
            "customdata": list(zip(result.links.pct_of_start, result.links.pct_of_prev, strict=True)),
            "hovertemplate": "%{source.label} → %{target.label}<br>%{value:,} journeys<br>"
                          "%{customdata[0]:.1%} of start · %{customdata[1]:.1%} of previous step<extra></extra>",
        },
    ))
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10}, font={"size": 12})
    return fig


def _pct(share: float) -> str:
    """``54%``, or ``0.4%`` below one percent so small nodes do not read as zero."""
    return f"{share:.0%}" if share >= 0.01 or share == 0 else f"{share:.1%}"


def _node_shares(nodes: pd.DataFrame, covered: int, pct: str) -> list[float]:
    """Each node's journeys as a share of the start, or of the journeys at the previous step."""
    if pct == "start":
        return [c / max(covered, 1) for c in nodes.customers]
    live = nodes[nodes.label != ENDS_LABEL].groupby("step").customers.sum()
    return [c / max(int(live.get(s - 1, c)), 1) for s, c in zip(nodes.step, nodes.customers, strict=True)]


def _stack_positions(nodes: pd.DataFrame) -> list[float]:
    """Vertical centres so each step's nodes stack in the result's order (Plotly needs x and y together)."""
    y = [0.0] * len(nodes)
    for _, grp in nodes.groupby("step", sort=False):
        total = float(grp.customers.sum()) or 1.0
        gap = 0.02
        room = 1 - gap * (len(grp) - 1)
        top = 0.0
        for i, c in zip(grp.index, grp.customers, strict=True):
            h = room * c / total
            y[i] = min(max(top + h / 2, 0.001), 0.999)
            top += h + gap
    return y


def _fade(hex_colour: str, alpha: float = 0.35) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def funnel_figure(result: FunnelResult) -> go.Figure:
    """Horizontal bars: journeys per step, with conversion from start and from the previous step."""
    s = result.steps
    text = [f"{c:,} · {a:.1%} of start · {b:.1%} of previous" for c, a, b in
            zip(s.customers, s.conversion_from_start, s.conversion_from_previous, strict=True)]
    fig = go.Figure(go.Bar(
        y=[f"{k}. {_plain(lbl)}" for k, lbl in zip(s.step, s.label, strict=True)], x=s.customers, orientation="h",
        text=text, textposition="auto", marker_color=PALETTE[0],
        hovertemplate="%{y}<br>%{x:,} journeys<extra></extra>",
    ))
    fig.update_layout(height=90 + 60 * len(s), margin={"l": 10, "r": 10, "t": 20, "b": 30}, yaxis={"autorange": "reversed"},
                      xaxis_title="journeys")
    return fig


def breakdown_figure(result: FunnelResult) -> go.Figure:
    b = result.breakdown if result.breakdown is not None else pd.DataFrame(columns=["value", "step", "conversion_from_start"])
    last = b[b.step == b.step.max()] if len(b) else b
    top = last.head(20)
    fig = go.Figure(go.Bar(x=[_plain(str(v)) for v in top.value], y=top.conversion_from_start, marker_color=PALETTE[1],
                           hovertemplate="%{x}: %{y:.1%} reach the last step<extra></extra>"))
    fig.update_layout(height=320, yaxis_tickformat=".0%", margin={"l": 10, "r": 10, "t": 20, "b": 10},
                      yaxis_title="converted (of entered)")
    return fig


def trend_figure(result: FunnelResult) -> go.Figure:
    t = result.trend if result.trend is not None else pd.DataFrame(columns=["period", "conversion_rate", "entered"])
    fig = go.Figure(go.Scatter(x=t.period, y=t.conversion_rate, mode="lines+markers", marker_color=PALETTE[0],
                               customdata=t.entered, hovertemplate="%{x}: %{y:.1%} of %{customdata:,}<extra></extra>"))
    fig.update_layout(height=300, yaxis_tickformat=".0%", margin={"l": 10, "r": 10, "t": 20, "b": 10}, yaxis_title="conversion")
    return fig


def time_figure(result: FunnelResult) -> go.Figure:
    tb = result.time_buckets
    fig = go.Figure()
    for k, grp in tb.groupby("step"):
        fig.add_bar(x=grp.bucket, y=grp.customers, name=f"to step {k}")
    fig.update_layout(height=300, barmode="group", margin={"l": 10, "r": 10, "t": 20, "b": 10}, yaxis_title="journeys")
    return fig


def graph_figure(result: TransitionsResult, *, seed: int = 3) -> go.Figure:
    """Network of touchpoints: edge width by transitions, node colour by P(reaching the goal)."""
    edges = result.edges[(result.edges.source != START) & ~result.edges.target.str.startswith("END")]
    g = build_graph(edges) if len(edges) else nx.DiGraph()
    g.add_nodes_from(result.nodes.touchpoint)
    # distances by hops, not by weight: heavy edges would pull everything into one knot
    pos = nx.kamada_kawai_layout(g.to_undirected(), weight=None) if g.number_of_nodes() > 2 else \
        nx.spring_layout(g, seed=seed)
    fig = go.Figure()
    biggest = max(edges["count"].max(), 1) if len(edges) else 1
    for row in edges.itertuples():
        (x0, y0), (x1, y1) = pos[row.source], pos[row.target]
        fig.add_trace(go.Scatter(
            x=[x0, x1], y=[y0, y1], mode="lines", line={"width": 0.5 + 9 * row.count / biggest, "color": "rgba(100,116,139,0.45)"},
            hoverinfo="skip", showlegend=False))
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                           arrowhead=2, arrowsize=1, arrowwidth=1, arrowcolor="rgba(100,116,139,0.6)", standoff=9)
    nodes = result.nodes
    colour = nodes.get("p_goal", None)
    size = 12 + 30 * (nodes.volume / max(nodes.volume.max(), 1)) ** 0.5
    hover = [f"{_plain(t)}<br>{v:,} events · entry {e:.0%} · exit {x:.0%}" + (f"<br>P(goal) {p:.1%}" if colour is not None else "")
             for t, v, e, x, p in zip(nodes.touchpoint, nodes.volume, nodes.entry_rate, nodes.exit_rate,
                                      colour if colour is not None else [0] * len(nodes), strict=True)]
    fig.add_trace(go.Scatter(
        x=[pos[t][0] for t in nodes.touchpoint], y=[pos[t][1] for t in nodes.touchpoint], mode="markers+text",
        text=[_plain(t) for t in nodes.touchpoint], textposition="top center", hovertext=hover, hoverinfo="text",
        marker={"size": size, "color": colour if colour is not None else PALETTE[0], "colorscale": "RdYlGn", "cmin": 0,
                    "cmax": _colour_top(nodes, result.goal), "showscale": colour is not None,
                    "colorbar": {"title": "P(goal)"} if colour is not None else None, "line": {"width": 1, "color": "white"}},
        showlegend=False))
    fig.update_layout(height=620, margin={"l": 10, "r": 10, "t": 20, "b": 10}, xaxis={"visible": False}, yaxis={"visible": False},
                      plot_bgcolor="white")
    return fig


def _colour_top(nodes: pd.DataFrame, goal: str | None) -> float:
    """Colour scale top = the best non-goal node, so the goal's own 100% does not wash out the rest."""
    if "p_goal" not in nodes:
        return 1.0
    others = nodes.loc[nodes.touchpoint != goal, "p_goal"].dropna()
    return max(float(others.max()) if len(others) else 1.0, 0.01)


def journey_map_figure(touchpoints: pd.DataFrame, stages: list[str]) -> go.Figure:
    """Stages as columns; a tile per touchpoint sized by reach, red where it is a pain point."""
    fig = go.Figure()
    for col, stage in enumerate(stages):
        rows = touchpoints[touchpoints.stage == stage].reset_index(drop=True)
        for i, r in rows.iterrows():
            fig.add_trace(go.Scatter(
                x=[col], y=[-int(i)], mode="markers+text", text=[_plain(r.touchpoint)], textposition="middle right",
                marker={"size": 10 + 40 * math.sqrt(r.reach), "color": "#dc2626" if r.pain_point else PALETTE[col % len(PALETTE)]},
                hovertext=f"{_plain(r.touchpoint)}: {r.journeys:,} journeys ({r.reach:.1%}); median time "
                          f"{humanize_seconds(r.median_time_s)}", hoverinfo="text", showlegend=False))
    fig.update_layout(height=120 + 55 * max([len(touchpoints[touchpoints.stage == s]) for s in stages] or [1]),
                      xaxis={"tickmode": "array", "tickvals": list(range(len(stages))), "ticktext": stages, "range": [-0.3, len(stages)]},
                      yaxis={"visible": False}, margin={"l": 10, "r": 10, "t": 20, "b": 10}, plot_bgcolor="white")
    return fig


def to_png(fig: go.Figure) -> bytes:
    """A static PNG (kaleido with the system Chromium)."""
    return bytes(fig.to_image(format="png", width=1400, height=int(fig.layout.height or 600), scale=1))


def to_html(fig: go.Figure) -> bytes:
    """A standalone HTML file that works offline (plotly.js embedded)."""
    return fig.to_html(include_plotlyjs=True, full_html=True).encode("utf-8")
