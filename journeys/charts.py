"""Results -> Plotly figures. The only module of ``journeys`` that imports plotly.

Labels are passed to Plotly as data (never as HTML); Plotly escapes text it renders.
"""

from __future__ import annotations

import hashlib
import math

import pandas as pd
import plotly.graph_objects as go

from journeys import png
from journeys.analyses.base import ENDS_LABEL, OTHER, START
from journeys.analyses.funnels import TIME_BUCKETS, FunnelResult
from journeys.analyses.journey_map import STAGE_ORDER, infer_stages
from journeys.analyses.paths import PathsResult
from journeys.analyses.transitions import TransitionsResult
from journeys.engine.identities import StitchReport

# well-separated hues (Tableau 10 without its grey, then Kelly's contrast colours); grey means Other
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#0067a5", "#be0032", "#8db600", "#604e97", "#f6a600", "#008856", "#b3446c", "#882d17", "#2b3d26",
           "#e25822", "#dcd300"]
GREY = "#9ca3af"
ENDS_GREY = "#d1d5db"
LABEL_MAX = 28
LABEL_MIN_SHARE = 0.03  # a node thinner than this share of its column gets no label (hover still names it)


def _plain(text: str) -> str:
    """Plotly renders a small HTML subset in labels; show user text literally."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _short(text: str, limit: int = LABEL_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def touchpoint_colours(touchpoints: list[str]) -> dict[str, str]:
    """A colour per touchpoint, fixed by the dataset's sorted touchpoint list, so a touchpoint keeps
    its colour across pages, segments and Compare. Other and journey ends are grey."""
    names = sorted({t for t in touchpoints if t not in (OTHER, ENDS_LABEL)})
    out = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    out[OTHER], out[ENDS_LABEL] = GREY, ENDS_GREY
    return out


def _colour_of(label: str, colours: dict[str, str]) -> str:
    if label in colours:
        return colours[label]
    digest = int(hashlib.blake2b(label.encode(), digest_size=4).hexdigest(), 16)
    return PALETTE[digest % len(PALETTE)]


def step_title(step: int, anchor: str) -> str:
    """Column titles: ``step 1`` ..., or counted back from the end touchpoint for paths ending at it."""
    if anchor == "to":
        return "end" if step == 1 else f"{step - 1} before"
    return f"step {step}"


def sankey_figure(result: PathsResult, *, pct: str = "start", height: int = 560,
                  colours: dict[str, str] | None = None) -> go.Figure:
    """Step-indexed Sankey with titled step columns; hover shows journeys, % of start and % of previous.

    ``colours`` (from :func:`touchpoint_colours` over the whole dataset) keeps colours stable; labels
    are shortened, and thin nodes go unlabelled so labels never pile up (hover still names them).
    """
    colours = colours or touchpoint_colours(list(result.nodes.label))
    nodes = result.nodes.reset_index(drop=True)
    index = {k: i for i, k in enumerate(nodes.key)}
    steps = nodes.step.astype(int)
    last = max(int(steps.max()), 2) if len(nodes) else 2
    x = [0.001 + 0.998 * (s - 1) / (last - 1) for s in steps]
    if result.query.anchor == "to":
        x = [1 - v for v in x]
    y = _stack_positions(nodes)
    node_share = _node_shares(nodes, result.journeys_covered, pct)
    column_total = nodes.groupby("step").customers.transform("sum")
    labels = [f"{_plain(_short(lbl))} {_pct(p)}" if c / max(t, 1) >= LABEL_MIN_SHARE else ""
              for lbl, p, c, t in zip(nodes.label, node_share, nodes.customers, column_total, strict=True)]
    link_colour = [_fade(_colour_of(nodes.label[index[s]], colours)) for s in result.links.source]
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node={
            "label": labels,
            "color": [_colour_of(lbl, colours) for lbl in nodes.label],
            "x": x, "y": y, "pad": 14, "thickness": 14,
            "customdata": [[int(s), int(c), c / max(result.journeys_covered, 1), _plain(lbl)]
                           for s, c, lbl in zip(nodes.step, nodes.customers, nodes.label, strict=True)],
            "hovertemplate": "Step %{customdata[0]}: %{customdata[3]}<br>%{customdata[1]:,} journeys "
                             "(%{customdata[2]:.1%} of start)<extra></extra>",
        },
        link={
            "source": [index[s] for s in result.links.source], "target": [index[t] for t in result.links.target],
            "value": list(result.links.customers), "color": link_colour,
            "customdata": [[a, b, _plain(s.split(":", 1)[1]), _plain(t.split(":", 1)[1])] for a, b, s, t in zip(
                result.links.pct_of_start, result.links.pct_of_prev, result.links.source, result.links.target,
                strict=True)],
            "hovertemplate": "%{customdata[2]} → %{customdata[3]}<br>%{value:,} journeys<br>"
                          "%{customdata[0]:.1%} of start · %{customdata[1]:.1%} of previous step<extra></extra>",
        },
    ))
    for s in sorted(set(steps)):
        pos = 0.001 + 0.998 * (s - 1) / (last - 1)
        pos = 1 - pos if result.query.anchor == "to" else pos
        fig.add_annotation(x=pos, y=1.0, xref="paper", yref="paper", yanchor="bottom", showarrow=False,
                           xanchor="left" if pos < 0.05 else "right" if pos > 0.95 else "center", text=step_title(int(s), result.query.anchor),
                           font={"size": 12, "color": "#6b7280"})
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 36, "b": 10}, font={"size": 12})
    return fig


def _pct(share: float) -> str:
    """``54%``; ``0.4%`` below one percent and ``<0.1%`` below that, so a node with journeys never reads 0."""
    if share >= 0.01 or share == 0:
        return f"{share:.0%}"
    return f"{share:.1%}" if share >= 0.001 else "<0.1%"


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


BREAKDOWN_BARS = 8
MATRIX_LABEL_REACH = 0.08


def breakdown_figure(result: FunnelResult) -> go.Figure:
    """Grouped bars: each step's conversion from the previous step, one bar per breakdown value (the
    8 largest by journeys entered), so a step where one value falls behind stands out."""
    b = result.breakdown if result.breakdown is not None else pd.DataFrame(
        columns=["value", "step", "customers", "conversion_from_previous"])
    labels = result.query.labels
    entered = b[b.step == 1].set_index("value").customers if len(b) else pd.Series(dtype="int64")
    fig = go.Figure()
    for i, value in enumerate(list(entered.index[:BREAKDOWN_BARS])):
        rows = b[(b.value == value) & (b.step > 1)]
        fig.add_bar(
            x=[f"{k}. {_plain(_short(labels[k - 1], 20))}" for k in rows.step], y=rows.conversion_from_previous,
            name=_plain(_short(str(value), 24)), marker_color=GREY if value == OTHER else PALETTE[i % len(PALETTE)],
            customdata=[[int(c), _plain(str(value))] for c in rows.customers],
            hovertemplate="%{customdata[1]} · %{x}: %{y:.1%} of the previous step (%{customdata[0]:,})<extra></extra>")
    fig.update_layout(height=340, barmode="group", yaxis_tickformat=".0%", margin={"l": 10, "r": 10, "t": 20, "b": 10},
                      yaxis_title="conversion from previous step", legend_title_text="", showlegend=True)
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
    names = [name for name, _ in TIME_BUCKETS]
    for i, (k, grp) in enumerate(tb.groupby("step")):
        counts = grp.set_index("bucket").customers.reindex(names, fill_value=0)  # empty buckets stay on the axis
        fig.add_bar(x=names, y=list(counts), name=f"to step {k}", marker_color=PALETTE[i % len(PALETTE)])
    fig.update_layout(height=300, barmode="group", margin={"l": 10, "r": 10, "t": 20, "b": 10}, yaxis_title="journeys")
    return fig


def graph_layout(nodes: list[str]) -> dict[str, tuple[float, float]]:
    """Touchpoints on a circle in journey order (stage guesses, then volume), clockwise from the top.
    Edges run inside the circle and labels sit outside it, so no edge ever crosses a label."""
    stage_of = dict(infer_stages(nodes))
    rank = {s: i for i, s in enumerate(STAGE_ORDER)}
    order = sorted(nodes, key=lambda n: (rank.get(stage_of[n], len(rank)), nodes.index(n)))
    count = max(len(order), 1)
    return {n: (math.sin(2 * math.pi * i / count), math.cos(2 * math.pi * i / count)) for i, n in enumerate(order)}


def _curve(x0: float, y0: float, x1: float, y1: float, pull: float = 0.35, points: int = 14) -> tuple[list[float], list[float]]:
    """A chord from (x0, y0) to (x1, y1) bowed towards the circle's centre, offset a little to the left of
    travel so A->B and B->A stay apart."""
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    cx, cy = mx * (1 - pull) - (y1 - y0) * 0.08, my * (1 - pull) + (x1 - x0) * 0.08
    ts = [i / (points - 1) for i in range(points)]
    xs = [(1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t**2 * x1 for t in ts]
    ys = [(1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t**2 * y1 for t in ts]
    return xs, ys


def graph_figure(result: TransitionsResult, *, cmin: float | None = None, cmax: float | None = None) -> go.Figure:
    """Network of touchpoints on a circle in journey order: chords sized by transitions, node colour =
    P(reaching the goal), labels outside the circle so edges never hide them. Pass ``cmin``/``cmax``
    (e.g. from ``graph_colour_range`` over several results) so figures side by side share one colour scale."""
    edges = result.edges[(result.edges.source != START) & ~result.edges.target.str.startswith("END")]
    nodes = result.nodes
    pos = graph_layout(list(nodes.touchpoint))
    fig = go.Figure()
    biggest = max(edges["count"].max(), 1) if len(edges) else 1
    for row in edges.itertuples():
        if row.source == row.target:
            continue  # repeats show in the table and in the node's volume
        (x0, y0), (x1, y1) = pos[row.source], pos[row.target]
        xs, ys = _curve(x0, y0, x1, y1)
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", line={"width": 0.5 + 8 * row.count / biggest, "color": "rgba(100,116,139,0.4)"},
            hoverinfo="text", hovertext=f"{_plain(row.source)} → {_plain(row.target)}: {row.count:,} transitions "
                                        f"({row.probability:.0%} of {_plain(row.source)}'s next steps)", showlegend=False))
        fig.add_annotation(x=xs[-1], y=ys[-1], ax=xs[-3], ay=ys[-3], xref="x", yref="y", axref="x", ayref="y",
                           showarrow=True, arrowhead=2, arrowsize=1, arrowwidth=1, arrowcolor="rgba(100,116,139,0.7)",
                           standoff=9, text="")
    colour = nodes.get("p_goal", None)
    size = 12 + 26 * (nodes.volume / max(nodes.volume.max(), 1)) ** 0.5
    hover = [f"{_plain(t)}<br>{v:,} events · entry {e:.0%} · exit {x:.0%}" + (f"<br>P(goal) {p:.1%}" if colour is not None else "")
             for t, v, e, x, p in zip(nodes.touchpoint, nodes.volume, nodes.entry_rate, nodes.exit_rate,
                                      colour if colour is not None else [0] * len(nodes), strict=True)]
    fig.add_trace(go.Scatter(
        x=[pos[t][0] for t in nodes.touchpoint], y=[pos[t][1] for t in nodes.touchpoint], mode="markers",
        hovertext=hover, hoverinfo="text",
        marker={"size": size, "color": colour if colour is not None else PALETTE[0], "colorscale": "RdYlGn",
                    "cmin": 0.0 if cmin is None else cmin,
                    "cmax": _colour_top(nodes, result.goal) if cmax is None else cmax, "showscale": colour is not None,
                    "colorbar": {"title": "P(goal)"} if colour is not None else None, "line": {"width": 1, "color": "white"}},
        showlegend=False))
    for t in nodes.touchpoint:
        x, y = pos[t]
        fig.add_annotation(x=x * 1.1, y=y * 1.1, text=_plain(_short(t, 24)), showarrow=False, font={"size": 12},
                           xanchor="left" if x > 0.2 else "right" if x < -0.2 else "center",
                           yanchor="bottom" if y > 0.2 else "top" if y < -0.2 else "middle")
    fig.update_layout(height=640, margin={"l": 10, "r": 10, "t": 30, "b": 30}, plot_bgcolor="white",
                      xaxis={"visible": False, "range": [-1.9, 1.9]},
                      yaxis={"visible": False, "range": [-1.3, 1.3], "scaleanchor": "x"})
    return fig


def graph_colour_range(*results: TransitionsResult) -> tuple[float, float]:
    """One P(goal) colour range covering every result, so the same colour means the same probability
    in graphs drawn side by side (Compare)."""
    return 0.0, max((_colour_top(r.nodes, r.goal) for r in results), default=1.0)


def _colour_top(nodes: pd.DataFrame, goal: str | None) -> float:
    """Colour scale top = the best non-goal node, so the goal's own 100% does not wash out the rest."""
    if "p_goal" not in nodes:
        return 1.0
    others = nodes.loc[nodes.touchpoint != goal, "p_goal"].dropna()
    return max(float(others.max()) if len(others) else 1.0, 0.01)


