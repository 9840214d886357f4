"""A real team server (`journeys serve --team`) in Chromium: anonymous visitors get the sign-in and no data,
user A's dataset is invisible to user B, B's link to it gets the no-access sentence, a viewer has no
customer-list download, and repeated wrong passwords are slowed down."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from journeys.auth import access, audit, users
from journeys.auth.access import NO_ACCESS
from journeys.engine.store import Store
from tests.e2e.conftest import ROOT, _free_port

DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
PW = "correct horse battery"
SAMPLE = ROOT / "sample_data" / "shop_events.csv"


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`journeys serve --team` on a free port over a store with A's and B's datasets and three users."""
    home = tmp_path_factory.mktemp("teamserver")
    env = {**os.environ, "JOURNEYS_HOME": str(home / "store"), "JOURNEYS_KEY_DIR": str(home / "keys")}
    saved = {k: os.environ.get(k) for k in ("JOURNEYS_HOME", "JOURNEYS_KEY_DIR")}
    os.environ.update(JOURNEYS_HOME=env["JOURNEYS_HOME"], JOURNEYS_KEY_DIR=env["JOURNEYS_KEY_DIR"])
    try:
        store = Store()
        a = store.ingest(SAMPLE, name="A private shop").dataset_id
        b = store.ingest(SAMPLE, name="B shared shop").dataset_id
        store.close()
        users.add_user("ann", "analyst", PW)
        users.add_user("bob", "viewer", PW)
        users.add_user("root", "admin", PW)
        access.set_access(a, owner="ann")
        access.set_access(b, owner="ann", add=["bob"])
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "journeys", "serve", "--team", "--port", str(port),
                             "--address", "127.0.0.1"], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        os.killpg(proc.pid, signal.SIGTERM)
        pytest.fail("journeys serve --team did not start within 60 s")
    yield {"url": url, "a": a, "b": b, "home": env["JOURNEYS_HOME"]}
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(10)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    yield context.new_page()
    context.close()


def sign_in(page: Page, name: str, password: str) -> None:
    page.wait_for_selector(DONE, timeout=60_000)
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_timeout(300)
    page.wait_for_selector(DONE, timeout=60_000)


def dataset_options(page: Page) -> list[str]:
    page.get_by_role("combobox", name=re.compile("^Dataset")).first.click()
    options = [o.inner_text() for o in page.get_by_role("option").all()]
    page.keyboard.press("Escape")
    return options


def test_anonymous_visitor_gets_the_sign_in_and_no_data(page: Page, team):
    page.goto(f"{team['url']}/?ds={team['a']}")
    expect(page.get_by_role("heading", name="Sign in to journeys")).to_be_visible(timeout=60_000)
    page.wait_for_selector(DONE, timeout=60_000)
    body = page.inner_text("body")
    assert "A private shop" not in body and "B shared shop" not in body and "product_view" not in body
    assert page.locator(".sankey").count() == 0 and page.get_by_role("combobox").count() == 0


def test_a_dataset_of_user_a_is_invisible_to_user_b(page: Page, team):
    page.goto(team["url"])
    sign_in(page, "bob", PW)
    page.wait_for_selector(".sankey .sankey-node", timeout=60_000)
    assert "Signed in as bob (viewer)" in page.get_by_test_id("stSidebar").inner_text()
    assert [o.split(" ·")[0] for o in dataset_options(page)] == ["B shared shop"]
    page.goto(team["url"])  # and A sees it (A owns both)
    sign_in(page, "ann", PW)
    assert [o.split(" ·")[0] for o in dataset_options(page)] == ["A private shop", "B shared shop"]


def test_link_to_a_dataset_without_access_says_so(page: Page, team):
    for ds in (team["a"], "0123456789abcdef"):  # A's dataset, and one that does not exist: the same sentence
        page.goto(f"{team['url']}/?ds={ds}")
        sign_in(page, "bob", PW)
        expect(page.get_by_text(f"{NO_ACCESS} Showing 'B shared shop' instead.")).to_be_visible(timeout=30_000)
        assert "A private shop" not in page.inner_text("body")


def test_viewer_has_no_customer_list_download(page: Page, team):
    page.goto(f"{team['url']}/?ds={team['b']}")
    sign_in(page, "bob", PW)
    page.wait_for_selector(".sankey .sankey-node", timeout=60_000)
    expect(page.get_by_text("Your role (viewer) cannot download customer lists.")).to_be_visible(timeout=30_000)
    assert page.get_by_test_id("stDownloadButton").filter(has_text="customer ids").count() == 0
    page.goto(f"{team['url']}/?ds={team['b']}")  # an analyst has it, and the download is in the audit log
    sign_in(page, "ann", PW)
    button = page.get_by_test_id("stDownloadButton").filter(has_text="customer ids")
    expect(button).to_be_visible(timeout=60_000)
    page.wait_for_selector(DONE, timeout=60_000)
    with page.expect_download(timeout=60_000) as saved:
        button.first.click()
    rows = Path(saved.value.path()).read_text().splitlines()
    assert rows[0] == "customer_id" and len(rows) > 1
    # the audit entry is written by the click's rerun, a moment after the file arrives
    for _ in range(100):
        logged = audit.entries(user="ann", action="download_customers", home=team["home"])
        if logged:
            break
        page.wait_for_timeout(100)
    entry = logged[0]
    assert entry.detail == {"rows": len(rows) - 1, "dataset": team["b"]} and entry.target.endswith(".csv")


def test_repeated_wrong_passwords_are_slowed_down(page: Page, team):
    page.goto(team["url"])
    for _ in range(users.ratelimit.FREE_FAILURES["user"]):
        sign_in(page, "root", "not the password")
        expect(page.get_by_text("Wrong user name or password.")).to_be_visible()
    slowed = page.get_by_text(re.compile(r"Too many wrong passwords: try again in \d+ s\."))
    for _ in range(3):  # each failure doubles the wait (2, 4, 8 s); a slow round trip may outlast the first
        sign_in(page, "root", "not the password")
        if slowed.count():
            break
    expect(slowed).to_be_visible()
    wait = int(re.search(r"in (\d+) s", slowed.inner_text()).group(1))
    page.wait_for_timeout(wait * 1000 + 500)
    sign_in(page, "root", PW)
    expect(page.get_by_text("Signed in as root (admin)")).to_be_visible(timeout=30_000)
