"""The CLI contract: JSON fields, exit codes, one clear line on stderr, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JOURNEYS_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "journeys", *args], capture_output=True, text=True, env=env, check=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_ingest_json_and_listing(home):
    out = cli("ingest", str(DATA / "helpdesk_slice.csv"), "--preset", "process-mining", "--name", "tickets",
              "--format", "json", home=home)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    for key in ("dataset_id", "rows_read", "rows_stored", "rejected", "duplicates", "tied_timestamps", "customers",
                "touchpoints", "start", "end"):
        assert key in report
    assert (report["rows_read"], report["rows_stored"], report["customers"], report["duplicates"]) == (200, 200, 43, 1)
    listed = json.loads(cli("datasets", "--format", "json", home=home).stdout)["datasets"]
    assert [d["name"] for d in listed] == ["tickets"] and listed[0]["id"] == report["dataset_id"]
    info = cli("info", "tickets", home=home)
    assert info.returncode == 0 and "Rows read: 200; stored: 200; rejected: 0" in info.stdout


def test_map_and_tz_options(home, tmp_path):
    f = tmp_path / "e.csv"
    f.write_text("who;when;what\n001;2024-07-01 12:00;home\n")
    out = cli("ingest", str(f), "--map", "customer=who", "--map", "timestamp=when", "--map", "touchpoint=what",
              "--tz", "Europe/Berlin", "--format", "json", home=home)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["start"] == "2024-07-01 10:00:00"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "/no/such/file.csv"], "does not exist"),
        (["ingest", str(DATA / "ecom_slice.csv"), "--map", "customer=usr_id"], "Did you mean 'user_id'"),
        (["ingest", str(DATA / "ecom_slice.csv"), "--map", "customer"], "--map expects ROLE=COLUMN"),
        (["ingest", str(DATA / "ecom_slice.csv"), "--tz", "Mars/Olympus"], "Unknown time zone"),
        (["info", "nope"], "No dataset 'nope'"),
        (["sample", "--events", "0", "--out", "x.csv"], "at least 1"),
    ],
)
def test_bad_input_exits_2_with_one_line(home, args, message):
    out = cli(*args, home=home)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_binary_garbage_file(home, tmp_path):
    f = tmp_path / "g.csv"
    f.write_bytes(os.urandom(4096))
    out = cli("ingest", str(f), home=home)
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_sample_writes_exactly_n_events(home, tmp_path):
    out = cli("sample", "--events", "1234", "--seed", "3", "--out", str(tmp_path / "s.parquet"), home=home)
    assert out.returncode == 0, out.stderr
    import pyarrow.parquet as pq

    assert pq.read_metadata(tmp_path / "s.parquet").num_rows == 1234


@pytest.fixture
def loaded(home):
    out = cli("ingest", str(DATA / "ecom_slice.csv"), "--name", "shop", "--format", "json", home=home)
    assert out.returncode == 0, out.stderr
    return home


def test_transitions_csv_and_ends(loaded):
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(cli("transitions", "shop", home=loaded).stdout)))
    assert {"source", "target", "count"} <= set(rows[0])
    assert not any(r["source"] == "START" or r["target"].startswith("END") for r in rows)
    with_ends = list(csv.DictReader(io.StringIO(cli("transitions", "shop", "--with-ends", home=loaded).stdout)))
    starts = sum(int(r["count"]) for r in with_ends if r["source"] == "START")
    assert starts == 7  # seven users in the slice
    assert sum(int(r["count"]) for r in rows) == 300 - 7  # every event but each journey's last has a successor


def test_paths_and_funnel_json(loaded):
    paths = json.loads(cli("paths", "shop", "--depth", "3", "--format", "json", home=loaded).stdout)
    assert {"nodes", "links", "coverage", "elapsed_s"} <= set(paths)
    assert sum(n["customers"] for n in paths["nodes"] if n["step"] == 1) == 7
    assert {"step", "label", "customers"} <= set(paths["nodes"][0]) and {"source", "target", "customers"} <= set(paths["links"][0])
    funnel = json.loads(cli("funnel", "shop", "--steps", "home,product_view", "--window", "30d", "--format", "json",
                            home=loaded).stdout)
    assert next(s["customers"] for s in funnel["steps"]) == 7 and "elapsed_s" in funnel


def test_analysis_errors(loaded):
    out = cli("funnel", "shop", "--steps", "hom,cart", home=loaded)
    assert out.returncode == 2 and "Unknown touchpoint 'hom'. Did you mean 'home'" in out.stderr
    out = cli("paths", "shop", "--depth", "30", home=loaded)
    assert out.returncode == 2 and "between 1 and 20" in out.stderr
    out = cli("funnel", "shop", "--steps", "home", "--window", "soon", home=loaded)
    assert out.returncode == 2 and "not a duration" in out.stderr
