"""User strings (touchpoints, attribute values, dataset names) are shown literally on every page: Markdown
and HTML in them never render, and very long ones do not break a page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from journeys.segments import Filter, Segment
from tests.app.conftest import _store, app

MD = "**md** [link](http://x)"
HTML = "<script>alert(1)</script>"
LONG = "very_long_touchpoint_" + "x" * 300
NAME = "**bold name** <b>x</b>"
# Markdown that would render if a string went to st.markdown unescaped
LIVE_MARKDOWN = re.compile(r"(?<!\\)\*\*md(?<!\\)\*\*|(?<!\\)\[link(?<!\\)\]|(?<!\\)\*\*bold name"
                           r"|https?\\?:")  # an address Markdown would make a link (md() breaks it with a word joiner)
MARKDOWN_KINDS = ("markdown", "caption", "subheader", "title", "header", "info", "warning", "error", "success")


@pytest.fixture(scope="module")
def hostile_id(sample_id: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    rows = ["customer,time,event,device"]
    for c in range(40):
        device = "[click](http://evil)" if c % 2 else "**desktop**"
        events = ["home", MD, HTML, LONG, "purchase"] if c % 3 else ["home", MD, "checkout"]
        rows += [f"c{c},2025-01-{1 + c % 20:02d} 10:{k:02d}:00,\"{e}\",\"{device}\"" for k, e in enumerate(events)]
    path = Path(tmp_path_factory.mktemp("hostile")) / "hostile.csv"
    path.write_text("\n".join(rows) + "\n")
    from journeys.schema import ColumnMapping

    report = _store().ingest(path, mapping=ColumnMapping(customer="customer", timestamp="time", touchpoint="event"),
                             name=NAME)
    return report.dataset_id


def _markdown_texts(at) -> list[str]:
    out = [str(e.value) for kind in MARKDOWN_KINDS for e in getattr(at, kind)]
    out += [str(w.label) for kind in ("button", "selectbox", "multiselect", "radio", "checkbox", "toggle")
            for w in getattr(at, kind)]
    return out


PAGES = [
    ("screens/paths.py", {}),
    ("screens/paths.py", {"anchor": "from", "start": MD}),
    ("screens/funnels.py", {"steps": f"home,{MD},purchase", "bd": "device"}),
    ("screens/journey_map.py", {}),
    ("screens/graph.py", {}),
    ("screens/compare.py", {"cmp": "paths"}),
    ("screens/data.py", {}),
]


@pytest.mark.parametrize(("page", "params"), PAGES, ids=[f"{p}-{i}" for i, (p, _) in enumerate(PAGES)])
def test_hostile_strings_never_render(hostile_id, page, params):
    seg = Segment((Filter("attribute", ("[click](http://evil)",), column="device"), Filter("did", (MD,))))
    at = app(page, ds=hostile_id, seg=seg.to_param(), **params)
    assert not at.exception
    live = [t for t in _markdown_texts(at) if LIVE_MARKDOWN.search(t) or "<script>" in t or "<b>" in t]
    assert live == []
    shown = " ".join(str(e.value) for e in at.text) + " ".join(_markdown_texts(at)).replace("\\", "")
    if page != "screens/data.py":
        assert MD in shown or MD in " ".join(str(d.value.to_numpy().tolist()) for d in at.dataframe)


def test_funnel_drill_down_heading_is_plain_text(hostile_id):
    at = app("screens/funnels.py", ds=hostile_id, steps=f"home,{MD},purchase")
    at.selectbox(key="f_drop").set_value(2).run()
    assert not at.exception
    assert f"2. {MD}" in [str(t.value) for t in at.text]
    assert not [t for t in _markdown_texts(at) if LIVE_MARKDOWN.search(t)]


def test_sidebar_lists_the_hostile_dataset_name_literally(hostile_id):
    at = app(ds=hostile_id)
    assert not at.exception
    picker = at.selectbox(key="sb_dataset")
    assert picker.format_func(hostile_id).startswith(NAME)  # options are drawn as plain text by Streamlit
