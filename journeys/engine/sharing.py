"""Sharing one store file between processes: DuckDB lock errors, and the snapshots read-only commands take."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

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
