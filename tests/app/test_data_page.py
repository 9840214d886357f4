"""Data page: upload, map, load report; bad files are sentences; user text is plain text; no CLI words."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from app.ui import md
from tests.app.conftest import _store, app, texts

DATA = Path(__file__).resolve().parents[1] / "data"
CRM = "who;when;what;plan\n001;2024-03-01 10:00;signup;free\n001;2024-03-01 10:05;upgrade;pro\n002;soon;signup;free\n"


def every_text(at) -> str:
    return " ".join(t for kind in ("title", "subheader", "caption", "markdown", "info", "warning", "error", "text")
                    for t in texts(at.main, kind))


def upload(at, name: str, data: bytes, round_: int = 0):
    return at.file_uploader(key=f"upload_{round_}").set_value((name, data, "text/csv")).run()


def load_crm(at, round_: int = 0):
    upload(at, "crm.csv", CRM.encode(), round_)
    at.selectbox(key="map_customer_crm.csv").set_value("who")
    at.selectbox(key="map_timestamp_crm.csv").set_value("when")
    at.selectbox(key="map_touchpoint_crm.csv").set_value("what").run()
    return at.button(key="up_load").click().run()


def test_data_page_upload_map_and_load(sample_id):
    at = load_crm(app("screens/data.py", ds=sample_id))
    assert not at.exception
    text = " ".join(texts(at, "text"))
    assert "Rows read: 3; stored: 2; rejected: 1" in text and "unparseable timestamp: 1 (e.g. row 3)" in text
    info = next(d for d in _store().datasets() if d.name == f"crm {date.today().isoformat()}")
    assert info.attributes[0] == "plan"  # then the sentiment columns ingest adds
    assert text.startswith(f"Dataset {info.id} 'crm {date.today().isoformat()}' from crm.csv")
    _store().delete(info.id)


def test_after_a_load_the_uploader_is_empty_and_a_second_load_gets_its_own_name(sample_id):
    at = load_crm(app("screens/data.py", ds=sample_id))
    # the report and the stored datasets, not the old preview: nothing to load twice by accident
    assert texts(at.main, "subheader")[:2] == ["Load report", "Stored datasets"]
    assert at.file_uploader(key="upload_1").value is None
    assert not [b for b in at.button if b.key == "up_load"]
    at = load_crm(at, round_=1)  # the same file again, deliberately
    today = date.today().isoformat()
    names = [d.name for d in _store().datasets() if d.name.startswith("crm ")]
    assert names == [f"crm {today}", f"crm {today} (2)"]
    report = texts(at, "text")[0].splitlines()
    assert report[0].endswith(f"'crm {today} (2)' from crm.csv")
    assert report[-1] == f"Warning: A dataset named 'crm {today}' already exists, so this one is named 'crm {today} (2)'."
    for d in _store().datasets():
        if d.name.startswith("crm "):
            _store().delete(d.id)


def test_a_missing_timestamp_keeps_the_columns_that_were_found(sample_id):
    body = "user_id,event,happened\nu1,home,soon\nu1,cart,later\n"
    at = upload(app("screens/data.py", ds=sample_id), "clicks.csv", body.encode())
    assert not at.exception
    picked = {r: at.selectbox(key=f"map_{r}_clicks.csv").value for r in ("customer", "timestamp", "touchpoint")}
    assert picked == {"customer": "user_id", "timestamp": "", "touchpoint": "event"}
    assert "No column found for: timestamp." in texts(at.main, "caption")
    assert texts(at.main, "info") == ["Pick the timestamp column in Column mapping above to load the file."]
    assert at.button(key="up_load").disabled and not texts(at, "error")


def test_the_helpdesk_export_is_recognised_as_process_mining(sample_id):
    at = upload(app("screens/data.py", ds=sample_id), "events.csv", (DATA / "helpdesk_slice.csv").read_bytes())
    assert at.selectbox(key="up_preset").value == "process-mining"
    picked = {r: at.selectbox(key=f"map_{r}_events.csv").value for r in ("customer", "timestamp", "touchpoint", "channel")}
    assert picked == {"customer": "case_id", "timestamp": "timestamp", "touchpoint": "activity", "channel": "resource"}
    assert texts(at.main, "caption")[2:4] == [
        "Columns match the process-mining preset.",
        "Each case ('case_id') is one journey; map the customer to 'customer' to follow each customer across cases."]
    assert not at.button(key="up_load").disabled


def test_a_preset_that_does_not_fit_says_what_to_do_here(sample_id):
    at = upload(app("screens/data.py", ds=sample_id), "crm.csv", CRM.encode())
    at.selectbox(key="up_preset").set_value("mixpanel").run()
    assert texts(at, "error") == [("This file does not look like a mixpanel export: no customer column "
                                  "('distinct_id' or '$distinct_id' or 'properties.distinct_id').")]
    assert ("Columns: who, when, what, plan. Choose another preset, or (detect) and pick the columns."
            in texts(at.main, "caption"))
    assert "Stored datasets" in texts(at.main, "subheader")  # the sentence does not end the page
    assert "--" not in every_text(at) and "journeys " not in every_text(at)


def test_user_text_is_shown_as_plain_text(sample_id):
    name = "**sales** [q1](x) #1.csv"
    body = "customer,timestamp,touchpoint\nc\xe9,2024-01-01,*home*\n".encode("latin-1")
    at = upload(app("screens/data.py", ds=sample_id), name, body)
    warning = f"'{name}' is not valid UTF-8; it was read as Latin-1. Check accented characters."
    assert [w.value for w in at.warning] == [md(warning)]  # escaped: shows literally, no bold, no link
    at.button(key="up_load").click().run()
    assert [h.value for h in at.main.subheader][:2] == ["Load report", "Stored datasets"]
    stem = f"**sales** [q1](x) #1 {date.today().isoformat()}"
    assert texts(at, "text")[0].startswith(f"Dataset {_store().get(stem).id} '{stem}' from {name}")
    _store().delete(stem)


def test_renaming_to_a_taken_name_is_refused(sample_id):
    at = load_crm(app("screens/data.py", ds=sample_id))
    mine = next(d for d in _store().datasets() if d.name.startswith("crm "))
    at.selectbox(key="manage_ds").set_value(mine.id)
    at.text_input(key="manage_name").set_value("Sample shop").run()
    at.button(key="manage_rename").click().run()
    assert texts(at, "error") == [(f"Another dataset ({sample_id}) is already named 'Sample shop'. "
                                  "Pick a name no dataset has.")]
    assert _store().get(mine.id).name == mine.name
    _store().delete(mine.id)


def test_data_page_bad_file_is_a_sentence(sample_id):
    at = upload(app("screens/data.py", ds=sample_id), "x.csv", b"%PDF-1.4 binary")
    assert not at.exception
    assert any("is a PDF document" in e for e in texts(at, "error"))


def test_the_sample_lists_its_sources_and_shows_stitching_on(sample_id):
    at = app("screens/data.py", ds=sample_id)
    at.selectbox(key="manage_ds").set_value(sample_id).run()
    assert not at.exception
    listed = at.dataframe[1].value  # after the stored datasets
    assert list(listed.source) == ["web analytics", "e-mail platform", "call centre", "store", "CRM"]
    assert list(listed.rows) == [34225, 5158, 240, 377, 4574]
    report = _store().stitching(sample_id)
    assert texts(at, "success") == [(f"Stitching is on: {report.persons_before:,} ids form 11,323 persons; "
                                     "every page counts persons.")]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    bars = {b["name"]: b["y"] for b in spec["data"]}
    assert bars[f"stitched ({report.persons_after:,} persons)"] == [report.share_multi_channel_after,
                                                                     report.share_multi_source_after]


def test_a_second_export_becomes_a_source_then_an_identity_file_stitches_it(sample_id):
    at = load_crm(app("screens/data.py", ds=sample_id))
    mine = next(d for d in _store().datasets() if d.name.startswith("crm "))
    calls = "phone;when;what\n+4400;2024-03-02 09:00;call\n"
    at = upload(at, "calls.csv", calls.encode(), round_=1)
    at.selectbox(key="map_customer_calls.csv").set_value("phone")
    at.selectbox(key="map_timestamp_calls.csv").set_value("when")
    at.selectbox(key="map_touchpoint_calls.csv").set_value("what")
    at.radio(key="up_as").set_value("a source of a dataset").run()
    at.selectbox(key="up_into").set_value(mine.id)
    at.text_input(key="up_channel").set_value("call centre").run()
    at = at.button(key="up_load").click().run()
    assert not at.exception
    assert [(s.name, s.rows) for s in _store().sources(mine.id)] == [("crm", 2), ("calls", 1)]
    at.selectbox(key="manage_ds").set_value(mine.id).run()
    assert texts(at.main, "info")[-1].startswith("Stitching is off")
    ids = "login;phone\n001;+4400\n"
    at.file_uploader(key="id_upload_0").set_value(("people.csv", ids.encode(), "text/csv")).run()
    at.multiselect(key="id_cols").set_value(["login", "phone"]).run()
    at = at.button(key="id_load").click().run()
    assert not at.exception
    assert texts(at, "success")[0] == "Stitching is on: 2 ids form 1 persons; every page counts persons."
    t = _store().table(mine.id).order_by("step").to_pandas()
    assert list(t.touchpoint) == ["signup", "upgrade", "call"] and set(t.customer_id) == {"+4400"}
    assert list(t.channel.fillna("-")) == ["-", "-", "call centre"]
    at.selectbox(key="src_remove_pick").set_value("people")
    at.checkbox(key="src_remove_confirm").check().run()
    at = at.button(key="src_remove").click().run()
    assert [s.name for s in _store().sources(mine.id)] == ["crm", "calls"]
    assert _store().table(mine.id).customer_id.nunique().execute() == 2
    _store().delete(mine.id)


def test_after_a_load_the_page_shows_the_new_dataset_not_the_sample(sample_id):
    at = app("screens/data.py", ds=sample_id)
    assert at.selectbox(key="manage_ds").value == sample_id
    at = load_crm(at)
    mine = next(d for d in _store().datasets() if d.name.startswith("crm "))
    # the page's own picker, Sources and Identity stitching follow the dataset the load switched to
    assert at.selectbox(key="manage_ds").value == mine.id
    assert list(at.dataframe[1].value.source) == ["crm"]
    assert texts(at.main, "info")[-1].startswith("Stitching is off")
    at.selectbox(key="manage_ds").set_value(sample_id).run()  # a pick on the page stays
    assert at.selectbox(key="manage_ds").value == sample_id
    assert texts(at, "success")[0].startswith("Stitching is on")
    _store().delete(mine.id)


def test_counts_have_thousands_separators_and_an_identity_file_has_no_time_span(sample_id):
    at = app("screens/data.py", ds=sample_id)
    assert not at.exception
    for table, counts in ((at.dataframe[0], {"events", "customers"}), (at.dataframe[1], {"rows", "ids"})):
        config = json.loads(table.proto.columns)
        assert {c for c, v in config.items() if v.get("type_config", {}).get("format") == "localized"} >= counts
    sources = at.dataframe[1].value
    crm = sources[sources.source == "CRM"].iloc[0]
    assert (crm["from"], crm["to"]) == ("–", "–")
    assert "None" not in sources.astype(str).to_numpy().ravel().tolist()
    assert any("identity file holds links between ids, no events" in c for c in texts(at.main, "caption"))


def test_a_file_that_cannot_be_read_is_a_sentence_and_the_stored_datasets_stay(sample_id):
    at = upload(app("screens/data.py", ds=sample_id), "empty.csv", b"")
    assert not at.exception
    assert len(texts(at, "error")) == 1
    assert "Stored datasets" in texts(at.main, "subheader")
