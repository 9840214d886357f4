"""Funnels page: steps from the URL, numbers equal the core's, drop-off drill-down, bad steps explained."""

from __future__ import annotations

import json
from datetime import timedelta

from journeys.analyses.base import journeys_for
from journeys.analyses.funnels import FunnelQuery, compute_funnel
from journeys.segments import Filter, Segment
from journeys.shaping import Shaping
from tests.app.conftest import _store, app, texts

STEPS = "product_view,add_to_cart,checkout,purchase"


def _expected(ds, segment=None, **kw):
    q = FunnelQuery(steps=tuple((s,) for s in STEPS.split(",")), **kw)
    return compute_funnel(journeys_for(_store().table(ds), Shaping(goal="purchase"), segment), q)


def test_funnel_from_link_matches_the_core(sample_id):
    at = app("screens/funnels.py", ds=sample_id, steps=STEPS, window="3d")
    assert not at.exception
    expected = _expected(sample_id, window=timedelta(days=3))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Entered"] == f"{expected.entered:,}"
    assert metrics["Converted"] == f"{int(expected.steps.customers.iloc[-1]):,}"
    assert at.number_input(key="f_window").value == 3
    assert at.query_params["steps"] == STEPS


def test_a_window_of_hours_in_a_link_is_said_to_become_whole_days(sample_id):
    # the page counts whole days; the command line takes any length
    at = app("screens/funnels.py", ds=sample_id, steps=STEPS, window="1h")
    assert not at.exception
    assert ("• The conversion window 1h is not a whole number of days: this page uses 1 day. The command line takes "
            "any length (journeys funnel --window 1h).") in texts(at, "text")
    assert at.number_input(key="f_window").value == 1
    expected = _expected(sample_id, window=timedelta(days=1))
    assert {m.label: m.value for m in at.metric}["Converted"] == f"{int(expected.steps.customers.iloc[-1]):,}"
    assert any("completes within the window (1 day)." in c for c in texts(at, "caption"))


def test_segment_and_drop_off_drill_down(sample_id):
    seg = Segment((Filter("attribute", ("mobile",), column="device"),))
    at = app("screens/funnels.py", ds=sample_id, steps=STEPS, seg=seg.to_param())
    assert not at.exception
    expected = _expected(sample_id, seg)
    assert {m.label: m.value for m in at.metric}["Entered"] == f"{expected.entered:,}"
    at.selectbox(key="f_drop").set_value(3).run()
    nxt = expected.next_after_drop[expected.next_after_drop.step == 3]
    shown = next(d.value for d in at.dataframe if "did next" in d.value.columns)
    assert list(shown["did next"]) == list(nxt.next_touchpoint)
    assert list(shown["journeys"]) == list(nxt.customers)
    assert "3. checkout" in texts(at, "text")
    label = next(b.label for b in at.get("download_button") if "customer ids" in b.label)
    assert label == f"Download {int(expected.steps.drop_off.iloc[2]):,} customer ids"


def test_unknown_step_in_link_is_explained_and_replaced(sample_id):
    at = app("screens/funnels.py", ds=sample_id, steps="product_vew,add_to_cart")
    assert not at.exception
    banner = texts(at, "text")
    assert ("• The step 1 touchpoint 'product_vew' is not in this dataset. Did you mean 'product_view'? "
            "Using 'product_view' instead.") in banner
    assert at.multiselect(key="f_step_0").value == ["product_view"]
    assert at.query_params["steps"] == "product_view,add_to_cart"
    assert {m.label for m in at.metric} >= {"Entered", "Converted"}


def test_breakdown_and_trend(sample_id):
    at = app("screens/funnels.py", ds=sample_id, steps=STEPS, bd="device", trend="month")
    assert not at.exception
    expected = _expected(sample_id, breakdown="device", trend="month")
    subheaders = texts(at, "subheader")
    assert "Each step by device" in subheaders and "Conversion by month of entry" in subheaders
    tables = [d.value for d in at.dataframe]
    bd = next(t for t in tables if "step" in t.columns and "value" in t.columns)
    assert list(bd["journeys"]) == list(expected.breakdown.customers)


