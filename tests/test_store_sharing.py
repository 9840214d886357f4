"""The CLI reads while another process (the dashboard) holds the store for writing: two real processes.

The holder opens ``Store()`` as ``app/state.py`` does and keeps it open, taking commands on stdin;
the CLI runs as a separate process against the same ``JOURNEYS_HOME``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from journeys.engine import store as store_module
from journeys.engine.store import Store
from journeys.errors import StoreBusy

DATA = Path(__file__).parent / "data"
HOLDER = """
import sys
from journeys.engine.store import Store
s = Store()
for line in sys.stdin:
    verb, _, arg = line.strip().partition(" ")
    if verb == "ingest":
        s.ingest(sys.argv[1], name=arg)
    elif verb == "rename":
        old, new = arg.split("=")
        s.rename(old, new)
    elif verb == "churn":  # keep writing, as a long load does
        import itertools, time
        ds = s.get(arg).id
        for i in itertools.count():
            s.rename(ds, f"{arg}-{i % 2}")
            time.sleep(0.02)
    print("done", flush=True)
"""


class Holder:
    """A process holding the store open for writing, like a running dashboard."""

    def __init__(self, home: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(DATA / "ecom_slice.csv")], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env={**os.environ, "JOURNEYS_HOME": str(home)})

    def do(self, command: str, *, wait: bool = True) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        if wait:
            assert self.proc.stdout.readline().strip() == "done"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JOURNEYS_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "journeys", *args], capture_output=True, text=True, env=env, check=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def holder(home: Path) -> Iterator[Holder]:
    h = Holder(home)
    h.do("ingest shop")
    yield h
    h.stop()


def test_read_commands_work_while_a_writer_holds_the_store(holder, home):
    holder.do("ingest crm")
    holder.do("rename crm=crm v2")  # committed but only in the write-ahead log: the snapshot must have it
    listed = cli("datasets", "--format", "json", home=home)
    assert listed.returncode == 0, listed.stderr
    assert [d["name"] for d in json.loads(listed.stdout)["datasets"]] == ["shop", "crm v2"]
    info = cli("info", "crm v2", home=home)
    assert info.returncode == 0 and "Rows read: 300; stored: 300; rejected: 0" in info.stdout
    paths = json.loads(cli("paths", "shop", "--depth", "3", "--format", "json", home=home).stdout)
    assert paths["journeys_total"] == 7
    funnel = json.loads(cli("funnel", "shop", "--steps", "home,product_view", "--window", "30d", "--format", "json",
                            home=home).stdout)
    assert funnel["steps"][0]["customers"] == 7
    edges = cli("transitions", "shop", "--with-ends", home=home)
    assert edges.returncode == 0 and edges.stdout.startswith("source,target,count")
    assert list((home / "tmp").glob("snapshot-*")) == []  # each reader removes its copy


def test_writes_while_a_writer_holds_the_store_say_what_to_do(holder, home):
    out = cli("ingest", str(DATA / "ecom_slice.csv"), home=home)
    assert out.returncode == 2
    assert out.stderr.strip() == (
        f"journeys: error: The journeys store at {home / 'journeys.duckdb'} is in use by another process "
        f"(PID {holder.proc.pid}). If it is the dashboard: read commands and analyses (datasets, info, sources, "
        "paths, funnel, drivers, attribution, retention, report, ...) work while it runs, and ingest, identities, "
        "exclude-ids, remove-source and watch hand their work to it; connect and other changes need the store to "
        "themselves: stop the dashboard and run this again.")
    assert "Data page" not in out.stderr  # no file is involved in connect


def test_a_reader_sees_each_new_commit(holder, home):
    assert [d.name for d in Store(home, read_only=True).datasets()] == ["shop"]
    holder.do("ingest later")
    reader = Store(home, read_only=True)
    assert reader.snapshot is not None and [d.name for d in reader.datasets()] == ["shop", "later"]
    assert reader.table("later").count().execute() == 300
    folder = reader.snapshot
    reader.close()
    assert not folder.exists()


def test_a_copy_that_changed_while_taken_is_taken_again(holder, home, monkeypatch):
    copies: list[str] = []
    real = store_module.shutil.copyfile

    def copy_then_touch(src, dst):
        copies.append(Path(src).name)
        out = real(src, dst)
        if len(copies) == 1:  # the writer wrote while the first copy was being taken
            os.utime(src, ns=(time.time_ns(), time.time_ns()))
        return out

    monkeypatch.setattr(store_module.shutil, "copyfile", copy_then_touch)
    monkeypatch.setattr(store_module, "QUIET_S", 0.0)
    reader = Store(home, read_only=True)
    assert [d.name for d in reader.datasets()] == ["shop"]
    assert copies.count("journeys.duckdb") == 2


def test_a_writer_that_never_pauses_is_a_sentence(holder, home, monkeypatch):
    holder.do("churn shop", wait=False)
    monkeypatch.setattr(store_module, "SNAPSHOT_WAIT_S", 1.0)
    with pytest.raises(StoreBusy) as err:
        Store(home, read_only=True)
    assert str(err.value) == (
        f"The journeys store at {home / 'journeys.duckdb'} is being written by another process "
        f"(PID {holder.proc.pid}), so it cannot be read right now (a load in progress?). "
        "Try again when it has finished.")


def test_a_writer_waits_for_readers_to_finish(home):
    Store(home).ingest(DATA / "ecom_slice.csv", name="shop")
    script = ("import sys, time; from journeys.engine.store import Store; "
              "s = Store(sys.argv[1], read_only=True); s.datasets(); print('reading', flush=True); time.sleep(1)")
    reader = subprocess.Popen([sys.executable, "-c", script, str(home)], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "reading"
        started = time.perf_counter()
        writer = Store(home)  # DuckDB refuses while the reader has the file; the writer waits it out
        assert time.perf_counter() - started > 0.2
        assert [d.name for d in writer.datasets()] == ["shop"]
        writer.close()
    finally:
        reader.kill()


def test_a_missing_store_reads_as_empty(home):
    reader = Store(home, read_only=True)
    assert reader.datasets() == [] and not (home / "journeys.duckdb").exists()
    out = cli("datasets", home=home)
    assert out.returncode == 0 and out.stdout.strip() == "No datasets yet. Load one with `journeys ingest FILE`."


def test_a_reader_in_the_writers_own_process_reads_a_snapshot(home):
    writer = Store(home)
    r = writer.ingest(DATA / "ecom_slice.csv", name="shop")
    reader = Store(home, read_only=True)  # DuckDB refuses a second configuration of one file in a process
    assert reader.snapshot is not None and reader.get("shop").id == r.dataset_id
    reader.close()
    writer.close()
