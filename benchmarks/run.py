"""``make bench``: what issue 8 asks the bench to print, in one run.

The machine; ingest of the events file (Parquet and CSV: wall time, peak memory of a fresh process);
every default analysis in three settings (no segment, a segment, sessions + collapsed repeats) next to
the same job done by three peers in the same run (hand-written DuckDB SQL on the Parquet file, polars,
pandas), with ratios and the issue's targets; the dashboard timed in a real browser. Medians of
BENCH_RUNS runs after a warm-up. Not a test: machines are noisy.

Knobs: BENCH_SIZES (default "10m"; "1m" for a quick run), BENCH_RUNS (3), BENCH_PEERS (default
"duckdb,polars,pandas"; "none" skips them), BENCH_BROWSER=0 skips the browser, BENCH_100M=1 adds 100M events.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import jobs  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
SIZES = {"1m": 1_000_000, "10m": 10_000_000, "100m": 100_000_000}
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
#: peers take 5-30 s a run on 10M events; the peer check (or the pandas load) has already warmed them up
PEER_RUNS = max(1, RUNS - 1)
PEER_NAMES = {"duckdb": "DuckDB SQL", "polars": "polars", "pandas": "pandas"}
INGEST_GOALS = {"parquet": 10.0, "csv": 20.0}
PEAK_GOAL_GB = 3.0
BROWSER_GOALS = {"open": 3.0, "steps": 1.5, "segment": 1.5}
HOMES: list[Path] = []


def goal_text(seconds: float, target: float, unit: str = "s") -> str:
    return "met" if seconds < target else f"missed by {seconds - target:.2f} {unit}"


def ensure_file(label: str, fmt: str) -> Path:
    path = DATA / f"events_{label}.{fmt}"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        print(f"(generating {path.name} ...)", flush=True)
        partial = path.with_name(f"partial_{path.name}")  # an interrupted run leaves no file that looks whole
        subprocess.run([sys.executable, "-m", "journeys", "sample", "--events", str(SIZES[label]), "--seed", "7",
                        "--out", str(partial)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        partial.rename(path)
    return path


def new_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="journeys-bench-"))
    HOMES.append(home)
    return home


def ingest_once(path: Path, home: Path) -> tuple[float, float, str]:
    """Wall seconds of the load itself, peak RSS (GB) of a fresh process doing it, and the dataset id."""
    code = ("import sys,time; from journeys.engine.store import Store; s=Store(sys.argv[2]); t=time.perf_counter(); "
            "r=s.ingest(sys.argv[1]); print(time.perf_counter()-t, r.dataset_id)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path), str(home)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, rusage = os.wait4(proc.pid, 0)  # reap it ourselves to get this child's own peak RSS
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"ingest of {path} failed")
    secs, dataset = out.strip().splitlines()[-1].split()
    return float(secs), rusage.ru_maxrss / 1024 / 1024, dataset


def median_time(fn: Callable[[], object], runs: int = RUNS, *, warm_up: bool = True) -> float:
    if warm_up:
        fn()  # the first run pays for imports, file cache and plan caches
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def machine_line() -> str:
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())  # other work on the machine skews every figure
    return (f"machine: {os.cpu_count()} cores, {ram:.1f} GB RAM, load average {load} (1/5/15 min); "
            f"runs per figure: {RUNS} (median, after a warm-up)")


def bench_ingest(label: str) -> tuple[Path, str]:
    """Ingest table for one size; returns the store (and dataset id) of the first Parquet load."""
    print(f"\n## Ingest {SIZES[label]:,} events (fresh process per load; peak = max RSS of that process)")
    print(f"{'file':<24}{'median s':>10}{'peak GB':>10}   goal (10M events: < 10 s Parquet, < 20 s CSV, < 3 GB)")
    kept: tuple[Path, str] | None = None
    for fmt in ("parquet", "csv"):
        path = ensure_file(label, fmt)
        results = []
        for _ in range(RUNS if label == "1m" else max(1, RUNS - 1)):
            home = new_home()
            secs, peak, dataset = ingest_once(path, home)
            results.append((secs, peak))
            if fmt == "parquet" and kept is None:
                kept = (home, dataset)
            else:
                shutil.rmtree(home, ignore_errors=True)
        secs = statistics.median(r[0] for r in results)
        peak = max(r[1] for r in results)
        goal = f"time {goal_text(secs, INGEST_GOALS[fmt])}; peak {goal_text(peak, PEAK_GOAL_GB, 'GB')}"
        print(f"{path.name:<24}{secs:>10.2f}{peak:>10.2f}   {goal}", flush=True)
    assert kept is not None
    return kept


def peers_wanted() -> list[str]:
    raw = os.environ.get("BENCH_PEERS", ",".join(PEER_NAMES)).strip().lower()
    if raw in ("", "none", "0"):
        return []
    wanted = [p.strip() for p in raw.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in PEER_NAMES]
    if unknown:
        raise SystemExit(f"BENCH_PEERS: unknown peer {unknown[0]!r}; choose from {', '.join(PEER_NAMES)} or none")
    return wanted


def peer_runners(names: list[str], parquet: Path) -> dict[str, Callable[[str, str, Any], Any]]:
    """name -> run(job, setting, stages). pandas reads the file into memory once (timed and printed apart)."""
    from benchmarks import duckdb_sql, pandas_baseline, polars_baseline

    out: dict[str, Callable[[str, str, Any], Any]] = {}
    for name in names:
        if name == "duckdb":
            out[name] = lambda job, setting, stages: duckdb_sql.run(job, setting, parquet, stages)
        elif name == "polars":
            out[name] = lambda job, setting, stages: polars_baseline.run(job, setting, parquet, stages)
        else:
            started = time.perf_counter()
            frame = pandas_baseline.load(parquet)
            print(f"(pandas: {parquet.name} read into memory in {time.perf_counter() - started:.1f} s, not counted below)",
                  flush=True)
            out[name] = lambda job, setting, stages, frame=frame: pandas_baseline.run(job, setting, frame, stages)
    return out


def open_table(home: Path, dataset: str) -> tuple[Any, Any, tuple[tuple[str, str], ...]]:
    from journeys.analyses.base import known_touchpoints
    from journeys.analyses.journey_map import infer_stages
    from journeys.engine.store import Store

    store = Store(home)
    table = store.table(dataset)
    return store, table, infer_stages(known_touchpoints(table))


def peer_check(names: list[str], home_1m: tuple[Path, str] | None) -> None:
    """Every peer's counts against ours, once, on the 1M file."""
    if not names:
        return
    parquet = ensure_file("1m", "parquet")
    if home_1m is None:
        home = new_home()
        home_1m = (home, ingest_once(parquet, home)[2])
    store, table, stages = open_table(*home_1m)
    runners = peer_runners(names, parquet)
    problems = []
    for setting in jobs.SETTINGS:
        for job in jobs.JOBS:
            want = jobs.counts_of(job, jobs.ours(table, setting, job, stages))
            for name, run in runners.items():
                problems += [f"{PEER_NAMES[name]}: {p}" for p in
                             jobs.compare(want, run(job, setting, stages), f"{job} ({setting})")]
    store.close()
    print(f"\npeer check: {'ok' if not problems else 'MISMATCH'} ({len(runners)} peers x "
          f"{len(jobs.SETTINGS) * len(jobs.JOBS)} jobs on 1M events, their counts against journeys')")
    for p in problems:
        print(f"  {p}")


