"""The sentiment backfill as a background job, for a process that holds the store (the dashboard).

A load scores the most frequent distinct texts inline and leaves the rest ``pending`` (see
:func:`journeys.io.sentiment.sentiment_transform`). :func:`ensure_backfill` starts one thread per dataset
that scores them in chunks: texts are scored outside any transaction, then each chunk is written in one
short transaction under the store's write lock, so pages keep reading (and loads keep writing) meanwhile.
The values are those of ``journeys sentiment --dataset`` (the same scorer, text by text).

A dataset that grows meanwhile is picked up (the job reads what is still pending until nothing is); a
deleted one stops the job with a reason; closing the store stops every job first.

Examples:
    >>> job = ensure_backfill(store, dataset_id)          # doctest: +SKIP
    >>> job.progress().sentence()                         # doctest: +SKIP
    'Sentiment: 340,000 of 1,000,000 texts scored; the rest are being scored in the background (about 4 min left).'
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from journeys.engine import derived
from journeys.errors import DatasetNotFound, JourneyError
from journeys.io.sentiment import (
    PENDING,
    SentimentScorer,
    _quote,
    default_scorer,
    score_pending,
)

JobState = Literal["running", "done", "stopped", "failed"]
#: distinct texts scored between two writes (~0.3 ms each: a write every ~6 s, a short transaction each)
JOB_CHUNK = 20_000
#: how long closing the store waits for a job to finish its current write
STOP_WAIT_S = 30.0
#: a write that conflicts with another writer is tried again this many times before the job gives up
RETRIES = 3


@dataclass(frozen=True, slots=True)
class BackfillProgress:
    """Where a dataset's backfill stands. ``texts``: events with a text; ``scored``: those no longer pending;
    ``distinct_done``/``distinct_left``: distinct texts scored by this job and still pending;
    ``version`` grows with every committed chunk (a cache key for figures that read sentiment)."""

    dataset: str
    texts: int
    scored: int
    state: JobState = "running"
    distinct_done: int = 0
    distinct_left: int = 0
    seconds: float = 0.0
    version: int = 0
    reason: str = ""

    @property
    def rate(self) -> float | None:
        """Distinct texts scored per second so far (None before the first chunk)."""
        return self.distinct_done / self.seconds if self.distinct_done and self.seconds > 0 else None

    def minutes_left(self) -> int | None:
        rate = self.rate
        return None if rate is None else max(1, math.ceil(self.distinct_left / rate / 60))

    def sentence(self) -> str:
        """"Sentiment: 340,000 of 1,000,000 texts scored; the rest are being scored in the background (about 4 min left).\""""
        head = f"Sentiment: {self.scored:,} of {self.texts:,} texts scored"
        if self.state == "done":
            return (f"Sentiment: all {self.texts:,} texts scored (the last {self.distinct_done:,} distinct texts "
                    "in the background).")
        if self.state == "running":
            left = self.minutes_left()
            eta = "estimating the time left" if left is None else f"about {left:,} min left"
            return f"{head}; the rest are being scored in the background ({eta})."
        why = f" ({self.reason})" if self.reason else ""
        return (f"{head}; scoring in the background {self.state}{why}. Figures cover only the scored texts; "
                "journeys sentiment --dataset NAME scores the rest when the dashboard is stopped.")


