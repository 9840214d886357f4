"""Sharing one store file between processes: DuckDB lock errors, and the snapshots read-only commands take."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import duckdb


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
