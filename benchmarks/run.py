"""``make bench``: ingest time and peak memory (1M and 10M events, Parquet and CSV), and every default
analysis on the 10M dataset against a straightforward pandas implementation of the same job.

Prints medians of several runs and ratios measured in the same run. Not a test: machines are noisy.
Set BENCH_SIZES=1m to skip the 10M rows (CI-friendly), BENCH_RUNS to change repetitions.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
SIZES = {"1m": 1_000_000, "10m": 10_000_000}
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
FUNNEL_STEPS = ("product_view", "add_to_cart", "checkout", "purchase")


def ensure_file(label: str, fmt: str) -> Path:
    path = DATA / f"events_{label}.{fmt}"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "journeys", "sample", "--events", str(SIZES[label]), "--out", str(path)],
                       check=True, cwd=ROOT)
    return path


def ingest_once(path: Path, home: Path) -> tuple[float, float]:
    """Wall seconds of the load itself and peak RSS (GB) of a fresh process doing it."""
    code = ("import sys,time; from journeys.engine.store import Store; s=Store(sys.argv[2]); t=time.perf_counter(); "
            "s.ingest(sys.argv[1]); print(time.perf_counter()-t)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path), str(home)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, rusage = os.wait4(proc.pid, 0)  # reap it ourselves to get this child's own peak RSS
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"ingest of {path} failed")
    return float(out.strip().splitlines()[-1]), rusage.ru_maxrss / 1024 / 1024


def median_time(fn: Callable[[], object], runs: int = RUNS) -> float:
    fn()  # warm-up: first run pays for imports and file cache
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_ingest(labels: list[str]) -> str | None:
    print("\n## Ingest (fresh process per load; peak = max RSS of that process)")
    print(f"{'file':<28}{'median s':>10}{'peak GB':>10}")
    last_home = None
    for label in labels:
        for fmt in ("parquet", "csv"):
            path = ensure_file(label, fmt)
            results = []
            for _ in range(RUNS if label == "1m" else max(1, RUNS - 1)):
                home = Path(tempfile.mkdtemp(prefix="journeys-bench-"))
                results.append(ingest_once(path, home))
                if fmt == "parquet":
                    last_home = str(home)
            secs = statistics.median(r[0] for r in results)
            peak = max(r[1] for r in results)
            print(f"{path.name:<28}{secs:>10.2f}{peak:>10.2f}")
    return last_home


def bench_analyses(home: str) -> None:
    from benchmarks import pandas_baseline as pb
    from journeys.analyses.base import journeys_for
    from journeys.analyses.funnels import FunnelQuery, compute_funnel
    from journeys.analyses.paths import PathQuery, compute_paths
    from journeys.analyses.transitions import compute_transitions
    from journeys.engine.store import Store
    from journeys.segments import Filter, Segment
    from journeys.shaping import Shaping

    store = Store(home)
    info = store.datasets()[-1]
    table = store.table(info.id)
    segment = Segment((Filter("attribute", ("mobile",), column="device"), Filter("did", ("add_to_cart",))))
    funnel = FunnelQuery(steps=tuple((s,) for s in FUNNEL_STEPS))
    jobs: dict[str, Callable[[object], object]] = {
        "transition graph": lambda j: compute_transitions(j),
        "5-step Sankey": lambda j: compute_paths(j, PathQuery()),
        "4-step funnel, 7 d": lambda j: compute_funnel(j, funnel),
    }
    print(f"\n## Analyses on {info.rows:,} stored events, segment: {segment.describe()}")
    frame = store.cursor().sql(f"SELECT customer_id, ts, seq, touchpoint, device FROM {info.table_name}").to_arrow_table().to_pandas()
    frame = frame.astype({"touchpoint": "category", "device": "category"})
    print(f"{'job':<22}{'shaping':<22}{'journeys s':>12}{'pandas s':>10}{'ratio':>8}")
    for shaping_name, shaping in (("default", Shaping()), ("sessions + collapse", Shaping(scope="session", collapse_repeats=True))):
        for name, job in jobs.items():
            ours = median_time(lambda job=job, shaping=shaping: job(journeys_for(table, shaping, segment)))
            base = median_time(lambda name=name, shaping_name=shaping_name: pb.run(
                name, frame, sessions=shaping_name != "default", steps=FUNNEL_STEPS), runs=max(1, RUNS - 1))
            print(f"{name:<22}{shaping_name:<22}{ours:>12.2f}{base:>10.2f}{base / ours:>7.1f}x", flush=True)


def main() -> None:
    labels = [x for x in os.environ.get("BENCH_SIZES", "1m,10m").split(",") if x]
    print(f"journeys benchmark: {os.cpu_count()} cores, runs per figure: {RUNS}")
    home = bench_ingest(labels)
    if home:
        bench_analyses(home)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
