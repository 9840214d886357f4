"""Retention page: the numbers equal the core's, every control lives in the link, bad links are sentences."""

from __future__ import annotations

import json

from journeys.analyses.base import journeys_for
from journeys.analyses.churn import ChurnQuery, compute_churn
from journeys.analyses.palive import PAliveQuery, compute_palive
from journeys.analyses.palive_product import at_risk_high_value, customer_value
from journeys.analyses.retention import RetentionQuery, compute_retention
from journeys.outcomes import Outcomes, data_end
from journeys.segments import Filter, Segment
from journeys.shaping import Shaping
from tests.app.conftest import _store, app, texts

PAGE = "screens/retention.py"


def _events(ds: str, segment: Segment | None = None):
    return journeys_for(_store().table(ds), Shaping(goal="purchase"), segment)


def test_default_page_equals_the_core(sample_id):
    at = app(PAGE, ds=sample_id)
    assert not at.exception
    events = _events(sample_id)
    churn = compute_churn(events, ChurnQuery(outcomes=Outcomes(goals=("purchase",))))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Customers"] == f"{churn.customers:,}"
    assert metrics["Churned"] == f"{churn.churned:,}"
    assert metrics["Active (not yet known)"] == f"{churn.active:,}"
    palive = compute_palive(events, PAliveQuery())
    assert metrics["At risk"] == f"{palive.bands['at risk']:,}" and metrics["Active"] == f"{palive.bands['active']:,}"
    # the default threshold is shown with where it comes from: the p90 of gaps between purchase days
    assert any("the larger of 30 days and the p90 of" in t for t in texts(at, "info"))
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    cohorts = compute_retention(events, RetentionQuery())
    avg = cohorts.average
    assert heat["z"][0][:3] == [float(x) for x in avg.pct[:3]]  # the weighted-average row on top
    assert heat["y"][0] == f"Average ({int(avg['size'].iloc[0]):,})"
    assert len(heat["y"]) == 1 + cohorts.table.cohort.nunique()
    # the sample's planted repeat buyers: no "thin repeats" caution, and at-risk high-value customers to download
    assert not any("the bands say little" in t for t in texts(at, "warning"))
    risky, threshold = at_risk_high_value(palive, customer_value(events, ("purchase",), palive.until))
    assert len(risky) > 0
    assert (f"At risk and with purchase value of at least {threshold:,.2f} (the top quarter of buyers): "
            f"{len(risky):,} customers.") in [c.value for c in at.caption]
    shown = next(d.value for d in at.dataframe if "value" in d.value.columns)
    assert list(shown["customer id"]) == list(risky.customer_id[:400])
    assert "dl_rt_risky" in {b.key for b in at.get("download_button")}  # the list downloads as CSV


def test_settings_come_from_the_link_and_go_back_to_it(sample_id):
    at = app(PAGE, ds=sample_id, rc="month", rp="week", rn="4", rcal="1", rm="on_or_after", ct="account_closed",
             chk="3", li="month", pb="active", rme="retained", chb="1")
    assert not at.exception
    assert at.selectbox(key="rt_rc").value == "month" and at.number_input(key="rt_rn").value == 4
    assert at.toggle(key="rt_rcal").value is True and at.radio(key="rt_cmode").value == "explicit"
    assert at.multiselect(key="rt_ct").value == ["account_closed"]
    events = _events(sample_id)
    churn = compute_churn(events, ChurnQuery(outcomes=Outcomes(goals=("purchase",),
                                                               churn_touchpoints=("account_closed",)), last_k=3))
    assert {m.label: m.value for m in at.metric}["Churned"] == f"{churn.churned:,}"
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    r = compute_retention(events, RetentionQuery(cohort="month", periods=4, calendar=True, mode="on_or_after"),
                          end=data_end(_store().table(sample_id)))
    first = r.table[r.table.cohort == r.table.cohort.min()]
    assert heat["z"][1] == [float(x) for x in first.retained]  # rme=retained: customers, not %
    assert at.radio(key="rt_measure").value == "retained" and at.toggle(key="rt_ch_both").value is True
    for key, value in {"rc": "month", "rn": "4", "rcal": "1", "rm": "on_or_after", "ct": "account_closed",
                       "chk": "3", "li": "month", "pb": "active", "rme": "retained", "chb": "1"}.items():
        assert at.query_params[key] == value, key
    assert "rp" not in at.query_params  # the default period is not written


def test_bad_link_values_are_explained(sample_id):
    at = app(PAGE, ds=sample_id, ret="purchse", rn="99")
    assert not at.exception
    banner = texts(at, "text")
    assert ("• The return touchpoint 'purchse' is not in this dataset. Did you mean 'purchase'? "
            "Using 'purchase' instead.") in banner
    assert at.multiselect(key="rt_ret").value == ["purchase"] and at.query_params["ret"] == "purchase"
    assert ("• The link's number of periods '99' could not be used (Retention shows 1 to 60 periods, not 99); "
            "the default applies.") in banner