def bench_analyses(home: Path, dataset: str, label: str, names: list[str]) -> None:
    from journeys.analyses import summary
    from journeys.engine import derived

    store, table, stages = open_table(home, dataset)
    started = time.perf_counter()
    summary.prepare(table)  # what the dashboard does in the background after each load
    print(f"\ndefault views prepared after the load (journey summaries, moves, tails, weekly activity, drivers' "
          f"occurrences and items, attribution's sequences; `journeys ingest` does it before it returns, the "
          f"dashboard in the background): {time.perf_counter() - started:.1f} s")
    derived.LAST_BUILT.clear()
    runners = peer_runners(names, ensure_file(label, "parquet"))
    print(f"\n## Analyses on {SIZES[label]:,} events: seconds, ratio = peer s / journeys s")
    about = f"journeys: the stored dataset, median of {RUNS} after a warm-up."
    if runners:
        about += (f" Peers, median of {PEER_RUNS}: DuckDB SQL on a fresh connection reading the Parquet file, polars"
                  " scanning it, pandas on the frame in memory.")
    print(about)
    head = f"{'analysis':<20}{'setting':<21}{'journeys':>9}"
    head += "".join(f"{PEER_NAMES[n]:>12}{'ratio':>7}" for n in runners)
    print(head + "   goal")
    for setting in jobs.SETTINGS:
        for job, job_label in jobs.JOBS.items():
            ours = median_time(lambda job=job, setting=setting: jobs.ours(table, setting, job, stages))
            line = f"{job_label:<20}{jobs.SETTINGS[setting]:<21}{ours:>9.2f}"
            for run in runners.values():
                peer = median_time(lambda run=run, job=job, setting=setting: run(job, setting, stages),
                                   PEER_RUNS, warm_up=False)
                line += f"{peer:>12.2f}{peer / ours:>6.1f}x"
            target = jobs.goal_for(setting, job)
            print(f"{line}   < {target:g} s: {goal_text(ours, target)}", flush=True)
            if derived.LAST_BUILT:  # the warm-up built derived tables that every later analysis and segment reads
                made = ", ".join(f"{'reshaped journeys' if b.holds.startswith('Shaping(') else b.holds} {b.seconds:.1f} s"
                                 for b in derived.LAST_BUILT)
                print(f"  (built once, during this job's warm-up, and kept in the store: {made})", flush=True)
            derived.LAST_BUILT.clear()
    for job, (job_label, target) in jobs.OWN_JOBS.items():  # no peer computes these
        ours = median_time(lambda job=job: jobs.own_job(table, job, store.get(dataset)))
        print(f"{job_label:<41}{ours:>9.2f}   < {target:g} s: {goal_text(ours, target)}", flush=True)
    store.close()
    del runners