def journey_map_figure(touchpoints: pd.DataFrame, stages: list[str], *, goal: str | None = None) -> go.Figure:
    """Where to act: each touchpoint by reach (x) and, with a goal, the share converting after it (y),
    else the share of journeys ending there; bubble size = journeys, colour = stage, pain points ringed red."""
    fig = go.Figure()
    y_col, y_title = ("conversion_onward", "converting after it") if goal else ("drop_off_rate", "journeys ending there")
    for i, stage in enumerate(stages):
        rows = touchpoints[touchpoints.stage == stage]
        if rows.empty:
            continue
        fig.add_trace(go.Scatter(
            x=rows.reach, y=rows[y_col], mode="markers+text", name=stage,
            # only big or flagged bubbles get a label, so small ones never pile up (hover names them all)
            text=[_plain(_short(t, 18)) if r >= MATRIX_LABEL_REACH or p else ""
                  for t, r, p in zip(rows.touchpoint, rows.reach, rows.pain_point, strict=True)],
            textposition="top center", textfont={"size": 11},
            marker={"size": [10 + 30 * math.sqrt(r) for r in rows.reach], "color": PALETTE[i % len(PALETTE)], "opacity": 0.8,
                    "line": {"width": [3 if p else 0.5 for p in rows.pain_point],
                             "color": ["#dc2626" if p else "white" for p in rows.pain_point]}},
            customdata=[[_plain(t), int(n)] for t, n in zip(rows.touchpoint, rows.journeys, strict=True)],
            hovertemplate="%{customdata[0]}<br>%{customdata[1]:,} journeys (%{x:.1%})<br>%{y:.1%} " + y_title
                          + "<extra>" + _plain(stage) + "</extra>"))
    fig.update_layout(height=440, margin={"l": 10, "r": 10, "t": 20, "b": 10}, plot_bgcolor="white",
                      xaxis={"title": "reach (share of journeys)", "tickformat": ".0%", "gridcolor": "#eee"},
                      yaxis={"title": y_title, "tickformat": ".0%", "gridcolor": "#eee"}, legend_title_text="stage")
    return fig