def test_breakdown_per_step_names_the_biggest_gap(sample_id):
    from journeys.analyses.funnels import step_gaps

    at = app("screens/funnels.py", ds=sample_id, steps=STEPS, bd="device")
    assert not at.exception
    expected = _expected(sample_id, breakdown="device")
    b = expected.breakdown
    rate = {(r.value, r.step): r.customers for r in b.itertuples()}
    # by hand from the long table: each value's step k conversion = journeys at k / journeys at k - 1
    gaps = {}
    for k in (2, 3, 4):
        rates = {v: rate[(v, k)] / rate[(v, k - 1)] for v in {r.value for r in b.itertuples()} if rate[(v, k - 1)] >= 30}
        gaps[k] = (max(rates.values()) - min(rates.values()), min(rates, key=rates.get), max(rates, key=rates.get), rates)
    k = max(gaps, key=lambda s: gaps[s][0])
    _, worst, best, rates = gaps[k]
    labels = STEPS.split(",")
    sentence = (f"Biggest gap: {labels[k - 2]} → {labels[k - 1]} converts {rates[worst]:.1%} for {worst} "
                f"against {rates[best]:.1%} for {best}.")
    assert step_gaps(expected)[0].sentence() == sentence
    assert sentence in texts(at, "warning")
    wide = next(d.value for d in at.dataframe if "journeys entered" in d.value.columns)
    assert list(wide.columns) == ["value", "journeys entered", "→ 2. add_to_cart", "→ 3. checkout", "→ 4. purchase",
                                  "% of entered"]
    row = wide[wide.value == worst].iloc[0]
    assert row[f"→ {k}. {labels[k - 1]}"] == rates[worst] * 100  # shown as a percentage
    spec = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert [t["name"] for t in spec["data"]] == list(b[b.step == 1].value)[:8]


def test_per_step_window_from_the_link(sample_id):
    at = app("screens/funnels.py", ds=sample_id, steps=STEPS, sw="-,-,-,2m")
    assert not at.exception
    expected = _expected(sample_id, step_windows=(None, None, None, timedelta(minutes=2)))
    assert int(expected.steps.customers.iloc[-1]) < int(_expected(sample_id).steps.customers.iloc[-1])
    assert {m.label: m.value for m in at.metric}["Converted"] == f"{int(expected.steps.customers.iloc[-1]):,}"
    assert at.number_input(key="f_sw_4").value == 2
    assert at.query_params["sw"] == "-,-,-,2m"


def test_without_shop_words_the_funnel_starts_from_the_most_common_path(sample_id):
    from pathlib import Path

    from journeys.analyses.paths import PathQuery, compute_paths

    store = _store()
    ds = store.ingest(Path(__file__).parents[1] / "data" / "helpdesk_slice.csv", preset="process-mining",
                      name="helpdesk for funnels").dataset_id
    at = app("screens/funnels.py", ds=ds)
    assert not at.exception
    top = compute_paths(journeys_for(store.table(ds), Shaping()), PathQuery(min_steps=2)).variants.path.iloc[0]
    expected = [s for s in top.split(" > ") if s != "…"][:4]
    assert [at.multiselect(key=f"f_step_{k}").value for k in range(len(expected))] == [[s] for s in expected]
    assert at.query_params["steps"] == ",".join(expected)
    store.delete(ds)


def test_the_per_step_csv_has_machine_columns_and_four_decimals(sample_id):
    from app.tables import for_csv, step_table

    r = _expected(sample_id, breakdown="device")
    csv = for_csv(step_table(r))
    assert list(csv.columns) == ["value", "entered", "conversion_to_step_2", "conversion_to_step_3",
                                 "conversion_to_step_4", "conversion_from_start"]
    mobile = csv[csv.value == "mobile"].iloc[0]
    b = r.breakdown[(r.breakdown.value == "mobile") & (r.breakdown.step == 4)].iloc[0]
    assert mobile.conversion_to_step_4 == round(float(b.conversion_from_previous), 4)


def test_the_drop_off_step_lives_in_the_link(sample_id):
    at = app("screens/funnels.py", ds=sample_id, steps=STEPS)
    biggest = at.selectbox(key="f_drop").value
    other = next(k for k in (1, 2, 3) if k != biggest)
    assert "fdrop" not in at.query_params  # the biggest drop is the default
    at.selectbox(key="f_drop").set_value(other).run()
    assert at.query_params["fdrop"] == str(other)
    again = app("screens/funnels.py", ds=sample_id, steps=STEPS, fdrop=str(other))
    assert not again.exception and again.selectbox(key="f_drop").value == other
