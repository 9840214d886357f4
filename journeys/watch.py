"""``journeys watch FOLDER --into DATASET``: load each new export that appears in a folder, once.

A file is loaded when its size and modification time are the same on two looks in a row (an export
job still writing it is left alone), and only if no file with the same content was loaded into the
dataset before (content fingerprint), so restarting the watcher or copying a file twice loads nothing
twice. Hidden and partial files (``.name``, ``*.part``, ``*.tmp``, ``*.crdownload``) are ignored.
Each file gets one log line. The store is opened for each load and closed after it, so the write
transaction is short.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from journeys.engine.sharing import inbox_server, submit
from journeys.errors import InputError, JourneyError, StoreBusy
from journeys.io.report import LoadReport

PARTIAL = (".part", ".tmp", ".crdownload", ".partial")
READABLE = (".csv", ".tsv", ".txt", ".gz", ".zip", ".parquet", ".jsonl", ".ndjson", ".json")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_interval(text: str) -> float:
    """``10s``, ``2m``, ``1h`` or plain seconds -> seconds."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text or "")
    if not found or float(found.group(1)) <= 0:
        raise InputError(f"Cannot read the interval '{text}'.", hint="Use seconds or a unit: 10s, 2m, 1h.")
    return float(found.group(1)) * _UNITS[found.group(2) or "s"]


def candidates(folder: Path) -> list[Path]:
    """Files that may be exports, in name order (which is usually the order an export job wrote them)."""
    out = []
    for p in sorted(folder.iterdir()):
        name = p.name.lower()
        if p.is_file() and not name.startswith(".") and not name.endswith(PARTIAL) and name.endswith(READABLE):
            out.append(p)
    return out


def watch(folder: str | Path, *, into: str, interval_s: float = 10.0, preset: str | None = None,
          overrides: dict[str, str] | None = None, tz: str = "UTC", source: str | None = None,
          channel: str | None = None, once: bool = False, log: Callable[[str], None] | None = None,
          stop: threading.Event | None = None, home: str | Path | None = None) -> int:
    """Watch ``folder`` until ``stop`` is set (or one pass with ``once``); returns the number of files loaded.

    Files go into one source of the dataset (``source``, default the folder's name), so ties across
    files follow the order they were loaded in.
    """
    from journeys.engine.store import Store

    say = log or (lambda line: print(line, flush=True))
    where = Path(folder)
    if not where.is_dir():
        raise InputError(f"The folder '{where}' does not exist.")
    with Store(home, read_only=True) as probe:  # the dataset must exist before anything is watched
        dataset = probe.get(into)
    src_name = source or where.resolve().name
    seen: dict[Path, tuple[int, int]] = {}
    handled: dict[Path, tuple[int, int]] = {}
    loaded = 0
    say(f"Watching {where} for new files into '{dataset.name}' every {interval_s:g} s.")
    passes = 0
    while not (stop and stop.is_set()):
        for path in candidates(where):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            state = (st.st_size, st.st_mtime_ns)
            if seen.get(path) != state or st.st_size == 0:
                seen[path] = state  # new or still growing: look again next time
                continue
            if handled.get(path) == state:
                continue
            handled[path] = state  # one log line per file (and again only if it is rewritten)
            started = time.perf_counter()
            try:
                report = load(home, path, once=True, into=dataset.id, as_source=src_name, preset=preset,
                              overrides=overrides, tz=tz, channel=channel)
            except JourneyError as err:
                say(f"{path.name}: not loaded: {err}")
                continue
            if report is None:
                say(f"{path.name}: already loaded (same content), skipped")
                continue
            loaded += 1
            say(f"{path.name}: {report.rows_stored:,} events loaded, {report.rows_rejected:,} rejected, "
                f"in {time.perf_counter() - started:.2f} s")
        passes += 1
        if once and passes >= 2:
            break
        wait = min(interval_s, 1.0) if once else interval_s
        if stop is not None:
            stop.wait(wait)
        else:
            time.sleep(wait)
    return loaded



def load(home: str | Path | None, path: Path, *, once: bool = False, tell: Callable[[str], object] | None = None,
         **kwargs: Any) -> LoadReport | None:
    """Ingest ``path`` with ``kwargs`` (``into`` a dataset): directly when the store is free, else through
    the process that holds it (the dashboard). ``once``: None, loading nothing, when a file with the same
    content was loaded into the dataset before. ``tell`` hears what happens after the load (for people waiting)."""
    from journeys.engine.sources import already_loaded
    from journeys.engine.store import Store, default_home, file_fingerprint

    where = Path(home) if home is not None else default_home()
    try:
        store = Store(where)
    except StoreBusy:
        if inbox_server(where) is None:
            raise
        store = None
    if store is None:
        answer = submit(where, {"once": once, "ingest": {"path": str(Path(path).resolve()), **kwargs}})
        if not answer.get("ok"):
            raise JourneyError(str(answer.get("error")))
        return None if answer.get("skipped") else LoadReport(**{k: v for k, v in answer["report"].items()
                                                                 if k != "rows_rejected"})
    with store:
        if once and already_loaded(store.cursor(), store.get(kwargs["into"]).id, file_fingerprint(path)):
            return None
        if kwargs.get("into") is None:

            # a new dataset's default views are built now, so later (read-only) commands find them; after an
            # append they are rebuilt by the first writer that needs them (the dashboard does it in the
            # background), so appends and `journeys watch` stay quick
            store.after_load.append(lambda dataset: _prepare(store, dataset, tell))
        return store.ingest(path, **kwargs)


def _prepare(store: Any, dataset: str, tell: Callable[[str], object] | None) -> None:
    """Build a new dataset's default views, under the load's memory limit (it is part of the load)."""
    from journeys.analyses import summary

    started = time.perf_counter()
    if tell:
        tell("Loaded. Preparing the default views (paths, funnels, retention, drivers, attribution)…")
    cur = store.cursor()
    cur.execute(f"SET memory_limit='{store.load_memory_limit}'")
    try:
        summary.prepare(store.table(dataset))
    finally:
        cur.execute(f"SET memory_limit='{store.memory_limit}'")
    if tell:
        tell(f"Prepared in {time.perf_counter() - started:.1f} s.")


def call(method: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run a store method that changes a dataset (``add_identities``, ``remove_source``, ``exclude_ids``)
    directly when the store is free, else in the process that holds it. Returns the method's result as
    a dict (a stitching report, or the removed source's name and rows)."""
    from journeys.engine.store import Store, default_home

    where = default_home()
    try:
        store = Store(where)
    except StoreBusy:
        if inbox_server(where) is None:
            raise
        store = None
    if store is None:
        answer = submit(where, {"call": method, "args": list(args), "kwargs": kwargs})
        if not answer.get("ok"):
            raise JourneyError(str(answer.get("error")))
        return dict(answer["result"])
    with store:
        result = getattr(store, method)(*args, **kwargs)
        return result.to_dict() if hasattr(result, "to_dict") else {"name": result.name, "rows": result.rows}
