"""What a journey analysis report is made of, as plain data: sections with their figures and tables,
findings with the numbers behind them, and an execution plan. Rendering (HTML, PDF) is elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from journeys.stats import pvalue_text


@dataclass(frozen=True, slots=True)
class Table:
    """A small table as shown: ``columns`` maps frame columns to headings; ``formats`` a column to a format
    spec (``{:.1%}``); user text in cells is escaped when rendered."""

    caption: str
    frame: pd.DataFrame
    columns: dict[str, str]
    formats: dict[str, str] = field(default_factory=dict)

    def rows(self) -> list[list[str]]:
        out = []
        for record in self.frame[list(self.columns)].itertuples(index=False):
            out.append([_cell(v, self.formats.get(c)) for c, v in zip(self.columns, record, strict=True)])
        return out


#: the format of a p- or q-value column (:func:`journeys.stats.pvalue_text`)
PVALUE = "pvalue"


def _cell(value: Any, fmt: str | None) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return "–"
    if fmt == PVALUE:
        return pvalue_text(float(value)) or "–"
    if fmt:
        try:
            return fmt.format(value)
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@dataclass(frozen=True, slots=True)
class Figure:
    """A chart: a plotly figure (drawn as a static image when rendered) and its caption."""

    caption: str
    figure: Any  # plotly.graph_objects.Figure


@dataclass(frozen=True, slots=True)
class Section:
    """One numbered part of the report. ``figures`` maps a stable key to the figure the dashboard and the
    CLI give for the same view (tests compare them); ``link`` reopens the view in the dashboard."""

    key: str
    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    charts: tuple[Figure, ...] = ()
    figures: dict[str, Any] = field(default_factory=dict)
    link: str | None = None
    missing: str | None = None  # why the section has no content (one sentence), when it has none


@dataclass(frozen=True, slots=True)
class Finding:
    """A finding with its numbers, and the recommendation derived from it by an explicit rule."""

    rule: str
    title: str
    evidence: str
    recommendation: str
    link: str | None
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlanRow:
    action: str
    metric: str
    current: str
    target: str
    audience: str


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    dataset_id: str
    dataset_name: str
    fingerprint: str
    generated: str
    sections: tuple[Section, ...]
    findings: tuple[Finding, ...]
    plan: tuple[PlanRow, ...]
    elapsed_s: float = 0.0
    link_base: str = ""  # where the links point (the dashboard the report was made for)

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)

    def figures(self) -> dict[str, Any]:
        """Every quoted figure, keyed ``section.name``, for tests and the JSON face of the report."""
        return {f"{s.key}.{k}": v for s in self.sections for k, v in s.figures.items()}
