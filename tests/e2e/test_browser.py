"""What a marketer does in the browser: upload and map, build a funnel, filter the Sankey, share a link,
download a table."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def settle(page: Page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_selector(DONE, timeout=60_000)


def open_page(page: Page, url: str) -> None:
    page.set_viewport_size({"width": 1400, "height": 2200})
    page.goto(url)
    settle(page)


def coverage(page: Page) -> str:
    return page.get_by_text(re.compile(r"^Covers [\d,]+ of [\d,]+ journeys")).inner_text()


def test_upload_a_csv_and_map_its_columns(page: Page, base_url: str, tmp_path: Path):
    export = tmp_path / "crm_export.csv"
    export.write_text("contact;event_time;action;region\n"
                      "0042;2024-05-01 09:00:00;newsletter;north\n0042;2024-05-01 09:03:00;visit;north\n"
                      "0043;2024-05-02 10:00:00;visit;south\n0043;later;buy;south\n")
    open_page(page, f"{base_url}/data")
    page.get_by_role("region", name="Event export").locator('input[type="file"]').set_input_files(  # not the identity file's
        str(export))
    settle(page)
    for role, column in (("customer", "contact"), ("timestamp", "event_time"), ("touchpoint", "action")):
        page.get_by_role("combobox", name=re.compile(f"^{role}")).click()
        page.get_by_role("option", name=column, exact=True).click()
        settle(page)
    page.get_by_role("button", name="Load dataset").click()
    settle(page)
    # this load's report (earlier loads' reports sit in collapsed expanders)
    shown = page.get_by_test_id("stText").filter(has_text="Rows read: 4; stored: 3; rejected: 1").first
    expect(shown).to_be_visible(timeout=20_000)
    report = shown.inner_text()
    assert "unparseable timestamp: 1 (e.g. row 4)" in report


def test_build_a_funnel(page: Page, base_url: str):
    open_page(page, f"{base_url}/funnels")
    expect(page.get_by_text("Entered", exact=True)).to_be_visible()
    steps = page.get_by_role("combobox", name="Step 2")
    steps.click()
    steps.press_sequentially("search")  # the option list is virtualised: type to bring it into view
    page.get_by_role("option", name="search", exact=True).click()
    page.keyboard.press("Escape")
    settle(page)
    assert "steps=product_view%2Cadd_to_cart%7Csearch" in page.url or "add_to_cart%7Csearch" in page.url
    expect(page.locator(".js-plotly-plot .bars path").first).to_be_visible(timeout=20_000)


def test_segment_filter_changes_the_sankey_and_link_reopens_it(page: Page, base_url: str, browser):
    open_page(page, base_url)
    page.wait_for_selector(".sankey .sankey-node", timeout=30_000)
    before = coverage(page)
    page.get_by_role("button", name="Add filter").first.click()
    picker = page.get_by_role("combobox", name="Touchpoints (any of)")
    picker.click()
    picker.press_sequentially("chat")
    page.get_by_role("option", name="chat", exact=True).click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Add", exact=True).click()
    settle(page)
    page.wait_for_selector(".sankey .sankey-node", timeout=30_000)
    after = coverage(page)
    for _ in range(60):  # a loaded machine may still be redrawing after the run reports done
        if after != before:
            break
        page.wait_for_timeout(500)
        after = coverage(page)
    assert after != before
    assert "seg=" in page.url
    page.get_by_role("button", name="Copy link").click()
    link = page.locator('[data-testid="stCode"] code').inner_text().strip()
    assert link.startswith(base_url) and "seg=" in link
    fresh = browser.new_context(viewport={"width": 1400, "height": 2200}).new_page()
    fresh.goto(link)
    fresh.wait_for_selector(DONE, timeout=60_000)
    fresh.wait_for_selector(".sankey .sankey-node", timeout=30_000)
    assert coverage(fresh) == after
    fresh.context.close()


def test_download_a_table(page: Page, base_url: str):
    open_page(page, f"{base_url}/graph")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").first.click()
    text = Path(info.value.path()).read_text()
    assert text.splitlines()[0].startswith("touchpoint,volume,entries,exits")
    assert len(text.splitlines()) > 5


def test_clicking_a_funnel_bar_drills_into_its_drop_off(page: Page, base_url: str):
    open_page(page, f"{base_url}/funnels")
    bars = page.locator(".js-plotly-plot .bars .point")
    expect(bars.nth(2)).to_be_visible(timeout=20_000)
    box = bars.nth(2).bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # Plotly's drag layer eats clicks
    settle(page)
    picked = page.get_by_role("combobox", name="Dropped after step")
    expect(picked).to_have_value(re.compile(r"^3\. checkout"), timeout=20_000)
    expect(page.get_by_text("What journeys that stopped after this step did next")).to_be_visible()
    expect(page.get_by_test_id("stText").filter(has_text="3. checkout")).to_be_visible()
