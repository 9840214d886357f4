"""Data page: upload, map, load report; bad files are sentences."""

from __future__ import annotations

from tests.app.conftest import _store, app, texts


def test_data_page_upload_map_and_load(sample_id):
    csv = "who;when;what;plan\n001;2024-03-01 10:00;signup;free\n001;2024-03-01 10:05;upgrade;pro\n002;soon;signup;free\n"
    at = app("screens/data.py", ds=sample_id)
    at.file_uploader(key="upload").set_value(("crm.csv", csv.encode(), "text/csv")).run()
    assert not at.exception
    at.selectbox(key="map_customer_crm.csv").set_value("who")
    at.selectbox(key="map_timestamp_crm.csv").set_value("when")
    at.selectbox(key="map_touchpoint_crm.csv").set_value("what").run()
    at.button(key="up_load").click().run()
    assert not at.exception
    text = " ".join(texts(at, "text"))
    assert "Rows read: 3; stored: 2; rejected: 1" in text and "unparseable timestamp: 1 (e.g. row 3)" in text
    info = next(d for d in _store().datasets() if d.name == "crm")
    assert info.attributes == ("plan",)
    _store().delete(info.id)


def test_data_page_bad_file_is_a_sentence(sample_id):
    at = app("screens/data.py", ds=sample_id)
    at.file_uploader(key="upload").set_value(("x.csv", b"%PDF-1.4 binary", "text/csv")).run()
    assert not at.exception
    assert any("is a PDF document" in e for e in texts(at, "error"))