def bench_browser(home: Path, dataset: str) -> None:
    from benchmarks.browser import CHROMIUM, dashboard_times
    from journeys.bootstrap import ensure_sample
    from journeys.engine.store import Store
    from journeys.segments import Filter, Segment

    print("\n## Dashboard in Chromium (fresh `streamlit run`, nothing cached)")
    if not Path(CHROMIUM).exists():
        print(f"skipped: no Chromium at {CHROMIUM} (apt-get install chromium)")
        return
    store = Store(home)
    ensure_sample(store)  # the dashboard loads the sample into an empty store: do it before the clock starts
    store.close()
    segment = Segment((Filter("attribute", (jobs.SEGMENT_DEVICE,), column="device"), Filter("did", (jobs.SEGMENT_DID,))))
    times = dashboard_times(str(home), dataset, segment.to_param())
    rows = (("open", "Paths page opened until the Sankey is drawn"),
            ("steps", "Paths 'Steps' 5 -> 4 until the Sankey is redrawn"),
            ("segment", "segment link (mobile + did cart) in a new tab until drawn"))
    for key, what in rows:
        print(f"{what:<60}{times[key]:>7.2f} s   < {BROWSER_GOALS[key]:g} s: {goal_text(times[key], BROWSER_GOALS[key])}")


def bench_100m() -> None:
    from journeys.engine.store import DEFAULT_MEMORY_LIMIT, analysis_memory_limit

    limit = os.environ.get("JOURNEYS_MEMORY_LIMIT") or (f"{DEFAULT_MEMORY_LIMIT} for the load, "
                                                      f"{analysis_memory_limit()} for analyses (defaults)")
    print(f"\n## 100M events (each default analysis once, no segment; engine memory limit {limit})")
    path = ensure_file("100m", "parquet")
    home = new_home()
    secs, peak, dataset = ingest_once(path, home)
    print(f"ingest {path.name}: {secs:.1f} s, peak {peak:.2f} GB", flush=True)
    store, table, stages = open_table(home, dataset)
    for job, job_label in jobs.JOBS.items():
        started = time.perf_counter()
        try:
            jobs.ours(table, "plain", job, stages)
        except Exception as err:  # e.g. out of memory: say so and go on with the next analysis
            first_line = str(err).strip().splitlines()[0]
            print(f"{job_label:<20} failed after {time.perf_counter() - started:.1f} s: {first_line}", flush=True)
            continue
        print(f"{job_label:<20}{time.perf_counter() - started:>9.2f} s", flush=True)
    # the later issues' analyses, once each (the bootstrap bands and the predict model are left to the 10M bench)
    for job, (job_label, _target) in jobs.OWN_JOBS.items():
        if job in ("attribution_bands", "predict_train", "predict_score"):
            continue
        started = time.perf_counter()
        try:
            jobs.own_job(table, job, store.get(dataset))
        except Exception as err:  # e.g. out of memory: say so and go on with the next analysis
            first_line = str(err).strip().splitlines()[0]
            print(f"{job_label:<41} failed after {time.perf_counter() - started:.1f} s: {first_line}", flush=True)
            continue
        print(f"{job_label:<41}{time.perf_counter() - started:>9.2f} s", flush=True)
    store.close()


def main() -> None:
    labels = [x.strip() for x in os.environ.get("BENCH_SIZES", "10m").split(",") if x.strip()]
    unknown = [x for x in labels if x not in ("1m", "10m")]
    if unknown:
        raise SystemExit(f"BENCH_SIZES: unknown size {unknown[0]!r}; use 1m and/or 10m (BENCH_100M=1 adds 100m)")
    names = peers_wanted()
    print(machine_line(), flush=True)
    try:
        stores = {label: bench_ingest(label) for label in labels}
        peer_check(names, stores.get("1m"))
        for label, (home, dataset) in stores.items():
            bench_analyses(home, dataset, label, names)
        if os.environ.get("BENCH_BROWSER", "1") != "0":
            bench_browser(*stores[labels[-1]])
        from benchmarks.append import bench_append

        bench_append(*stores[labels[-1]])  # issue 9: 100k events appended to the stored dataset
        from benchmarks.sentiment import main as bench_sentiment

        bench_sentiment()  # issue 13: sentiment r and sign agreement against human ratings; its cost on 1M texts
        if os.environ.get("BENCH_100M") == "1":
            bench_100m()
        print(f"\nload average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        for home in HOMES:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
