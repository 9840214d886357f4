"""Build a journey analysis report for a view: every section from the analysis functions the dashboard and
the CLI use, then findings and a plan by explicit rules (:mod:`journeys.report.findings`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import ibis.expr.types as ir

from journeys.engine.store import DatasetInfo
from journeys.errors import QueryError
from journeys.report import findings as rules
from journeys.report import sections, why
from journeys.report.context import DEFAULT_LINK_BASE, ReportContext
from journeys.report.model import Report, Section
from journeys.segment_advice import explain_no_match
from journeys.segments import matching_customers
from journeys.views import ViewState

SectionBuilder = Callable[[ReportContext], Section]
SECTIONS: tuple[SectionBuilder, ...] = (
    sections.scope_section,
    sections.journey_map_section,
    sections.paths_section,
    sections.funnel_section,
    why.drivers_section,
    why.retention_section,
    why.voice_section,
)


def build_report(table: ir.Table, info: DatasetInfo, view: ViewState, *, link_base: str = DEFAULT_LINK_BASE,
                 builders: tuple[SectionBuilder, ...] = SECTIONS) -> Report:
    """The report of ``view`` on the dataset ``info`` (whose events are ``table``).

    Raises a sentence (``QueryError``) when the view's segment has no customer: there is nothing to report.
    """
    started = time.perf_counter()
    ctx = ReportContext(table, info, view, link_base)
    if not view.segment.is_empty and int(matching_customers(ctx.events, view.segment, goal=ctx.goal).count().execute()) == 0:
        raise QueryError(f"Nothing to report: {explain_no_match(ctx.events, view.segment, goal=ctx.goal)}")
    built = tuple(build(ctx) for build in builders)
    found, plan = rules.derive(ctx)
    return Report(title=f"Journey analysis: {info.name}", dataset_id=info.id, dataset_name=info.name,
                  fingerprint=info.fingerprint, generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
                  sections=built, findings=found, plan=plan, elapsed_s=round(time.perf_counter() - started, 2),
                  link_base=link_base)
