"""What a marketer sees: hostile names stay text on every page, a touchpoint keeps its Sankey colour
whatever the segment, and the funnel breakdown answers the per-step question on screen."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect

from journeys.segments import Filter, Segment
from tests.e2e.test_browser import DONE, open_page, settle

MD = "**md** [link](http://x)"
HTML = "<img src=x onerror=alert(1)>"
NAME = "**bold** <b>name</b>"


def sankey_colours(page: Page) -> dict[str, str]:
    page.wait_for_selector(".sankey .sankey-node", timeout=30_000)
    page.wait_for_timeout(500)
    return page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll('.sankey .sankey-node'))
        .map(n => [n.__data__.node.customdata[3] + '@' + n.__data__.node.customdata[0],
                   n.querySelector('.node-rect').style.fill]))""")


def test_a_touchpoint_keeps_its_colour_across_segments(page: Page, base_url: str):
    open_page(page, base_url)
    everyone = sankey_colours(page)
    mobile = Segment((Filter("attribute", ("mobile",), column="device"),))
    open_page(page, f"{base_url}/?seg={mobile.to_param()}")
    segment = sankey_colours(page)
    by_name = {}
    for key, colour in [*everyone.items(), *segment.items()]:
        by_name.setdefault(key.split("@")[0], set()).add(colour)
    assert len(by_name) >= 6
    assert all(len(colours) == 1 for colours in by_name.values()), by_name
    named = {n: c.pop() for n, c in by_name.items() if n not in ("Other", "(journey ends)")}
    assert len(set(named.values())) == len(named)  # different touchpoints, different colours
    titles = page.evaluate("() => Array.from(document.querySelectorAll('.annotation-text')).map(e => e.textContent)")
    assert [t for t in titles if t.startswith("step")] == [f"step {k}" for k in range(1, 6)]


def test_funnel_breakdown_shows_each_step_by_device(page: Page, base_url: str):
    open_page(page, f"{base_url}/funnels?steps=product_view,add_to_cart,checkout,purchase&bd=device")
    expect(page.get_by_text("Each step by device")).to_be_visible(timeout=20_000)
    gap = page.get_by_text(re.compile(r"^Biggest gap: ")).inner_text()
    assert re.match(r"Biggest gap: \S+ → \S+ converts \d+\.\d% for \w+ against \d+\.\d% for \w+\.", gap)
    page.wait_for_selector(".js-plotly-plot .legendtext", timeout=20_000)
    legend = page.evaluate("() => Array.from(document.querySelectorAll('.legendtext')).map(e => e.textContent)")
    assert {"mobile", "desktop"} <= set(legend)


@pytest.fixture(scope="module")
def hostile_dataset(browser, base_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    rows = ["customer_id,timestamp,touchpoint,device"]
    for c in range(60):
        events = ["home", MD, HTML, "purchase"] if c % 2 else ["home", MD, "checkout"]
        device = "[click](http://evil)" if c % 3 else "<b>desktop</b>"
        rows += [f'c{c},2025-01-{1 + c % 20:02d}T10:{k:02d}:00Z,"{e}","{device}"' for k, e in enumerate(events)]
    path = Path(tmp_path_factory.mktemp("hostile")) / "hostile.csv"
    path.write_text("\n".join(rows) + "\n")
    page = browser.new_context(viewport={"width": 1400, "height": 2200}).new_page()
    open_page(page, f"{base_url}/data")
    page.get_by_role("region", name="Event export").locator('input[type="file"]').set_input_files(  # not the identity file's
        str(path))
    settle(page)
    name = page.get_by_label("Dataset name")
    expect(name).to_be_visible(timeout=90_000)  # reading and mapping the upload is slow on a loaded machine
    name.fill(NAME)
    name.press("Enter")
    settle(page)
    page.get_by_role("button", name="Load dataset").click()
    settle(page)
    page.wait_for_selector(DONE, timeout=60_000)
    ds = parse_qs(urlparse(page.url).query)["ds"][0]
    page.context.close()
    return ds


@pytest.mark.parametrize("path", ["", "funnels?steps=home,**md**%20%5Blink%5D(http://x),purchase&bd=device",
                                  "journey_map", "graph", "compare?cmp=paths", "data"])
def test_hostile_names_are_text_on_every_page(page: Page, base_url: str, hostile_dataset: str, path: str):
    seg = Segment((Filter("did", (MD,)), Filter("attribute", ("[click](http://evil)",), column="device")))
    sep = "&" if "?" in path else "?"
    open_page(page, f"{base_url}/{path}{sep}ds={hostile_dataset}&seg={json.dumps(json.loads(seg.to_param()))}")
    page.wait_for_timeout(1500)  # charts draw after the run
    main = page.locator('[data-testid="stApp"]')
    assert main.locator('a[href="http://x"], a[href="http://evil"]').count() == 0
    assert main.locator("strong", has_text=re.compile(r"^(md|bold)$")).count() == 0
    assert main.locator("img[src='x']").count() == 0 and main.locator("b", has_text="desktop").count() == 0
    page.screenshot(path=f"/tmp/shots/hostile_{path.split('?')[0] or 'paths'}.png")
    body = main.inner_text()
    assert "**md**" in body or path == "data"
    picker = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
    assert NAME in (picker.inner_text() + " " + picker.locator("input").first.input_value())  # named literally


def test_stage_edits_pile_up_and_travel_in_the_link(page: Page, base_url: str, browser):
    """Two stage edits in a row (a person's double-click: two clicks 60 ms apart) both land, the caption counts them,
    the link carries both, and a new browser context opened on it shows them again."""
    open_page(page, f"{base_url}/journey_map?goal=purchase")
    page.get_by_text("Stages of each touchpoint (guessed").click()
    editor = page.locator('[data-testid="stDataFrame"]').first
    expect(editor).to_be_visible()
    expect(editor.locator('[role="row"]').nth(1)).to_be_attached()
    rows = [" ".join(r.split()) for r in editor.locator('[role="row"]').all_inner_texts()]

    def set_stage(touchpoint: str, stage: str) -> None:
        row = next(i for i, text in enumerate(rows) if text.startswith(touchpoint) and
                   text[len(touchpoint):].strip() in ("churn", "awareness", "consideration", "purchase", "retention",
                                                       "other"))
        box = editor.bounding_box()
        assert box is not None
        page.mouse.dblclick(box["x"] + box["width"] * 0.75, box["y"] + 35 * row + 17, delay=60)
        page.get_by_role("option", name=stage).first.click()
        settle(page)

    set_stage("chat", "purchase")
    set_stage("call_centre", "purchase")
    expect(page.get_by_text("Stages: 2 edited; the link keeps them.")).to_be_visible()
    stg = parse_qs(urlparse(page.url).query)["stg"]
    assert sorted(stg) == ["call_centre=purchase", "chat=purchase"]
    # away and back through the sidebar: Streamlit drops the editor's state, the edits stay
    page.get_by_role("link", name="Voice of the customer").click()
    settle(page)
    page.get_by_role("link", name="Journey map").click()
    settle(page)
    expect(page.get_by_text("Stages: 2 edited; the link keeps them.")).to_be_visible()
    assert sorted(parse_qs(urlparse(page.url).query)["stg"]) == ["call_centre=purchase", "chat=purchase"]
    other = browser.new_context().new_page()
    open_page(other, page.url)
    expect(other.get_by_text("Stages: 2 edited; the link keeps them.")).to_be_visible()
