"""Data: upload an export, confirm its column mapping, load it, and manage stored datasets.

File names, column names, values and dataset names are user text: they are shown as plain text
(``st.text``, tables, widget options) or escaped with :func:`app.ui.md`, never as Markdown.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app import auth, sources_panel, state
from app.sources_panel import NO_TIME
from app.ui import explained, md, set_view, told, view
from journeys.errors import JourneyError
from journeys.io.presets import PRESET_NAMES, PRESETS, detect_mapping, path_table_columns, preset_mapping
from journeys.io.readers import preview
from journeys.schema import REQUIRED_ROLES, ROLES, ColumnMapping


@contextmanager
def in_page_words(**remedies: str) -> Iterator[None]:
    """Say the remedy a core error names in this page's words (the CLI names its flags instead)."""
    try:
        yield
    except JourneyError as err:
        if err.remedy in remedies:
            err.hint = f"{err.hint} {remedies[err.remedy]}".strip()
        raise


st.title("Data")
st.caption("Load a CSV, Parquet or JSON Lines export (also .gz or a single-file .zip). Nothing leaves this server.")

# a new key after each load empties the uploader, so the page shows the report, not the old preview
upload_round = st.session_state.get("upload_round", 0)
upload = st.file_uploader("Event export", type=["csv", "tsv", "txt", "gz", "zip", "parquet", "jsonl", "ndjson", "json"],
                          key=f"upload_{upload_round}") if auth.allowed("upload") else auth.no_upload()


def _upload_form(upload: Any) -> None:
    """Preview, mapping and load of an uploaded file; a problem is one sentence and the page goes on."""
    # one copy per upload (reruns reuse it), so a 200 MB file is not written again on every click
    folder = Path(tempfile.gettempdir()) / "journeys-uploads" / upload.file_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(upload.name).name
    if not path.exists():
        path.write_bytes(upload.getvalue())
    previewed = None
    with told():  # a file that cannot be read: its sentence, and the rest of the page (stored datasets) stays
        previewed = preview(path, n=200, name=upload.name)
    if previewed is None:
        return
    src, head = previewed
    st.subheader("Preview")
    st.caption(md(f"{src.format.upper()} · delimiter {src.delimiter!r} · {src.encoding}" if src.format == "csv"
                  else src.format.upper()))
    for warning in src.warnings:
        st.warning(md(warning))
    st.dataframe(head.head(10), hide_index=True)
    found = detect_mapping(head)
    for note in found.notes:
        st.caption(md(note))
    presets = ["(detect)", *PRESET_NAMES]
    preset = st.selectbox("Preset", presets, index=presets.index(found.preset) if found.preset else 0, key="up_preset")
    columns = [str(c) for c in head.columns]
    mapping: ColumnMapping | None = None
    if preset == "paths":
        with told():
            st.write("Aggregated path table columns:", path_table_columns(columns))
    else:
        base = found.roles
        if preset in PRESETS:
            with told(), in_page_words(choose_preset="Choose another preset, or (detect) and pick the columns."):
                base = preset_mapping(preset, columns).role_columns()
        st.subheader("Column mapping")
        cols = st.columns(4)
        picked: dict[str, str] = {}
        for i, role in enumerate(ROLES):
            options = ["", *columns]
            default = base.get(role)
            picked[role] = cols[i % 4].selectbox(role + (" *" if role in REQUIRED_ROLES else ""), options,
                                                 index=options.index(default) if default in options else 0,
                                                 key=f"map_{role}_{upload.name}")
        missing = [r for r in REQUIRED_ROLES if not picked[r]]
        if missing:
            st.info(f"Pick the {' and the '.join(missing)} column in Column mapping above to load the file.")
        else:
            with told(), in_page_words(map_columns="Pick another column in Column mapping above."):
                mapping = ColumnMapping.from_dict({k: v for k, v in picked.items() if v})
                mapping.validate(columns)
        st.caption("Every other column is kept as an attribute for segments and breakdowns.")
    tz = st.text_input("Time zone of timestamps without an offset", value="UTC", key="up_tz")
    stored = [d for d in state.datasets() if not d.connection]
    as_source = st.radio("Load as", ["a new dataset", "a source of a dataset"], horizontal=True, key="up_as",
                         disabled=not stored) == "a source of a dataset"
    into, source, channel, dedupe = None, None, None, None
    if as_source:  # another export of the same customers: the web shop's, the call centre's, the store's
        into = st.selectbox("Dataset", [d.id for d in stored], key="up_into",
                            format_func=lambda i: next(d.name for d in stored if d.id == i))
        left, mid = st.columns(2)
        source = left.text_input("Source name", value=Path(upload.name).stem, key=f"up_source_{upload.name}")
        channel = mid.text_input("Channel for events without one (e.g. call centre)", key="up_channel") or None
        dedupe = "exact" if st.checkbox("Skip events the dataset already has", key="up_dedupe") else None
        name = ""
    else:
        name = st.text_input("Dataset name", value=f"{Path(upload.name).stem} {date.today().isoformat()}",
                             key=f"up_name_{upload.name}")
    ready = preset == "paths" or mapping is not None
    if st.button("Load dataset", type="primary", key="up_load", disabled=not ready):
        report = None
        with st.status("Loading…", expanded=True) as status, told():
            bar = st.progress(0.0)
            report = state.store().ingest(path, mapping=mapping if preset != "paths" else None,
                                          preset="paths" if preset == "paths" else None, tz=tz, name=name,
                                          source_name=upload.name, progress=lambda f, m: bar.progress(f, text=m),
                                          into=into, as_source=source, channel=channel, dedupe=dedupe)
            status.update(label=f"Loaded {report.rows_stored:,} events", state="complete")
        if report is None:  # the sentence is shown in the status box; the form and the datasets stay
            status.update(label="Not loaded", state="error")
            return
        state.forget_results()
        st.session_state["last_report"] = report.dataset_id
        auth.loaded(report.dataset_id)  # a team server: the loader owns it
        st.session_state["upload_round"] = upload_round + 1
        st.session_state["pending_dataset"] = report.dataset_id  # the sidebar picks it up before drawing itself
        set_view(view().__class__(dataset=report.dataset_id))
        st.rerun()


