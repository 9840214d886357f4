"""Downloads as a person gets them: click the button in the real dashboard and read the file the browser
saved (AppTest never runs the ``data=`` callables of download buttons)."""

from __future__ import annotations

import csv
import io
import re
import struct
from pathlib import Path

from PIL import Image
from playwright.sync_api import Browser, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def open_paths(page: Page, base_url: str) -> None:
    page.set_viewport_size({"width": 1400, "height": 2200})
    page.goto(base_url)
    page.wait_for_selector(".sankey .sankey-node", timeout=60_000)
    page.wait_for_selector(DONE, timeout=60_000)


def download(page: Page, text: str | re.Pattern[str]) -> Path:
    """Click the first of Streamlit's download buttons showing ``text`` (not Plotly's own camera button,
    which draws the PNG in the page instead of asking the server)."""
    for attempt in range(2):  # a click that lands during a rerun is lost; on a loaded machine try once more
        page.wait_for_selector(DONE, timeout=60_000)
        try:
            with page.expect_download(timeout=60_000) as info:  # the first PNG also starts kaleido's Chromium
                page.get_by_test_id("stDownloadButton").filter(has_text=text).first.click()
            return Path(info.value.path())
        except PlaywrightTimeout:
            if attempt:
                raise
    raise AssertionError("unreachable")


def test_png_of_the_sankey_is_a_drawn_image(page: Page, base_url: str):
    open_paths(page, base_url)
    data = download(page, "PNG").read_bytes()
    assert data.startswith(PNG_MAGIC)
    width, height = struct.unpack(">II", data[16:24])
    assert width == 1400 and height > 200
    image = Image.open(io.BytesIO(data)).convert("RGB")
    colours = image.getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 50  # nodes, links and labels, not a blank canvas


def test_html_of_the_sankey_works_offline(page: Page, base_url: str, browser: Browser):
    open_paths(page, base_url)
    path = download(page, "HTML")
    html = path.read_text(encoding="utf-8")
    assert re.search(r"plotly\.js v\d", html) and len(html) > 1_000_000  # plotly.js inline, not a link to it
    assert not re.search(r"<script[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", html, re.IGNORECASE)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", html, re.IGNORECASE)
    # opened from disk with the network cut off, the file still draws the Sankey and asks for nothing
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    requested: list[str] = []
    context.route(re.compile(r"^(https?|wss?)://"), lambda route: (requested.append(route.request.url), route.abort()))
    offline = context.new_page()
    offline.goto(_as_html_file(path).as_uri())
    offline.wait_for_selector(".sankey .sankey-node", timeout=30_000)
    context.close()
    assert requested == []


def _as_html_file(path: Path) -> Path:
    """Playwright saves downloads under a random name without a suffix; a browser needs ``.html``."""
    target = path.parent / "chart.html"
    target.write_bytes(path.read_bytes())
    return target


def test_customer_ids_of_a_node_download_as_csv(page: Page, base_url: str):
    open_paths(page, base_url)
    button = page.get_by_test_id("stDownloadButton").filter(has_text=re.compile(r"Download [\d,]+ customer ids"))
    expected = int(re.search(r"([\d,]+) customer ids", button.first.inner_text()).group(1).replace(",", ""))
    rows = list(csv.reader(io.StringIO(download(page, re.compile(r"Download [\d,]+ customer ids")).read_text())))
    assert rows[0] == ["customer_id"]
    ids = [r[0] for r in rows[1:]]
    assert len(ids) == expected > 0 and len(set(ids)) == len(ids)
