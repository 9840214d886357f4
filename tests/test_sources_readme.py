"""README's 'Several sources and stitching' workflow runs as written (the watch line looks once)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from journeys.bootstrap import load_sample_sources
from journeys.engine.store import Store

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent


def bootstrap_channels_line(home: Path) -> str:
    """The "2+ channels" line of the sample as ``make run`` loads it for the Data page."""
    with Store(home) as store:
        report = store.stitching(load_sample_sources(store).id)
        assert report is not None
        return next(line for line in report.lines() if line.startswith("Journeys spanning 2+ channels"))


def test_the_multi_source_workflow_runs_as_written(tmp_path):
    if not (VENV / "bin" / "journeys").exists():
        pytest.skip("not running inside the project's virtualenv")
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Several sources and stitching"):]
    (block,) = re.findall(r"```bash\n(.*?)```", section[:section.index("\n## ", 1)], flags=re.S)
    assert "journeys watch exports/ --into shop --interval 10s" in block
    block = block.replace("--interval 10s", "--interval 1s --once")
    assert "cd " not in block  # the store folder follows the working directory: run from the root, like make run
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    (tmp_path / "sample_data_exports").mkdir()
    script = f"set -e\nexport PATH={VENV / 'bin'}:$PATH\n" + block.replace(
        "journeys watch exports/", f"journeys watch {tmp_path / 'sample_data_exports'}")
    env = {k: v for k, v in os.environ.items() if k != "JOURNEYS_HOME"} | {"JOURNEYS_HOME": str(tmp_path / "home")}
    out = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "Persons: 13,322 before stitching, 11,323 after" in out.stdout
    # the same sources, names and channels as the dashboard's Sample shop: the same stitched figure
    channels = next(line for line in out.stdout.splitlines() if line.startswith("Journeys spanning 2+ channels"))
    assert channels == bootstrap_channels_line(tmp_path / "bootstrap")
    assert channels == "Journeys spanning 2+ channels: 27.4% unstitched, 41.4% stitched"
    # the same export again, deduplicated: skipped rows are not rejected rows
    assert "Rows read: 240; stored: 0; rejected: 0; already stored (skipped): 240" in out.stdout
    assert "Removed source 'store' (377 rows)" in out.stdout
    assert "Watching" in out.stdout
