"""Append is atomic: a process killed with SIGKILL in the middle of an append leaves the dataset exactly
as it was before."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from journeys import sample
from journeys.engine.store import Store

SCRIPT = textwrap.dedent("""
    import sys
    from journeys.engine.store import Store
    store = Store(sys.argv[1])
    store.ingest(sys.argv[2], into="shop", progress=lambda f, m: print(m, flush=True))
    print("committed", flush=True)
""")


def content(home: Path) -> tuple[str, list[tuple[object, ...]], list[tuple[object, ...]]]:
    with Store(home, read_only=True) as store:
        info = store.get("shop")
        rows = store.cursor().execute(f"SELECT * FROM ev_{info.id} ORDER BY customer_id, step").fetchall()
        meta = store.cursor().execute("SELECT name, rows, reports FROM sources ORDER BY source_no").fetchall()
        return hashlib.sha256(repr(rows).encode()).hexdigest() + info.fingerprint, meta, [(info.rows,)]


def test_kill_9_during_an_append_leaves_the_dataset_as_it_was(tmp_path):
    home = tmp_path / "home"
    chunks = sample.generate_chunks(400_000, seed=9, chunk=200_000)
    first, second = next(chunks), next(chunks)
    sample.write(first, tmp_path / "first.csv")
    sample.write(second, tmp_path / "second.parquet")
    with Store(home) as store:
        store.ingest(tmp_path / "first.csv", name="shop")
    before = content(home)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(home), str(tmp_path / "second.parquet")],
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "Ordering journeys":  # staged, now writing the dataset's tables
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert content(home) == before
    with Store(home) as store:  # and it still takes the append afterwards
        report = store.ingest(tmp_path / "second.parquet", into="shop")
        assert store.get("shop").rows == 200_000 + report.rows_stored