def test_a_churn_path_becomes_a_segment(sample_id):
    at = app(PAGE, ds=sample_id, ct="account_closed")
    assert not at.exception
    events = _events(sample_id)
    churn = compute_churn(events, ChurnQuery(outcomes=Outcomes(goals=("purchase",),
                                                               churn_touchpoints=("account_closed",))))
    path = churn.paths.path[0]
    label = next(b.label for b in at.get("download_button") if "customer ids" in b.label and b.key == "cust_rt_path_ids")
    from journeys.analyses.churn import customers_on_path
    assert label == f"Download {len(customers_on_path(events, churn.query, path)):,} customer ids"
    at.button(key="rt_path_seg").click().run()
    assert not at.exception
    seg = Segment.from_param(at.query_params["seg"])
    assert seg == Segment((Filter("ends_with", path),))


def test_too_few_buyers_is_said_in_its_section_only(sample_id):
    at = app(PAGE, ds=sample_id, pp="review")
    assert not at.exception
    assert any("P(alive) needs at least 500 customers with a purchase" in t for t in texts(at, "warning"))
    assert {m.label for m in at.metric} >= {"Customers", "Churned", "Quick ratio"}  # the other sections still show


def test_a_p_alive_band_becomes_a_segment(sample_id):
    at = app(PAGE, ds=sample_id, pb="likely lost")
    assert not at.exception
    palive = compute_palive(_events(sample_id), PAliveQuery())
    label = next(b.label for b in at.get("download_button") if b.key == "cust_rt_band_ids")
    assert label == f"Download {palive.bands['likely lost']:,} customer ids"
    at.button(key="rt_band_seg").click().run()
    assert not at.exception
    assert Segment.from_param(at.query_params["seg"]) == Segment((Filter("alive", ("likely lost", "purchase")),))
    # the segment's customers are the band's: the churn section now counts exactly them
    assert {m.label: m.value for m in at.metric}["Customers"] == f"{palive.bands['likely lost']:,}"


def test_p_alive_says_one_time_buyers_count_as_alive_beside_the_bands(sample_id):
    at = app(PAGE, ds=sample_id)
    assert not at.exception
    palive = compute_palive(_events(sample_id), PAliveQuery())
    once = int((palive.customers.frequency == 0).sum())
    assert 0.5 * palive.customers_modelled < once < 0.8 * palive.customers_modelled  # the sample: about 2 in 3
    caution = next(t for t in texts(at, "warning") if "made only one purchase day" in t)
    assert f"{once:,} of {palive.customers_modelled:,} modelled buyers" in caution
    assert "counts every one of them as alive" in caution
    assert "the bands say little" not in caution  # a third of the buyers bought again: enough to learn from
    if not palive.converged:  # the fit's own state is said in the same box, next to the bands
        assert "did not converge" in caution
    # weeks read as whole numbers (39, not 39.00) and the calendar toggle has a row of its own (no "Calend…")
    assert at.number_input(key="rt_ph").proto.format == "%g" and at.number_input(key="rt_pho").proto.format == "%g"
    assert at.toggle(key="rt_rcal").label == "Calendar periods"
    revenue = next(m for m in at.metric if m.label == "Revenue lost")
    assert revenue.proto.delta.endswith(" customers")  # short enough for a quarter-width metric; the rest is help


def _shown(path: tuple[str, ...], k: int = 5) -> str:
    """A top churn path as the picker shows it: one shorter than the K shown is a whole history."""
    return ("start > " if len(path) < k else "") + " > ".join(path)


def test_the_churn_path_picker_follows_a_change_of_churn_definition(sample_id):
    at = app(PAGE, ds=sample_id, ct="account_closed")
    events = _events(sample_id)
    outcomes = Outcomes(goals=("purchase",), churn_touchpoints=("account_closed",))
    inactive = compute_churn(events, ChurnQuery(outcomes=Outcomes(goals=("purchase",)))).paths
    explicit = compute_churn(events, ChurnQuery(outcomes=outcomes)).paths
    assert at.radio(key="rt_cmode").value == "explicit"
    assert at.selectbox(key="rt_path").format_func(0).startswith(_shown(explicit.path[0]) + " (")
    at.radio(key="rt_cmode").set_value("inactivity").run()
    assert not at.exception
    picked = at.selectbox(key="rt_path")
    assert picked.value == 0 and picked.format_func(0).startswith(_shown(inactive.path[0]) + " (")
    assert picked.format_func(0).endswith(f"({int(inactive.churned[0]):,} churned, {inactive.rate[0]:.0%} of those "
                                          "who ended so)")


def test_the_picked_churn_path_and_heat_map_group_live_in_the_link(sample_id):
    at = app(PAGE, ds=sample_id, rbd="device")
    events = _events(sample_id)
    paths = compute_churn(events, ChurnQuery(outcomes=Outcomes(goals=("purchase",)))).paths
    second = " > ".join(("^",) * (len(paths.path[1]) < 5) + paths.path[1])  # shorter than K: a whole history
    groups = at.selectbox(key="rt_group").options
    at.selectbox(key="rt_group").set_value(groups[1]).run()
    at.selectbox(key="rt_path").set_value(1).run()
    assert not at.exception
    assert at.query_params["rg"] == groups[1] and at.query_params["chp"] == second
    again = app(PAGE, ds=sample_id, rbd="device", rg=groups[1], chp=second)
    assert again.selectbox(key="rt_group").value == groups[1] and again.selectbox(key="rt_path").value == 1
    assert not again.exception
