"""``journeys watch``: a real folder, files dropped into it while it runs; each loaded once, half-written
files left alone; and the watcher beside a process that holds the store (the dashboard)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from journeys import sample
from journeys.cli import run
from journeys.engine.store import Store
from journeys.errors import InputError
from journeys.watch import parse_interval, watch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pieces(tmp_path):
    """Three consecutive pieces of one generated export (600, 300, 300 events) and a dataset of the first."""
    t = sample.generate(1200, seed=21)
    out = {}
    for name, (lo, n) in {"a": (0, 600), "b": (600, 300), "c": (900, 300)}.items():
        out[name] = tmp_path / f"{name}.csv"
        pacsv.write_csv(t.slice(lo, n), out[name])
    with Store(tmp_path / "home") as store:
        store.ingest(out["a"], name="shop", as_source="exports")
    (tmp_path / "drop").mkdir()
    return out


def wait_for(check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_each_new_file_is_loaded_once_and_a_growing_file_waits(tmp_path, pieces):
    drop, lines, stop = tmp_path / "drop", [], threading.Event()
    worker = threading.Thread(target=watch, args=(drop,), kwargs={
        "into": "shop", "interval_s": 0.3, "log": lines.append, "stop": stop, "home": tmp_path / "home",
        "source": "exports"})
    worker.start()
    try:
        shutil.copy(pieces["b"], drop / "b.csv")
        assert wait_for(lambda: any(x.startswith("b.csv:") for x in lines))
        body = pieces["c"].read_bytes()
        with (drop / "c.csv").open("wb") as fh:  # an export job writing slowly: never stable between two looks
            for i in range(0, len(body), len(body) // 8 + 1):
                fh.write(body[i:i + len(body) // 8 + 1])
                fh.flush()
                time.sleep(0.15)
                assert not any(x.startswith("c.csv:") for x in lines)
        assert wait_for(lambda: any(x.startswith("c.csv:") for x in lines))
        shutil.copy(pieces["b"], drop / "b again.csv")  # same content under another name
        (drop / "d.csv.part").write_text("half")  # partial downloads are ignored
        assert wait_for(lambda: any(x.startswith("b again.csv:") for x in lines))
    finally:
        stop.set()
        worker.join()
    assert lines[1:] == ["b.csv: 300 events loaded, 0 rejected" + lines[1].split("rejected")[1],
                         "c.csv: 300 events loaded, 0 rejected" + lines[2].split("rejected")[1],
                         "b again.csv: already loaded (same content), skipped"]
    with Store(tmp_path / "home") as store:
        whole = tmp_path / "whole.csv"
        pacsv.write_csv(sample.generate(1200, seed=21), whole)
        want = store.ingest(whole, as_source="exports").dataset_id
        cols = ["customer_id", "ts", "seq", "touchpoint", "step", "next_touchpoint"]
        a = store.table("shop").select(*cols).order_by(cols).to_pandas()
        b = store.table(want).select(*cols).order_by(cols).to_pandas()
        assert a.equals(b)  # three files into one source = the concatenation


def test_watch_and_cli_appends_beside_the_process_holding_the_store(tmp_path, pieces):
    home = tmp_path / "home"
    holder = Store(home)  # what the dashboard does: holds the store and serves the inbox
    holder.serve_inbox()
    env = os.environ | {"JOURNEYS_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "journeys", "watch", str(tmp_path / "drop"), "--into", "shop",
                             "--interval", "0.3"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        shutil.copy(pieces["b"], tmp_path / "drop" / "b.csv")
        assert wait_for(lambda: holder.get("shop").rows == 900)
        assert holder.table("shop").count().execute() == 900  # the holder reads the new events at once
        cli = subprocess.run([sys.executable, "-m", "journeys", "ingest", str(pieces["c"]), "--into", "shop",
                              "--source", "exports"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stderr
        assert "Rows read: 300; stored: 300" in cli.stdout
        assert holder.get("shop").rows == 1200
        ids = tmp_path / "ids.csv"
        ids.write_text("a,b\nC0000001,C0000002\n")
        for args in (["identities", str(ids), "--into", "shop", "--ids", "a,b"], ["remove-source", "shop", "drop"]):
            done = subprocess.run([sys.executable, "-m", "journeys", *args], cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=120)
            assert done.returncode == 0, done.stderr
        assert holder.stitching("shop").links_read == 1  # type: ignore[union-attr]
        assert holder.get("shop").rows == 900 and [s.name for s in holder.sources("shop")] == ["exports", "ids"]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        holder.close()
    assert "b.csv: 300 events loaded, 0 rejected" in out


def test_watch_sentences(tmp_path, pieces, capsys, monkeypatch):
    monkeypatch.setenv("JOURNEYS_HOME", str(tmp_path / "home"))
    assert parse_interval("2m") == 120 and parse_interval("10s") == 10 and parse_interval("5") == 5
    with pytest.raises(InputError, match="Cannot read the interval 'soon'"):
        parse_interval("soon")
    assert run(["watch", str(tmp_path / "nowhere"), "--into", "shop"]) == 2
    assert "The folder" in capsys.readouterr().err
    assert run(["watch", str(tmp_path / "drop"), "--into", "shp", "--once"]) == 2
    assert "Did you mean 'shop'" in capsys.readouterr().err