if upload is not None:
    _upload_form(upload)

infos = auth.visible(state.datasets())  # a team server lists only what this person may see
last = next((d for d in infos if d.id == st.session_state.get("last_report")), None)
if last:  # its name as it is now (a rename after the load shows)
    st.subheader("Load report")
    r = replace(last.report, name=last.name)
    a, b, c, d = st.columns(4)
    a.metric("Rows read", f"{r.rows_read:,}")
    b.metric("Stored", f"{r.rows_stored:,}")
    c.metric("Rejected", f"{r.rows_rejected:,}")
    d.metric("Customers", f"{r.customers:,}")
    st.text("\n".join(r.lines()))

st.subheader("Stored datasets")
frame = pd.DataFrame([{"id": d.id, "name": d.name, "events": d.rows, "customers": d.report.customers,
                       "from": d.report.start or NO_TIME, "to": d.report.end or NO_TIME, "source": d.source}
                      for d in infos])
st.dataframe(frame, hide_index=True, key="datasets_table", column_config=sources_panel.COUNTS)
managed = [d for d in infos if auth.can_manage(d.id)]  # owner or admin
if managed:
    # the picker follows the dataset chosen elsewhere (the sidebar, a load just made); a pick here stays
    chosen = view().dataset
    if chosen in {d.id for d in managed} and st.session_state.get("manage_follows") != chosen:
        st.session_state["manage_ds"] = chosen
    st.session_state["manage_follows"] = chosen
    target = st.selectbox("Dataset", [d.id for d in managed], format_func=lambda i: next(d.name for d in infos if d.id == i),
                          key="manage_ds")
    left, right = st.columns(2)
    new_name = left.text_input("New name", key="manage_name")
    if left.button("Rename", key="manage_rename", disabled=not new_name.strip()):
        with explained():
            state.store().rename(target, new_name)
        state.forget_results()
        st.rerun()
    confirm = right.checkbox("Yes, delete it for everyone", key="manage_confirm")
    if right.button("Delete", key="manage_delete", disabled=not confirm):
        state.store().delete(target)
        auth.deleted(target, next(d.name for d in infos if d.id == target))  # audit log; access rows go
        state.forget_results()
        if view().dataset == target:
            st.session_state["pending_dataset"] = None
            set_view(view().__class__())
        st.rerun()
    sources_panel.render(next(d for d in infos if d.id == target))
    auth.sharing(target)
