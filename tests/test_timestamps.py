"""Every timestamp form lands on the right UTC instant."""

from __future__ import annotations

import pytest

from journeys.errors import InputError

MAP = {"customer": "c", "timestamp": "t", "touchpoint": "e"}


def _ts(store, write, values, **kw):
    body = "c,t,e\n" + "".join(f"u{i},{v},x\n" for i, v in enumerate(values))
    report = store.ingest(write("t.csv", body), overrides=MAP, **kw)
    df = store.table(report.dataset_id).order_by("seq").to_pandas()
    return report, [str(v) for v in df.ts]


def test_offsets_across_a_dst_change(store, write):
    # Berlin: 2024-03-31 02:00 CET -> 03:00 CEST. Both instants below are 00:30 and 01:30 UTC.
    _, got = _ts(store, write, ["2024-03-31T01:30:00+01:00", "2024-03-31T03:30:00+02:00", "2024-03-31T01:30:00Z",
                                "2024-10-27T02:30:00+01:00", "2024-10-27T02:30:00+0200"])
    assert got == ["2024-03-31 00:30:00", "2024-03-31 01:30:00", "2024-03-31 01:30:00",
                   "2024-10-27 01:30:00", "2024-10-27 00:30:00"]


def test_naive_values_use_the_stated_zone(store, write):
    _, got = _ts(store, write, ["2024-01-15 12:00:00", "2024-07-15 12:00:00", "2024-07-15"], tz="Europe/Berlin")
    assert got == ["2024-01-15 11:00:00", "2024-07-15 10:00:00", "2024-07-14 22:00:00"]


def test_naive_default_is_utc_and_date_only_forms(store, write):
    _, got = _ts(store, write, ["2024-01-15 12:00:00", "2024-01-15", "15.01.2024 12:30", "2024/01/15", "20240115",
                                "2024-01-15T12:00:00.250"])
    assert got == ["2024-01-15 12:00:00", "2024-01-15 00:00:00", "2024-01-15 12:30:00", "2024-01-15 00:00:00",
                   "2024-01-15 00:00:00", "2024-01-15 12:00:00.250000"]


def test_epoch_units_are_detected_from_magnitude(store, write):
    # 1700000000 s = 2023-11-14 22:13:20 UTC
    _, got = _ts(store, write, ["1700000000", "1700000000123", "1700000000123456", "1700000000123456789", "1700000000.5"])
    assert got == ["2023-11-14 22:13:20", "2023-11-14 22:13:20.123000", "2023-11-14 22:13:20.123456",
                   "2023-11-14 22:13:20.123457", "2023-11-14 22:13:20.500000"]


def test_unparseable_and_missing_timestamps_are_counted_with_rows(store, write):
    report, got = _ts(store, write, ["2024-01-15 12:00:00", "yesterday", "", "2024-13-45", "2024-01-16 08:00:00"])
    assert got == ["2024-01-15 12:00:00", "2024-01-16 08:00:00"]
    assert report.rejected == {"missing timestamp": 1, "unparseable timestamp": 2}
    assert report.examples == {"missing timestamp": [3], "unparseable timestamp": [2, 4]}
    assert report.rows_read == 5 and report.rows_stored == 2


def test_unknown_time_zone(store, write):
    with pytest.raises(InputError, match="Unknown time zone 'Europe/Berln'. Did you mean 'Europe/Berlin'"):
        _ts(store, write, ["2024-01-15"], tz="Europe/Berln")


def test_all_rows_rejected_is_an_error_not_an_empty_dataset(store, write):
    with pytest.raises(InputError, match="No row of 't.csv' could be stored"):
        _ts(store, write, ["soon", "later"])
    assert store.datasets() == []
