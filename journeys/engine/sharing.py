"""Sharing one store file between processes: DuckDB lock errors, and the snapshots read-only commands take."""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from journeys.errors import StoreBusy


def is_lock_error(err: duckdb.Error) -> bool:
    return "lock" in str(err).lower()


def lock_holder(err: duckdb.Error) -> str:
    """`` (PID 1234)`` from DuckDB's lock message, or nothing."""
    found = re.search(r"\(PID (\d+)\)", str(err))
    return f" (PID {found.group(1)})" if found else ""


def file_states(*paths: Path) -> tuple[tuple[int, int] | None, ...]:
    """(size, mtime in ns) of each file, None for a missing one: equal states mean untouched files."""
    out: list[tuple[int, int] | None] = []
    for p in paths:
        try:
            st = p.stat()
        except FileNotFoundError:
            out.append(None)
            continue
        out.append((st.st_size, st.st_mtime_ns))
    return tuple(out)


def remove_stale_snapshots(folder: Path) -> None:
    """Snapshots left by readers that were killed (their process is gone)."""
    for old in folder.glob("snapshot-*"):
        try:
            pid = int(old.name.split("-")[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except (ValueError, IndexError, PermissionError):
            continue


def open_snapshot(path: Path, home: Path, lock_error: duckdb.Error, *, quiet_s: float,
                  wait_s: float) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """Read a copy of the database and its write-ahead log, taken while the writer was quiet; returns the
    connection and the copy's folder (removed at exit).

    The copy is kept only if neither file changed while it was taken; DuckDB replays the copied
    log on opening, so the snapshot has every change committed before it.
    """
    wal = path.with_name(path.name + ".wal")
    scratch = home / "tmp"
    scratch.mkdir(exist_ok=True)
    remove_stale_snapshots(scratch)
    folder = Path(tempfile.mkdtemp(prefix=f"snapshot-{os.getpid()}-", dir=scratch))
    atexit.register(shutil.rmtree, folder, True)
    copy = folder / path.name
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        before = file_states(path, wal)
        if time.time() - max(m for _size, m in filter(None, before)) / 1e9 < quiet_s:
            time.sleep(0.1)  # written a moment ago: wait for a quiet file
            continue
        copy_wal = copy.with_name(copy.name + ".wal")
        copy_wal.unlink(missing_ok=True)
        try:
            shutil.copyfile(path, copy)
            if before[1] is not None:
                shutil.copyfile(wal, copy_wal)
        except FileNotFoundError:
            continue  # the log was checkpointed away meanwhile: take another
        if file_states(path, wal) == before:
            con = None
            try:
                con = duckdb.connect(str(copy), read_only=True)
                con.execute("SELECT count(*) FROM datasets").fetchall()
                return con, folder
            except duckdb.Error:  # a torn copy despite the checks: take another
                if con is not None:
                    con.close()
        time.sleep(0.1)
    shutil.rmtree(folder, ignore_errors=True)
    raise StoreBusy(f"The journeys store at {path} is being written by another process{lock_holder(lock_error)}, "
                    "so it cannot be read right now (a load in progress?). Try again when it has finished.")


# ---- writes through the process that holds the store ------------------------------------------------
# DuckDB lets one process write a database file. The dashboard holds the store, so another process
# (``journeys watch``, ``journeys ingest --into``) hands its load to the dashboard: it drops a job file in
# ``<home>/inbox/``, the dashboard's store runs it in its own short write transaction, and writes the
# answer next to it. A heartbeat file says which process serves the inbox.

INBOX = "inbox"
HEARTBEAT = "server.json"
HEARTBEAT_S = 2.0
POLL_S = 0.25


def inbox_server(home: Path) -> int | None:
    """The pid of the live process serving ``home``'s inbox, or None."""
    beat = home / INBOX / HEARTBEAT
    try:
        info = json.loads(beat.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None
    if time.time() - beat.stat().st_mtime > 5 * HEARTBEAT_S:
        return None
    return int(info["pid"])


def submit(home: Path, job: dict[str, Any], *, timeout_s: float = 3600.0) -> dict[str, Any]:
    """Hand a job to the process serving the inbox and wait for its answer (a dict with ``ok``)."""
    folder = home / INBOX
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}-{os.getpid()}"
    tmp = folder / f".{name}.tmp"
    tmp.write_text(json.dumps(job))
    tmp.rename(folder / f"{name}.job")  # atomic: the server never reads half a job
    answer = folder / f"{name}.done"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if answer.exists():
            data: dict[str, Any] = json.loads(answer.read_text())
            answer.unlink(missing_ok=True)
            return data
        if inbox_server(home) is None and (folder / f"{name}.job").exists():
            (folder / f"{name}.job").unlink(missing_ok=True)
            break
        time.sleep(POLL_S)
    raise StoreBusy(f"The process holding the journeys store at {home} did not take the load "
                    f"(it stopped, or is still busy after {timeout_s:.0f} s).")


def serve(home: Path, run: Callable[[dict[str, Any]], dict[str, Any]], stop: threading.Event) -> None:
    """Run inbox jobs one at a time until ``stop`` is set, keeping the heartbeat fresh."""
    folder = home / INBOX
    folder.mkdir(parents=True, exist_ok=True)
    beat = folder / HEARTBEAT
    last = 0.0
    while not stop.is_set():
        try:
            if time.time() - last > HEARTBEAT_S:
                beat.write_text(json.dumps({"pid": os.getpid()}))
                last = time.time()
            _serve_jobs(folder, run)
        except OSError:  # the store's folder went away (a test's temp home, a deleted store): stop serving
            return
        stop.wait(POLL_S)


def _serve_jobs(folder: Path, run: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Answer every waiting job, oldest first."""
    for job in sorted(folder.glob("*.job")):
        try:
            data = json.loads(job.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        job.unlink(missing_ok=True)
        answer = run(data)
        tmp = folder / f".{job.stem}.done.tmp"
        tmp.write_text(json.dumps(answer, default=str))
        tmp.rename(folder / f"{job.stem}.done")