def for_export(fig: go.Figure, title: str = "") -> go.Figure:
    """The figure as a file shows it: the dashboard's theme supplies colours and room for labels on
    screen, a file has only the figure. Plotly's white template, labels that push the margins out, a title."""
    out = go.Figure(fig)
    margin = out.layout.margin
    out.update_layout(template="plotly_white", margin={"l": max(margin.l or 0, 40), "r": max(margin.r or 0, 40),
                                                       "t": max(margin.t or 0, 60 if title else 30),
                                                       "b": max(margin.b or 0, 40)})
    if title:
        out.update_layout(title={"text": _plain(title), "x": 0.01})
    out.update_xaxes(automargin=True)
    out.update_yaxes(automargin=True)
    return out


def to_png(fig: go.Figure, title: str = "", *, width: int | None = None, scale: int = 1) -> bytes:
    """A static PNG drawn by kaleido in the system Chromium, offline (plotly.js of the plotly package, no
    MathJax). The first call starts a browser that stays up (~2 s); later calls take ~0.2 s, not ~3 s.
    ``width`` in CSS pixels (default :data:`journeys.png.WIDTH`); ``scale`` multiplies the pixels, not the text."""
    if not png.available():
        raise RuntimeError(png.MISSING)
    fig = for_export(fig, title)
    opts = {"format": "png", "width": width or png.WIDTH,
            "height": int(fig.layout.height or 600) + (30 if title else 0), "scale": scale}
    return png.render(fig.to_dict(), opts)


