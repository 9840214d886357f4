"""The Data page's part for one dataset's sources: list them with their load reports, remove one, add an
identity file, and show whether stitching is on with the stitched-against-unstitched figure.

Source names, file names, ids and report lines are user text: tables, ``st.text`` or :func:`app.ui.md`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from app import state
from app.ui import chart, explained, md
from journeys.charts import stitching_figure
from journeys.engine.store import DatasetInfo
from journeys.io.readers import preview
from journeys.io.report import LoadReport

#: counts with thousands separators (the numbers stay numbers, so the tables still sort by them)
COUNTS = {col: st.column_config.NumberColumn(col, format="localized")
          for col in ("events", "customers", "rows", "ids", "loads")}
#: the from / to of something without events (an identity file, an empty dataset)
NO_TIME = "–"


def saved_upload(upload: object) -> Path:
    """One copy of an uploaded file per upload (reruns reuse it)."""
    folder = Path(tempfile.gettempdir()) / "journeys-uploads" / upload.file_id  # type: ignore[attr-defined]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(upload.name).name  # type: ignore[attr-defined]
    if not path.exists():
        path.write_bytes(upload.getvalue())  # type: ignore[attr-defined]
    return path


def report_lines(report: dict[str, object]) -> list[str]:
    if "rows_stored" in report:
        return LoadReport.from_json(json.dumps(report)).lines()
    return [(f"Identity file {report.get('source', '')}: {report.get('rows_read', 0):,} rows, "
             f"{report.get('links', 0):,} links, {report.get('ids_matched', 0):,} ids found in the events")]


def render(info: DatasetInfo) -> None:
    store = state.store()
    sources = store.sources(info.id)
    st.subheader("Sources")
    st.caption(md(f"'{info.name}': events of several exports, ordered by time, then by the order the sources "
                  "were added, then by row."))
    frame = pd.DataFrame([{"order": s.source_no + 1, "source": s.name, "holds": s.kind, "rows": s.rows,
                           "ids": s.customers, "from": s.start or NO_TIME, "to": s.end or NO_TIME,
                           "loads": len(s.reports)} for s in sources])
    st.dataframe(frame, hide_index=True, key="sources_table", column_config=COUNTS)
    if any(s.start is None and s.kind == "identities" for s in sources):
        st.caption("An identity file holds links between ids, no events: it has no time span.")
    for s in sources:
        with st.expander(f"Load report: {s.name}", expanded=False):
            for i, report in enumerate(s.reports):
                st.text("\n".join(report_lines(report)) + ("\n" if i < len(s.reports) - 1 else ""))
    if not info.connection and len(sources) > 1:
        left, right = st.columns(2)
        gone = left.selectbox("Source to remove", [s.name for s in sources], key="src_remove_pick")
        sure = right.checkbox("Yes, remove this source", key="src_remove_confirm")
        if right.button("Remove source", key="src_remove", disabled=not sure):
            with explained():
                store.remove_source(info.id, gone)
            state.forget_results()
            st.rerun()
    stitching(info)
    if not info.connection:
        identity_upload(info)


def stitching(info: DatasetInfo) -> None:
    report = state.store().stitching(info.id)
    st.subheader("Identity stitching")
    if report is None:
        st.info("Stitching is off: no identity links yet. Each loaded id is its own customer. Add an identity file "
                "below, or map an alias column (a login id next to a cookie id) when loading a source.")
        return
    st.success(f"Stitching is on: {report.persons_before:,} ids form {report.persons_after:,} persons; "
               "every page counts persons.")
    st.text("\n".join(report.lines()))
    chart(stitching_figure(report), name="stitching", key="stitching", title="Journeys across channels and sources")


def identity_upload(info: DatasetInfo) -> None:
    st.markdown("**Add an identity file** (a CRM extract or login table: each row links its non-empty ids)")
    upload = st.file_uploader("Identity file", type=["csv", "tsv", "txt", "gz", "zip", "parquet", "jsonl"],
                              key=f"id_upload_{st.session_state.get('id_round', 0)}")
    if upload is None:
        return
    path = saved_upload(upload)
    with explained():
        _src, head = preview(path, n=50, name=upload.name)
    st.dataframe(head.head(5), hide_index=True)
    columns = [str(c) for c in head.columns]
    ids = st.multiselect("Id columns", columns, key="id_cols")
    excluded = st.text_input("Ids that must link nothing (comma-separated: shared devices, test accounts)",
                             key="id_exclude")
    if st.button("Link ids", type="primary", key="id_load", disabled=len(ids) < 2):
        with explained(), st.spinner("Stitching…"):
            state.store().add_identities(info.id, path, ids, as_source=Path(upload.name).stem,
                                         exclude=[x for x in excluded.split(",") if x.strip()] or None)
        state.forget_results()
        st.session_state["id_round"] = st.session_state.get("id_round", 0) + 1
        st.rerun()
