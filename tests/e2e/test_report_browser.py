"""The HTML report opens offline in Chromium, its charts are drawn, and its numbers are the CLI's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JOURNEYS_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "journeys", *args], capture_output=True, text=True, env=env,
                          check=False, cwd=ROOT)


def test_report_opens_offline_and_matches_the_cli(page, tmp_path):
    home = tmp_path / "home"
    assert cli("ingest", str(ROOT / "sample_data" / "shop_events.csv"), "--name", "shop", home=home).returncode == 0
    out = cli("report", "shop", "--goal", "purchase", "--out", str(tmp_path / "report.html"), "--format", "json", home=home)
    assert out.returncode == 0, out.stderr
    steps = json.loads(out.stdout)["figures"]["funnel.steps"]
    funnel = json.loads(cli("funnel", "shop", "--goal", "purchase", "--steps", ",".join(steps), "--format", "json",
                            home=home).stdout)["steps"]

    remote: list[str] = []
    page.on("request", lambda r: remote.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    page.goto((tmp_path / "report.html").as_uri())
    cells = page.locator("#funnel table").first.locator("tbody tr").first.locator("td")
    assert cells.nth(0).inner_text() == steps[0]
    assert cells.nth(1).inner_text() == f"{funnel[0]['customers']:,}"
    last = page.locator("#funnel table").first.locator("tbody tr").last.locator("td")
    assert last.nth(2).inner_text() == f"{funnel[-1]['conversion_from_start']:.1%}"
    images = page.locator("figure img")
    assert images.count() >= 3
    assert all(images.nth(k).evaluate("i => i.complete && i.naturalWidth > 0") for k in range(images.count()))
    assert remote == []  # nothing fetched from a network: the file is self-contained
