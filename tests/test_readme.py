"""The README's command-line examples work as written after ``make run``: the read block while a process
holds the store as the dashboard does, the load block after it stopped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent
DASHBOARD = """
import sys
from journeys.bootstrap import ensure_sample
from journeys.engine.store import Store
s = Store()
ensure_sample(s)
print("serving", flush=True)
sys.stdin.read()
"""


def cli_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The command line"):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.S)


def run_block(block: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = "set -e\n" + "\n".join(line for line in block.splitlines() if not line.startswith("journeys serve"))
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, check=False)


def test_readme_cli_examples_run_as_written(tmp_path):
    if not (VENV / "bin" / "activate").exists() or not (VENV / "bin" / "journeys").exists():
        pytest.skip("not running inside the project's virtualenv")
    (tmp_path / "tests").symlink_to(ROOT / "tests")  # the examples load the repository's small test files
    (tmp_path / ".venv").symlink_to(VENV)
    env = {k: v for k, v in os.environ.items() if k != "JOURNEYS_HOME"}  # the default ./.journeys, as make run
    reads, writes = cli_blocks()
    dashboard = subprocess.Popen([sys.executable, "-c", DASHBOARD], cwd=tmp_path, env=env, text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert dashboard.stdout is not None and dashboard.stdout.readline().strip() == "serving"
        out = run_block(reads, tmp_path, env)
        assert out.returncode == 0, out.stderr
        assert out.stderr == "" and "Sample shop" in out.stdout and '"steps"' in out.stdout
    finally:
        dashboard.kill()
        dashboard.wait()
    out = run_block("source .venv/bin/activate\n" + writes, tmp_path, env)  # the same shell, dashboard stopped
    assert out.returncode == 0, out.stderr
    listed = run_block("source .venv/bin/activate\njourneys datasets", tmp_path, env).stdout
    assert [line.split()[1] for line in listed.splitlines()] == ["Sample", "shop", "ga4_slice", "ecom_slice", "clicks"]
