"""How long a person waits for the first chart: seconds from ``page.goto`` to a drawn Sankey node on the
Paths page, in Debian's Chromium, against a real ``streamlit run`` on the bundled sample.

A script, not a test (timings on shared machines are too noisy to assert on). It prints:

- *very first*: the first browser session after the server answers its health check;
- *fresh session*: later sessions, each in a new browser context (empty HTTP cache, like a new visitor);
- *same browser*: later sessions in one context (a returning visitor; scripts come from the cache).

    .venv/bin/python -m tests.e2e.first_view --sessions 7
    .venv/bin/python -m tests.e2e.first_view --warm           # as `make run`: warmed before the first visit
    .venv/bin/python -m tests.e2e.first_view --no-bootstrap   # the sample is loaded by the first session
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from journeys.bootstrap import warm

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--disable-background-networking", "--disable-component-update", "--no-first-run"]
SANKEY = ".sankey .sankey-node"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("streamlit did not answer its health check within 60 s")


def time_first_chart(browser: Browser, url: str, *, context: object = None) -> float:
    """Seconds from goto to a visible Sankey node, in ``context`` or in a new one."""
    ctx = context or browser.new_context(viewport={"width": 1400, "height": 2200})
    page = ctx.new_page()  # type: ignore[attr-defined]
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(SANKEY, timeout=120_000)
    took = time.perf_counter() - start
    page.close()
    if context is None:
        ctx.close()  # type: ignore[attr-defined]
    return took


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=5, help="fresh sessions after the very first (default 5)")
    ap.add_argument("--no-bootstrap", action="store_true", help="do not load the sample before the server starts")
    ap.add_argument("--warm", action="store_true", help="warm the server as `make run` does, then visit")
    ap.add_argument("--wait", type=float, default=0.0, help="seconds between the health check and the first visit")
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout to serve (default: this one)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="first-view-") as home:
        env = {**os.environ, "JOURNEYS_HOME": home}
        if not args.no_bootstrap:
            subprocess.run([sys.executable, "-m", "journeys.bootstrap"], cwd=args.root, env=env, check=True,
                           stdout=subprocess.DEVNULL)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=args.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_healthy(url)
            print(f"server healthy after {time.perf_counter() - started:.2f} s")
            if args.warm:
                print(warm(url))
            time.sleep(args.wait)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                print(f"very first: {time_first_chart(browser, url):.2f} s")
                fresh = [time_first_chart(browser, url) for _ in range(args.sessions)]
                ctx = browser.new_context(viewport={"width": 1400, "height": 2200})
                time_first_chart(browser, url, context=ctx)  # fills this context's cache
                same = [time_first_chart(browser, url, context=ctx) for _ in range(args.sessions)]
                browser.close()
        finally:
            server.terminate()
            server.wait(10)
    print(f"fresh session: median {statistics.median(fresh):.2f} s  ({', '.join(f'{t:.2f}' for t in fresh)})")
    print(f"same browser:  median {statistics.median(same):.2f} s  ({', '.join(f'{t:.2f}' for t in same)})")


if __name__ == "__main__":
    main()