class SentimentBackfill:
    """One dataset's backfill thread. ``scorer``: default the user's (as the CLI); ``chunk``: distinct texts a write."""

    def __init__(self, store: Any, dataset: str, *, scorer: SentimentScorer | None = None, chunk: int = JOB_CHUNK,
                 clock: Callable[[], float] = time.monotonic,
                 listener: Callable[[BackfillProgress], None] | None = None) -> None:
        self.store, self.dataset, self.chunk, self._clock, self._listener = store, dataset, chunk, clock, listener
        self._scorer = scorer
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._progress = BackfillProgress(dataset, 0, 0)
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"journeys-sentiment-{dataset}")

    def start(self) -> SentimentBackfill:
        self._thread.start()
        return self

    def progress(self) -> BackfillProgress:
        with self._lock:
            return self._progress

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, wait: float | None = STOP_WAIT_S) -> None:
        """Ask the job to stop after its current write; wait for it (``None``: as long as it takes)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(wait)

    def join(self, timeout: float | None = None) -> BackfillProgress:
        self._thread.join(timeout)
        return self.progress()

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._progress = replace(self._progress, **changes)

    def _run(self) -> None:
        try:
            state, reason = self._backfill()
        except DatasetNotFound:
            state, reason = "stopped", "the dataset was deleted"
        except JourneyError as err:  # e.g. a store opened for reading only
            state, reason = "stopped", str(err).rstrip(".")
        except Exception as err:  # the job must end with a sentence, never take the server down
            state = "stopped" if self._stop.is_set() else "failed"
            reason = "the store was closed" if self._stop.is_set() else f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
        self._set(state=state, reason=reason)

    def _counts(self, table: str) -> tuple[int, int]:
        # fetchall, not fetchone: DuckDB 2 refuses other work on a connection with an unfinished result
        (texts, pending), = self.store.cursor().execute(
            f"SELECT count(text), count(*) FILTER (WHERE language = '{PENDING}') FROM {_quote(table)}").fetchall()
        return int(texts), int(texts) - int(pending)

    def _backfill(self) -> tuple[JobState, str]:
        started = self._clock()
        done = 0
        while not self._stop.is_set():
            table = self.store.get(self.dataset).table_name  # raises once the dataset is deleted
            texts, scored = self._counts(table)
            # Arrow holds 10M distinct texts in a fraction of the memory of Python strings
            pending = self.store.cursor().sql(
                f"SELECT DISTINCT text FROM {_quote(table)} WHERE language = '{PENDING}' ORDER BY text"
            ).to_arrow_table().column("text")
            self._set(texts=texts, scored=scored, distinct_left=len(pending))
            if len(pending) == 0:
                if done:
                    self._write(None)  # journeys kept in the store were shaped from the old sentiment columns
                return "done", ""
            scorer = self._scorer or default_scorer()
            for start in range(0, len(pending), self.chunk):
                if self._stop.is_set():
                    return "stopped", "the store was closed"
                frame = scorer.frame(pending.slice(start, self.chunk).to_pylist())
                if self._stop.is_set():
                    return "stopped", "the store was closed"
                rows = self._write(frame)
                done += len(frame)
                with self._lock:
                    p = self._progress
                    self._progress = replace(p, scored=p.scored + rows, distinct_done=done,
                                             distinct_left=max(0, len(pending) - start - len(frame)),
                                             seconds=self._clock() - started, version=p.version + 1)
                    now = self._progress
                if self._listener is not None:
                    self._listener(now)
        return "stopped", "the store was closed"

    def _write(self, frame: Any) -> int:
        """One chunk in one short transaction under the store's write lock; rows changed from pending.
        ``None``: drop the dataset's derived tables (stored reshaped journeys, summaries) instead."""
        lock = getattr(self.store, "_write_lock", None) or threading.Lock()
        for attempt in range(RETRIES):
            with lock:
                table = self.store.get(self.dataset).table_name  # a delete since the read stops here
                cur = self.store.cursor()
                cur.execute("BEGIN TRANSACTION")
                try:
                    rows = score_pending(cur, table, frame) if frame is not None else derived.drop_changed_column(cur, self.dataset, "sentiment")
                    cur.execute("COMMIT")
                    return rows
                except Exception as err:
                    cur.execute("ROLLBACK")
                    if "conflict" not in str(err).lower() or attempt == RETRIES - 1:
                        raise
            time.sleep(0.5 * (attempt + 1))
        return 0  # not reached


# ---- one job per dataset and store ----------------------------------------------------------------------

_JOBS: weakref.WeakKeyDictionary[Any, dict[str, tuple[SentimentBackfill | None, str]]] = weakref.WeakKeyDictionary()
_REGISTRY = threading.Lock()


def has_pending(store: Any, dataset: str) -> bool:
    """True when the stored dataset has texts a load left for the backfill."""
    info = store.get(dataset)
    if info.connection or "language" not in info.attributes:
        return False
    rows = store.cursor().execute(
        f"SELECT 1 FROM {_quote(info.table_name)} WHERE language = '{PENDING}' LIMIT 1").fetchall()
    return bool(rows)


def ensure_backfill(store: Any, dataset: str, *, scorer: SentimentScorer | None = None, chunk: int = JOB_CHUNK,
                    listener: Callable[[BackfillProgress], None] | None = None) -> SentimentBackfill | None:
    """The dataset's backfill job: started when it has pending texts and no job runs for it (a writable store
    only); the last one (finished) when nothing is pending since; None when there never was anything to do.
    Cheap to call on every page run: the store is asked again only after the dataset's fingerprint changed."""
    if getattr(store, "read_only", False):
        return None
    info = store.get(dataset)
    with _REGISTRY:
        jobs = _JOBS.get(store)
        if jobs is None:
            jobs = _JOBS[store] = {}
            hooks = store.__dict__.setdefault("on_close", [])
            hooks.append(lambda: stop_backfills(store))
        job, checked = jobs.get(info.id, (None, ""))
        if (job is not None and job.running) or checked == info.fingerprint:
            return job
        if has_pending(store, info.id):
            job = SentimentBackfill(store, info.id, scorer=scorer, chunk=chunk, listener=listener).start()
        jobs[info.id] = (job, info.fingerprint)
        return job


def backfill_progress(store: Any, dataset: str) -> BackfillProgress | None:
    """The progress of the dataset's job, starting it if needed (see :func:`ensure_backfill`)."""
    job = ensure_backfill(store, dataset)
    return job.progress() if job is not None else None


def stop_backfills(store: Any, wait: float | None = STOP_WAIT_S) -> None:
    """Stop every job on this store (before it closes): each ends after its current write."""
    with _REGISTRY:
        jobs = [job for job, _ in _JOBS.get(store, {}).values() if job is not None]
    for job in jobs:
        job._stop.set()
    for job in jobs:
        job.stop(wait)
