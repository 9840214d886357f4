"""Each reader and file shape: exact rows stored, strings kept, bad files rejected with a sentence."""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from journeys.errors import InputError, MappingError
from journeys.io.readers import inspect_file, preview

CSV = "customer,when,page\n007,2025-01-01T10:00:00Z,home\n007,2025-01-01T10:05:00Z,café\n010,2025-01-02T08:00:00Z,home\n"
MAP = {"customer": "customer", "timestamp": "when", "touchpoint": "page"}


def _stored(store, path, **kw):
    report = store.ingest(path, overrides=MAP, **kw)
    rows = store.table(report.dataset_id).order_by(["customer_id", "ts", "seq"]).to_pandas()
    return report, rows


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_csv_delimiters_are_sniffed(store, write, delim):
    path = write("e.csv", CSV.replace(",", delim))
    report, rows = _stored(store, path)
    assert report.rows_read == 3 and report.rows_stored == 3
    assert list(rows.customer_id) == ["007", "007", "010"]  # leading zeros survive
    assert list(rows.touchpoint) == ["home", "café", "home"]


def test_utf8_bom_does_not_pollute_the_first_column(store, write):
    report, rows = _stored(store, write("bom.csv", "\ufeff" + CSV))
    assert report.rows_stored == 3 and rows.customer_id.iloc[0] == "007"


def test_latin1_is_read_with_a_warning(store, write):
    report, rows = _stored(store, write("l1.csv", CSV, encoding="latin-1"))
    assert "café" in list(rows.touchpoint)
    assert any("Latin-1" in w for w in report.warnings)


def test_gzip_zip_parquet_and_jsonl(store, write, tmp_path):
    gz = write("e.csv.gz", gzip.compress(CSV.encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("export/e.csv", CSV)
    zp = write("e.zip", buf.getvalue())
    pq_path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"customer": ["007", "007", "010"],
                             "when": ["2025-01-01T10:00:00Z", "2025-01-01T10:05:00Z", "2025-01-02T08:00:00Z"],
                             "page": ["home", "café", "home"]}), pq_path)
    lines = [json.dumps({"customer": c, "when": w, "page": p}) for c, w, p in
             [("007", "2025-01-01T10:00:00Z", "home"), ("007", "2025-01-01T10:05:00Z", "café"),
              ("010", "2025-01-02T08:00:00Z", "home")]]
    jl = write("e.jsonl", "\n".join(lines) + "\n")
    for path in (gz, zp, pq_path, jl):
        report, rows = _stored(store, path)
        assert report.rows_stored == 3, path
        assert list(rows.customer_id) == ["007", "007", "010"], path
        assert [str(t) for t in rows.ts] == ["2025-01-01 10:00:00", "2025-01-01 10:05:00", "2025-01-02 08:00:00"]


def test_zip_source_name_names_the_member(write):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("e.csv", CSV)
    src = inspect_file(write("a.zip", buf.getvalue()))
    assert src.format == "csv" and src.name == "a.zip:e.csv"


def test_preview_returns_text_columns(write):
    src, frame = preview(write("e.csv", CSV), n=2)
    assert src.delimiter == "," and list(frame.columns) == ["customer", "when", "page"]
    assert list(frame.customer) == ["007", "007"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"customer,when,page\n", "header but no data rows"),
        (b"%PDF-1.7 binary", "is a PDF document"),
        (bytes(range(256)) * 20, "binary data"),
    ],
)
def test_bad_files_get_one_clear_sentence(store, write, content, message):
    with pytest.raises(InputError, match=message):
        store.ingest(write("bad.csv", content), overrides=MAP)
    assert store.datasets() == []


def test_excel_workbook_is_named(store, write):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<x/>")
        zf.writestr("xl/workbook.xml", "<x/>")
    with pytest.raises(InputError, match="Excel workbook"):
        store.ingest(write("book.xlsx", buf.getvalue()), overrides=MAP)


def test_zip_with_two_files_is_refused(store, write):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.csv", CSV)
        zf.writestr("b.csv", CSV)
    with pytest.raises(InputError, match="exactly one"):
        store.ingest(write("two.zip", buf.getvalue()), overrides=MAP)


def test_missing_column_suggests_the_closest(store, write):
    with pytest.raises(MappingError, match="Column 'custmer' .* Did you mean 'customer'"):
        store.ingest(write("e.csv", CSV), overrides={**MAP, "customer": "custmer"})


def test_unknown_role_suggests_the_closest(store, write):
    with pytest.raises(MappingError, match="Unknown role 'chanel'. Did you mean 'channel'"):
        store.ingest(write("e.csv", CSV), overrides={**MAP, "chanel": "page"})


def test_missing_file(store, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        store.ingest(tmp_path / "nope.csv")


def test_file_hints_fit_every_surface(write):
    """The same hint reaches the terminal and the Data page: it names no widget and no upload."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
    said = []
    for name, content in (("a.pdf", b"%PDF-1.7 binary"), ("b.csv", bytes(range(256)) * 20), ("c.xlsx", buf.getvalue())):
        with pytest.raises(InputError) as err:
            inspect_file(write(name, content))
        said.append(str(err.value))
    assert said == [
        "'a.pdf' is a PDF document, not an event export. Event exports are CSV, Parquet or JSON Lines files.",
        ("'b.csv' does not look like a text export (it contains binary data). Event exports are CSV, Parquet or JSON "
        "Lines files."),
        ("'c.xlsx' is an Excel workbook, not an event export. Save the sheet as CSV (File > Save as > CSV UTF-8) and "
        "load that."),
    ]


def test_csv_named_parquet_is_read_as_csv_with_a_warning(store, write):
    report, rows = _stored(store, write("events.parquet", CSV))
    assert report.rows_read == 3 and report.rows_stored == 3
    assert list(rows.customer_id) == ["007", "007", "010"]
    assert list(rows.touchpoint) == ["home", "café", "home"]
    assert "file named .parquet contains CSV text; read as CSV" in report.warnings
    assert "Warning: file named .parquet contains CSV text; read as CSV" in report.lines()
