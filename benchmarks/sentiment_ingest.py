"""What sentiment costs a whole load, and how fast the dashboard's background job scores what the load left.

    python -m benchmarks.sentiment_ingest [ROWS] [--runs N] [--backfill-chunks K]

Loads a Parquet file of ROWS events (default 1M) whose texts are all distinct, and the same file without
its text column, into fresh stores (``Store.ingest``, the whole load), and prints the median wall time of
each and their difference: the budget of issue 13 is 60 s per 1M texts on 2 cores. Then runs the background
backfill (:mod:`journeys.io.sentiment_job`) on the loaded dataset for K chunks (0: until done) and prints its
rate in distinct texts a second and the time the whole backfill would take at that rate.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from journeys.engine.store import Store  # noqa: E402
from journeys.io.sentiment import INLINE_DISTINCT  # noqa: E402
from journeys.io.sentiment_job import JOB_CHUNK, BackfillProgress, SentimentBackfill  # noqa: E402

TEXT = ("'Order ' || i || CASE WHEN i % 2 = 0 THEN ' was late, support useless' ELSE ' solved fast, thanks' END")
MAP = {"customer": "customer", "timestamp": "ts", "touchpoint": "event"}


def write_files(folder: Path, rows: int) -> tuple[Path, Path]:
    con = duckdb.connect()
    select = (f"SELECT 'c' || (i // 4) AS customer, TIMESTAMP '2025-01-01' + to_seconds(i) AS ts, "
              f"list_element(['home', 'search', 'chat', 'cart', 'purchase'], (i % 5) + 1) AS event, {TEXT} AS comment "
              f"FROM range({rows}) t(i)")
    with_text, without = folder / "with_text.parquet", folder / "without_text.parquet"
    con.execute(f"COPY ({select}) TO '{with_text}' (FORMAT parquet)")
    con.execute(f"COPY (SELECT * EXCLUDE (comment) FROM ({select})) TO '{without}' (FORMAT parquet)")
    con.close()
    return with_text, without


def load(folder: Path, path: Path, mapping: dict[str, str]) -> tuple[float, Store, str]:
    home = Path(tempfile.mkdtemp(dir=folder))
    store = Store(home)
    started = time.perf_counter()
    report = store.ingest(path, overrides=mapping)
    return time.perf_counter() - started, store, report.dataset_id


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("rows", nargs="?", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--backfill-chunks", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with_text, without = write_files(folder, args.rows)
        print(f"## Load of {args.rows:,} events, every text distinct (inline: the {INLINE_DISTINCT:,} most frequent)")
        times: dict[str, list[float]] = {"without text": [], "with text": []}
        last: tuple[Store, str] | None = None
        for _ in range(args.runs):
            for label, path, mapping in (("without text", without, MAP), ("with text", with_text, {**MAP, "text": "comment"})):
                secs, store, ds = load(folder, path, mapping)
                times[label].append(secs)
                print(f"{label:<14} {secs:6.1f} s", flush=True)
                if label == "with text" and last is None:
                    last = (store, ds)
                else:
                    store.close()
        a, b = statistics.median(times["without text"]), statistics.median(times["with text"])
        print(f"median: without text {a:.1f} s, with text {b:.1f} s: sentiment adds {b - a:.1f} s "
              "(budget: 60 s for 1M texts)")
        assert last is not None
        store, ds = last
        limit = args.backfill_chunks

        def listen(p: BackfillProgress) -> None:
            print(f"  chunk {p.version}: {p.scored:,} of {p.texts:,} texts scored, {p.rate or 0:,.0f} distinct/s",
                  flush=True)
            if limit and p.version >= limit:
                job._stop.set()

        job = SentimentBackfill(store, ds, chunk=JOB_CHUNK, listener=listen)
        started = time.perf_counter()
        job.start()
        p = job.join()
        secs = time.perf_counter() - started
        rate = p.distinct_done / secs if secs else 0.0
        total = p.distinct_done + p.distinct_left
        print(f"background backfill: {p.distinct_done:,} distinct texts in {secs:.1f} s ({rate:,.0f}/s, {p.state}); "
              f"all {total:,} pending would take {total / rate / 60:.1f} min at that rate")
        store.close()


if __name__ == "__main__":
    main()
