"""Report page: the findings on screen are the report's, for the view in the URL, with HTML and PDF downloads."""

from __future__ import annotations

from dataclasses import replace

from app import state
from journeys.report.build import build_report
from journeys.shaping import Shaping
from journeys.views import ViewState
from tests.app.conftest import app, texts


def test_report_page_shows_the_reports_findings(sample_id):
    at = app("screens/report.py", ds=sample_id, goal="purchase")
    assert not at.exception
    store = state.store()
    info = store.get(sample_id)
    view = replace(ViewState(dataset=sample_id), shaping=Shaping(goal="purchase"))
    report = build_report(store.table(sample_id), info, view)
    shown = " ".join(texts(at, "markdown"))
    assert report.findings, "the sample has a goal and planted drop-offs: the rules must find something"
    for f in report.findings:
        assert f.evidence in shown and f.recommendation in shown
    assert {b.label for b in at.get("download_button")} >= {"Download HTML report", "Download PDF report"}


def test_every_page_links_to_the_report(sample_id):
    at = app("screens/paths.py", ds=sample_id)
    assert not at.exception
    assert any("report" in str(e.proto).lower() for e in at.get("page_link"))
