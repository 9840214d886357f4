"""The dashboard works offline: opening a page asks nothing of any host but the server itself."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page

DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def test_opening_the_paths_page_requests_only_the_server(page: Page, base_url: str):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.set_viewport_size({"width": 1400, "height": 2200})
    page.goto(base_url)
    page.wait_for_selector(".sankey .sankey-node", timeout=60_000)
    page.wait_for_selector(DONE, timeout=60_000)
    page.wait_for_timeout(1500)  # the favicon and icon fonts are asked for after the first run
    server = urlsplit(base_url).netloc
    assert len(requested) > 20  # the recording works: the app's own scripts were seen
    elsewhere = sorted({u for u in requested if not u.startswith(("data:", "blob:")) and urlsplit(u).netloc != server})
    assert elsewhere == []
