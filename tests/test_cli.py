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
