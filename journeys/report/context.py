"""What every report section starts from: the dataset, the view, the shaped journeys, and view links."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

import ibis.expr.types as ir

from journeys.analyses.base import journeys_for, known_touchpoints
from journeys.analyses.funnels import FunnelQuery
from journeys.analyses.journey_map import default_funnel
from journeys.analyses.paths import ARROW, MORE, PathQuery, compute_paths
from journeys.engine.store import DatasetInfo
from journeys.shaping import apply_node, apply_rules
from journeys.views import ViewState, filter_dates

DEFAULT_LINK_BASE = "http://127.0.0.1:8501"
LINK_BASE_ENV = "JOURNEYS_LINK_BASE"  # the CLI's default link base: a team server's address, set once


@dataclass(eq=False)
class ReportContext:
    """The dataset's events (in the view's date range), the view, and the shaped journeys of its segment.

    ``link_base`` is where the dashboard runs; each section links to the page that shows its figures with
    the same view state, so a reader reopens exactly what the report quotes.
    """

    table: ir.Table
    info: DatasetInfo
    view: ViewState
    link_base: str = DEFAULT_LINK_BASE
    cache: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def events(self) -> ir.Table:
        return filter_dates(self.table, self.view.date_from, self.view.date_to)

    @cached_property
    def journeys(self) -> ir.Table:
        return journeys_for(self.events, self.view.shaping, self.view.segment)

    @cached_property
    def touchpoints(self) -> list[str]:
        sh = self.view.shaping
        return known_touchpoints(apply_node(apply_rules(self.events, sh), sh))

    @property
    def goal(self) -> str | None:
        return self.view.shaping.goal

    def link(self, page: str, view: ViewState | None = None) -> str:
        """The dashboard URL that reopens ``page`` with this view (only non-default settings written)."""
        params = (view or self.view).to_params()
        query = "?" + urlencode(params, doseq=True) if params else ""
        return f"{self.link_base.rstrip('/')}/{page}{query}"

    def funnel_query(self) -> FunnelQuery:
        """The funnel the Funnels page opens with for this view (see :func:`suggest_funnel`)."""
        steps = suggest_funnel(self.view, self.touchpoints, lambda v: self.top_paths(v))
        v = replace(self.view, funnel_steps=steps)
        q = v.funnel()
        assert q is not None
        return q

    def top_paths(self, view: ViewState) -> list[str]:
        """Most common path variants of 2+ steps of all customers (what the funnel guess falls back on)."""
        journeys = journeys_for(self.events, view.shaping)
        return [str(p) for p in compute_paths(journeys, PathQuery(min_steps=2), goal=view.shaping.goal).variants.path]


def suggest_funnel(view: ViewState, touchpoints: list[str], top_paths: Any) -> tuple[tuple[str, ...], ...]:
    """The view's funnel, else one guessed from touchpoint names on the way to the goal, else the most
    common path of 2+ steps (its first four: a ticket's life on a helpdesk log), else the first three; the
    last two end at the goal when one is set.
    ``top_paths(view)`` gives path variants as ``a > b > c`` strings, most common first."""
    if view.funnel_steps:
        return view.funnel_steps
    guess = default_funnel(touchpoints, view.shaping.goal)
    if guess:
        return guess
    goal = view.shaping.goal if view.shaping.goal in touchpoints else None
    for path in top_paths(replace(view, paths=PathQuery(min_steps=2))):
        steps = [s for s in str(path).split(ARROW) if s != MORE][:4]
        if len(steps) >= 2 and all(s in touchpoints for s in steps):
            return _to_goal(steps, goal)
    return _to_goal(touchpoints[:3], goal)


def _to_goal(steps: list[str], goal: str | None) -> tuple[tuple[str, ...], ...]:
    """The guessed steps, ending at the goal when one is set (a funnel towards something else says little)."""
    if goal and goal not in steps:
        steps = [*steps[:3], goal]
    elif goal and steps.index(goal) >= 1:
        steps = steps[:steps.index(goal) + 1]
    return tuple((s,) for s in steps)


def stages_for(view: ViewState, touchpoints: list[str]) -> tuple[tuple[str, str], ...]:
    """The journey map's stages as the page shows them: guessed from names, then the view's edits."""
    return view.stages(touchpoints)
