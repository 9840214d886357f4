"""Appending to a big dataset (issue 9): 100k events into the stored 10M-event dataset, in a fresh process.

The appended events reuse the generator's customer ids, so about 30k existing customers get new events
and have their step / next-event columns rewritten: the realistic case, not only brand-new customers.

    python -m benchmarks.append [events.parquet]   # ingests it first when no store is given
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from journeys import sample

ROOT = Path(__file__).resolve().parent.parent
APPEND_EVENTS = 100_000
GOAL_S = 5.0
CODE = ("import sys,time; from journeys.engine.store import Store; s=Store(sys.argv[2]); t=time.perf_counter(); "
        "r=s.ingest(sys.argv[1], into=sys.argv[3]); print(time.perf_counter()-t, r.rows_stored, s.get(sys.argv[3]).rows)")


def bench_append(home: Path, dataset: str, *, runs: int = 1) -> list[float]:
    """Seconds to append 100k events to ``dataset`` in ``home`` (each run appends another 100k)."""
    print(f"\n## Append {APPEND_EVENTS:,} events to the stored dataset (fresh process; goal < {GOAL_S:.0f} s)")
    folder = Path(tempfile.mkdtemp(prefix="journeys-append-"))
    times = []
    for run in range(runs):
        path = sample.write(sample.generate(APPEND_EVENTS, seed=1000 + run), folder / f"append_{run}.parquet")
        out = subprocess.run([sys.executable, "-c", CODE, str(path), str(home), dataset], capture_output=True,
                             text=True, cwd=ROOT, check=True).stdout.split()
        secs, stored, total = float(out[0]), int(out[1]), int(out[2])
        times.append(secs)
        print(f"append {stored:,} events -> {total:,} stored: {secs:.2f} s "
              f"({'met' if secs < GOAL_S else f'missed by {secs - GOAL_S:.2f} s'})", flush=True)
    return times


def main() -> None:
    from journeys.engine.store import Store

    source = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "benchmarks" / "data" / "events_10m.parquet"
    home = Path(tempfile.mkdtemp(prefix="journeys-bench-"))
    started = time.perf_counter()
    with Store(home) as store:
        dataset = store.ingest(source).dataset_id
    print(f"ingest {source.name}: {time.perf_counter() - started:.1f} s")
    bench_append(home, dataset, runs=3)


if __name__ == "__main__":
    main()
