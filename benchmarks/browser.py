"""Dashboard timing in a real browser: Playwright on Debian's Chromium against ``streamlit run``.

Times, in one fresh dashboard process (nothing cached): opening the Paths page until the Sankey is
drawn; changing its "Steps" input until the Sankey is redrawn with that many steps; and opening a
link that adds a segment, in a new tab, until its Sankey is drawn.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
               "--disable-background-networking", "--disable-component-update", "--no-first-run"]
DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
SANKEY = ".sankey .sankey-node"
TIMEOUT_MS = 180_000
STEP_TITLES = """() => document.querySelectorAll('.sankey .sankey-node').length > 0 &&
    Array.from(document.querySelectorAll('.annotation-text')).filter(e => e.textContent.startsWith('step')).length"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(home: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env={**os.environ, "JOURNEYS_HOME": home}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("streamlit did not start within 60 s")


def dashboard_times(home: str, dataset_id: str, segment_param: str) -> dict[str, float]:
    """Seconds for: first Sankey, Steps 5 -> 4 redraw, a segment link in a new tab."""
    from playwright.sync_api import sync_playwright

    proc, url = _serve(home)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 2200})
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            started = time.perf_counter()
            page.goto(f"{url}/?ds={dataset_id}")
            page.wait_for_selector(SANKEY, state="visible")
            first = time.perf_counter() - started
            page.wait_for_selector(DONE)
            steps = page.get_by_role("spinbutton", name="Steps")
            steps.fill("4")
            started = time.perf_counter()
            steps.press("Enter")
            page.wait_for_function(f"() => ({STEP_TITLES})() === 4")
            redraw = time.perf_counter() - started
            tab = context.new_page()
            tab.set_default_timeout(TIMEOUT_MS)
            started = time.perf_counter()
            tab.goto(f"{url}/?ds={dataset_id}&seg={quote(segment_param)}")
            tab.wait_for_selector(SANKEY, state="visible")
            segment = time.perf_counter() - started
            browser.close()
        return {"open": first, "steps": redraw, "segment": segment}
    finally:
        proc.terminate()
        proc.wait(20)
