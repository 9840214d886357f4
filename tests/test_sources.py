"""A dataset of several sources: appending equals loading the concatenation, only affected persons are
rewritten, --dedupe and --channel, removing a source, and the bad-input sentences."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.csv as pacsv
import pytest

from journeys import sample
from journeys.cli import run
from journeys.errors import DatasetNotFound, InputError, MappingError

ALL = ["customer_id", "ts", "seq", "touchpoint", "channel", "session_id", "value", "score", "text", "step",
       "next_touchpoint", "next_ts", "source", "raw_id"]


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """3,000 generated events whole, and cut in two at row 1,800 (same header)."""
    folder = tmp_path_factory.mktemp("parts")
    table = sample.generate(3000, seed=3)
    pacsv.write_csv(table, folder / "whole.csv")
    pacsv.write_csv(table.slice(0, 1800), folder / "a.csv")
    pacsv.write_csv(table.slice(1800), folder / "b.csv")
    return folder


def frame(store, ds, cols=ALL):
    return store.table(ds).select(*cols).order_by(["customer_id", "step"]).to_pandas()


def test_append_to_a_source_equals_one_load_of_the_concatenation(store, parts):
    whole = store.ingest(parts / "whole.csv", as_source="shop").dataset_id
    ds = store.ingest(parts / "a.csv", as_source="shop", name="appended").dataset_id
    before = store.get(ds).fingerprint
    store.ingest(parts / "b.csv", into="appended", as_source="shop")
    pd.testing.assert_frame_equal(frame(store, whole), frame(store, ds))
    one, two = store.get(whole), store.get(ds)
    assert (two.rows, two.report.customers, two.report.rows_read) == (one.rows, one.report.customers, one.report.rows_read)
    assert two.fingerprint != before and two.report.source == "a.csv"
    assert [(s.name, s.rows, len(s.reports)) for s in store.sources(ds)] == [("shop", 3000, 2)]


def test_a_second_source_orders_ties_after_the_first_and_touches_only_its_persons(store, parts):
    ds = store.ingest(parts / "a.csv").dataset_id
    cur = store.cursor()
    rows_before = dict(cur.execute(f"SELECT rowid, customer_id || '/' || seq FROM ev_{ds}").fetchall())
    store.ingest(parts / "b.csv", into=ds)
    b_ids = set(pd.read_csv(parts / "b.csv").customer_id)
    rows_after = dict(cur.execute(f"SELECT rowid, customer_id || '/' || seq FROM ev_{ds}").fetchall())
    untouched = {r: v for r, v in rows_before.items() if v.split("/")[0] not in b_ids}
    assert untouched and all(rows_after.get(r) == v for r, v in untouched.items())  # not rewritten
    whole = store.ingest(parts / "whole.csv").dataset_id
    cols = [c for c in ALL if c not in ("seq", "source")]
    pd.testing.assert_frame_equal(frame(store, whole, cols), frame(store, ds, cols))
    seqs = store.table(ds).filter(lambda t: t.source == "b").seq.min().execute()
    assert seqs == 1 << 40  # second source: source order before position
    assert [s.name for s in store.sources(ds)] == ["a", "b"]


def test_dedupe_channel_and_remove(store, parts, write):
    ds = store.ingest(parts / "a.csv").dataset_id
    again = store.ingest(parts / "a.csv", into=ds, dedupe="exact", as_source="again")
    assert again.rejected == {} and again.already_stored == 1800 and again.rows_stored == 0
    assert again.examples == {"already stored": [1, 2, 3, 4, 5]}
    assert again.lines()[1] == "Rows read: 1,800; stored: 0; rejected: 0; already stored (skipped): 1,800"
    assert again.to_dict()["already_stored"] == 1800 and again.to_dict()["rows_rejected"] == 0
    by_id = store.ingest(parts / "whole.csv", into=ds, dedupe="customer_id,timestamp,touchpoint")
    assert by_id.rejected == {} and by_id.already_stored == 1800 and by_id.rows_stored == 1200
    calls = write("calls.csv", "phone,when,what\nC0000001,2025-06-01 10:00,call_centre\n")
    r = store.ingest(calls, into=ds, channel="call centre",
                     overrides={"customer": "phone", "timestamp": "when", "touchpoint": "what"})
    assert r.rows_stored == 1
    assert store.table(ds).filter(lambda t: t.source == "calls").channel.execute().tolist() == ["call centre"]
    assert store.get(ds).rows == 1800 + 1200 + 1
    store.remove_source(ds, "whole")
    assert store.get(ds).rows == 1801 and [s.name for s in store.sources(ds)] == ["a", "again", "calls"]
    want = store.ingest(parts / "a.csv").dataset_id
    keep = [c for c in ALL if c not in ("source",)]
    got = frame(store, ds, keep)
    got = got[got.customer_id != "C0000001"].reset_index(drop=True)
    exp = frame(store, want, keep)
    pd.testing.assert_frame_equal(exp[exp.customer_id != "C0000001"].reset_index(drop=True), got)
    with pytest.raises(InputError, match="Unknown source 'calsl'. Did you mean 'calls'"):
        store.remove_source(ds, "calsl")


def test_bad_input_sentences_store_nothing(store, parts, write):
    ds = store.ingest(parts / "a.csv", name="shop").dataset_id
    fp = store.get(ds).fingerprint
    with pytest.raises(DatasetNotFound, match="Did you mean 'shop'"):
        store.ingest(parts / "b.csv", into="shp")
    with pytest.raises(MappingError, match="customer role is required|Column 'nope'"):
        store.ingest(parts / "b.csv", into=ds, overrides={"customer": "nope"})
    with pytest.raises(InputError, match="only event source"):
        store.remove_source(ds, "a")
    store.register(store.get(ds).__class__(**{**{f: getattr(store.get(ds), f) for f in store.get(ds).__slots__},
                                              "id": "c0nn", "name": "remote", "connection": {"url": "duckdb://", "table": "x"}}))
    with pytest.raises(InputError, match="connected read-only"):
        store.ingest(parts / "b.csv", into="remote")
    assert store.get(ds).fingerprint == fp and [s.name for s in store.sources(ds)] == ["a"]


def test_cli_ingest_into_sources_and_remove(tmp_path, parts, monkeypatch, capsys):
    monkeypatch.setenv("JOURNEYS_HOME", str(tmp_path / "home"))
    assert run(["ingest", str(parts / "a.csv"), "--name", "shop"]) == 0
    assert run(["ingest", str(parts / "b.csv"), "--into", "shop", "--channel", "web", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert out["rows_stored"] == 1200 and out["name"] == "shop"
    assert run(["sources", "shop", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(s["name"], s["rows"]) for s in listed["sources"]] == [("a", 1800), ("b", 1200)]
    assert listed["stitching"] is None
    assert run(["ingest", str(parts / "b.csv"), "--into", "shpo"]) == 2
    assert "Did you mean 'shop'" in capsys.readouterr().err
    assert run(["remove-source", "shop", "b"]) == 0
    assert "Removed source 'b' (1,200 rows)" in capsys.readouterr().out


def test_a_report_stored_before_skipped_rows_had_their_own_count_reads_them_as_skipped():
    from journeys.io.report import LoadReport

    old = {"dataset_id": "d", "name": "shop", "source": "calls.csv", "rows_read": 214, "rows_stored": 0,
           "rejected": {"already stored": 214}, "examples": {"already stored": [1, 2]}, "duplicates": 0,
           "tied_timestamps": 0, "customers": 0, "touchpoints": 0, "start": None, "end": None, "rows_rejected": 214}
    report = LoadReport.from_json(json.dumps(old))
    assert (report.rejected, report.already_stored, report.rows_rejected) == ({}, 214, 0)
    assert report.lines()[1:3] == ["Rows read: 214; stored: 0; rejected: 0; already stored (skipped): 214",
                                   "  skipped, already in the dataset: 214 (e.g. row 1, 2)"]