def to_html(fig: go.Figure, title: str = "") -> bytes:
    """A standalone HTML file that works offline (plotly.js embedded)."""
    return for_export(fig, title).to_html(include_plotlyjs=True, full_html=True).encode("utf-8")


def png_available() -> bool:
    """Whether :func:`to_png` can work here (see :func:`journeys.png.available`)."""
    return png.available()


def stitching_figure(report: StitchReport) -> go.Figure:
    """Stitched against unstitched: the share of journeys that span 2+ channels and 2+ sources."""
    what = ["2+ channels", "2+ sources"]
    before = [report.share_multi_channel_before, report.share_multi_source_before]
    after = [report.share_multi_channel_after, report.share_multi_source_after]
    fig = go.Figure([
        go.Bar(name=f"unstitched ({report.persons_before:,} ids)", x=what, y=before, marker_color="#b0b7c3",
               text=[f"{v:.1%}" for v in before], textposition="outside"),
        go.Bar(name=f"stitched ({report.persons_after:,} persons)", x=what, y=after, marker_color="#2f6fdf",
               text=[f"{v:.1%}" for v in after], textposition="outside"),
    ])
    fig.update_layout(barmode="group", yaxis_tickformat=".0%", yaxis_title="share of journeys", height=320,
                      margin={"t": 30, "b": 30, "l": 60, "r": 20}, legend={"orientation": "h", "y": -0.2})
    return fig
