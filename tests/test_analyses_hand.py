"""A tiny log with every answer worked out by hand (see the comments)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from journeys.analyses.base import journeys_for
from journeys.analyses.funnels import Exclusion, FunnelQuery, compute_funnel, dropped_customers
from journeys.analyses.paths import PathQuery, compute_paths
from journeys.analyses.transitions import GraphQuery, compute_transitions
from journeys.errors import QueryError
from journeys.segments import Filter, Segment
from journeys.shaping import Shaping
from tests.conftest import frame

# A: home product cart purchase | B: home product product home | C: product cart(+5m) product(+6) cart(+7)
# D: home | E: home cart (same minute, file order decides)
ROWS = [
    ("A", 0, "home", "web"), ("A", 1, "product", "web"), ("A", 2, "cart", "web"), ("A", 3, "purchase", "web", 50),
    ("B", 0, "home", "app"), ("B", 1, "product", "app"), ("B", 2, "product", "app"), ("B", 3, "home", "app"),
    ("C", 0, "product", "email"), ("C", 5, "cart", "web"), ("C", 6, "product", "web"), ("C", 7, "cart", "web"),
    ("D", 0, "home", "web"),
    ("E", 0, "home", "web"), ("E", 0, "cart", "web"),
]


@pytest.fixture
def events(duck):
    return duck.table(frame(ROWS, extra={"device": ["d", "d", "d", "d", "m", "m", "m", "m", "d", "d", "d", "d", "m", "d", "d"]}))


def j(events, segment=None, **shaping):
    return journeys_for(events, Shaping(**shaping), segment)


def edges(result):
    return {(r.source, r.target): int(r.count) for r in result.edges.itertuples()}


def test_transition_graph_by_hand(events):
    r = compute_transitions(j(events), goal="purchase")
    assert edges(r) == {
        ("START", "home"): 4, ("START", "product"): 1, ("home", "product"): 2, ("product", "cart"): 3,
        ("cart", "purchase"): 1, ("product", "product"): 1, ("product", "home"): 1, ("cart", "product"): 1,
        ("home", "cart"): 1, ("purchase", "END (converted)"): 1, ("home", "END (not converted)"): 2,
        ("cart", "END (not converted)"): 2,
    }
    assert (r.journeys, r.transitions, r.hidden_edges) == (5, 10, 0)
    row = r.edges.set_index(["source", "target"]).loc[("product", "cart")]
    assert row.customers == 2 and row.probability == pytest.approx(3 / 5) and row.share == pytest.approx(3 / 10)
    assert row.median_s == 60.0  # A: 60 s, C: 300 s and 60 s
    nodes = r.nodes.set_index("touchpoint")
    assert nodes.loc["home", "volume"] == 5 and nodes.loc["home", "entries"] == 4 and nodes.loc["home", "exits"] == 2
    # out of cart: purchase 1, product 1, END 2; out of product: cart 3, product 1, home 1;
    # out of home: product 2, cart 1, END 2. So p_c = 1/4 + 1/4 p_p, p_p = 3/5 p_c + 1/5 p_p + 1/5 p_h,
    # p_h = 2/5 p_p + 1/5 p_c, which solves to p_c = 9/28, p_p = 8/28, p_h = 5/28.
    p = r.nodes.set_index("touchpoint")["p_goal"]
    assert p["purchase"] == 1.0
    assert (p["cart"], p["product"], p["home"]) == pytest.approx((9 / 28, 8 / 28, 5 / 28))


def test_pruning_reports_what_it_hid(events):
    r = compute_transitions(j(events), GraphQuery(min_weight=2))
    assert ("product", "product") not in edges(r)
    assert (r.hidden_edges, r.hidden_transitions) == (5, 5)  # five inner edges of weight 1
    top = compute_transitions(j(events), GraphQuery(top_k=2, with_ends=False))
    assert edges(top) == {("product", "cart"): 3, ("home", "product"): 2}


def test_sankey_by_hand(events):
    r = compute_paths(j(events), PathQuery(depth=3))
    nodes = dict(zip(r.nodes.key, r.nodes.customers, strict=True))
    assert nodes == {"1:home": 4, "1:product": 1, "2:cart": 2, "2:product": 2, "2:(journey ends)": 1,
                     "3:product": 2, "3:cart": 1, "3:(journey ends)": 1}
    links = {(x.source, x.target): x.customers for x in r.links.itertuples()}
    assert links == {
        ("1:home", "2:product"): 2, ("1:home", "2:cart"): 1, ("1:home", "2:(journey ends)"): 1, ("1:product", "2:cart"): 1,
        ("2:product", "3:cart"): 1, ("2:product", "3:product"): 1, ("2:cart", "3:product"): 1, ("2:cart", "3:(journey ends)"): 1,
    }
    assert r.coverage == 1.0 and r.journeys_total == 5
    pct = r.links.set_index(["source", "target"])
    assert pct.loc[("1:home", "2:product"), "pct_of_start"] == pytest.approx(2 / 5)
    assert pct.loc[("1:home", "2:product"), "pct_of_prev"] == pytest.approx(2 / 4)


def test_sankey_other_node_and_ties(events):
    r = compute_paths(j(events), PathQuery(depth=2, top=1))
    assert set(r.nodes.key) == {"1:home", "1:Other", "2:cart", "2:Other", "2:(journey ends)"}
    links = {(x.source, x.target): x.customers for x in r.links.itertuples()}
    assert links[("1:home", "2:Other")] == 2 and links[("1:Other", "2:cart")] == 1


def test_sankey_anchors(events):
    back = compute_paths(j(events), PathQuery(anchor="to", end="cart", depth=2))
    assert dict(zip(back.nodes.key, back.nodes.customers, strict=True)) == {
        "1:cart": 3, "2:product": 2, "2:home": 1}
    between = compute_paths(j(events), PathQuery(anchor="between", start="home", end="cart", depth=4))
    assert between.journeys_covered == 2  # A (home product cart) and E (home cart)
    assert list(between.variants.path) == ["home > cart", "home > product > cart"]
    frm = compute_paths(j(events), PathQuery(anchor="from", start="product", depth=2))
    assert frm.journeys_covered == 3 and frm.coverage == pytest.approx(3 / 5)


def test_path_variants(events):
    r = compute_paths(j(events, goal="purchase"), PathQuery(depth=3, min_steps=1), goal="purchase")
    v = r.variants.set_index("path")
    assert v.loc["home > product > cart > …", "customers"] == 1
    assert v.loc["home > product > cart > …", "conversion_rate"] == 1.0
    assert v.loc["home > product > cart > …", "revenue"] == 50.0
    assert v.loc["home", "customers"] == 1 and v.loc["home", "median_duration_s"] == 0.0


def test_path_variants_set_one_step_journeys_aside(events):
    # D is the one one-step journey of five: a fifth, so "auto" lists journeys of 2+ steps only
    auto = compute_paths(j(events), PathQuery(depth=3))
    assert auto.min_steps == 2 and auto.set_aside == 1
    assert "home" not in set(auto.variants.path) and auto.variants.customers.sum() == 4
    assert auto.variants.share.sum() == pytest.approx(4 / 5)  # shares stay of all journeys drawn
    every = compute_paths(j(events), PathQuery(depth=3, min_steps=1))
    assert every.set_aside == 0 and every.variants.customers.sum() == 5
    assert auto.nodes.equals(every.nodes) and auto.links.equals(every.links)  # the Sankey is the same


def test_funnel_step_gaps_by_hand(events):
    from journeys.analyses.funnels import step_gaps

    r = compute_funnel(j(events), FunnelQuery(steps=(("home", "product"), ("cart",)), breakdown="device"))
    b = r.breakdown.set_index(["value", "step"]).conversion_from_previous.to_dict()
    assert b == {("d", 1): 1.0, ("d", 2): 1.0, ("m", 1): 1.0, ("m", 2): 0.0}
    gap = step_gaps(r, floor=2)
    assert [(g.step, g.best_value, g.best_rate, g.worst_value, g.worst_rate) for g in gap] == [(2, "d", 1.0, "m", 0.0)]
    assert gap[0].sentence() == "Biggest gap: home or product → cart converts 0.0% for m against 100.0% for d."
    assert step_gaps(r, floor=3) == []  # m has two journeys at step 1: below the floor, nothing to compare


def funnel(events, steps, **kw):
    return compute_funnel(j(events), FunnelQuery(steps=tuple((s,) for s in steps), **kw))


def test_funnel_orders_by_hand(events):
    for order in ("sequential", "strict", "any"):
        r = funnel(events, ["home", "product", "cart", "purchase"], order=order)
        assert list(r.steps.customers) == [4, 2, 1, 1], order
    r = funnel(events, ["home", "cart", "product"], order="any")
    assert list(r.steps.customers) == [4, 2, 1]  # A: cart and product after home; E: cart only
    r = funnel(events, ["home", "cart", "product"], order="sequential")
    assert list(r.steps.customers) == [4, 2, 0]


def test_funnel_window_uses_the_best_attempt(events):
    r = funnel(events, ["product", "cart"], window=timedelta(minutes=3))
    assert list(r.steps.customers) == [3, 2]  # C's first attempt is too slow, its second makes it
    assert r.steps.median_s.iloc[1] == 60.0
    r = funnel(events, ["product", "cart"], window=timedelta(minutes=10))
    assert r.steps.median_s.iloc[1] == 180.0  # A 60 s, C 300 s (earliest attempt)
    assert list(r.steps.drop_off) == [1, 0]


def test_funnel_exclusions_and_drop_off(events):
    r = funnel(events, ["home", "product", "home"], exclusions=(Exclusion(("product",), 2, 3),))
    assert list(r.steps.customers) == [4, 2, 0]  # B's second product sits between its product and home
    r = funnel(events, ["home", "product", "cart"])
    nxt = r.next_after_drop
    assert nxt[nxt.step == 2].set_index("next_touchpoint").customers.to_dict() == {"product": 1}
    assert nxt[nxt.step == 1].set_index("next_touchpoint").customers.to_dict() == {"(journey ended)": 1, "cart": 1}
    dropped = dropped_customers(j(events), FunnelQuery(steps=(("home",), ("product",), ("cart",))), 1).to_pandas()
    assert list(dropped.customer_id) == ["D", "E"]


def test_funnel_breakdown_trend_and_step_sets(events):
    r = compute_funnel(j(events), FunnelQuery(steps=(("home", "product"), ("cart",)), breakdown="device", trend="day"))
    assert list(r.steps.customers) == [5, 3]
    b = r.breakdown.set_index(["value", "step"]).customers.to_dict()
    assert b == {("d", 1): 3, ("d", 2): 3, ("m", 1): 2, ("m", 2): 0}  # B and D start on mobile
    assert r.trend.entered.tolist() == [5] and r.trend.converted.tolist() == [3]


def test_funnel_by_session(events, duck):
    rows = [("A", 0, "home"), ("A", 10, "cart"), ("A", 100, "home"), ("A", 101, "cart"), ("B", 0, "home")]
    t = duck.table(frame(rows))
    r = compute_funnel(journeys_for(t, Shaping(scope="session")), FunnelQuery(steps=(("home",), ("cart",))))
    assert list(r.steps.customers) == [3, 2]


def test_segments_by_hand(events):
    seg = Segment((Filter("did", ("cart",)), Filter("did_not", ("purchase",))))
    assert seg.describe() == "customers who did cart and did not do purchase"
    r = compute_transitions(j(events, seg))
    assert r.journeys == 2
    either = Segment((Filter("attribute", ("m",), column="device"), Filter("then", ("cart", "product"))), "or")
    assert compute_transitions(j(events, either)).journeys == 3  # B, D (mobile) and C (cart then product)
    nested = Segment((Segment((Filter("did", ("home",)),)), Filter("at_least", ("cart",), times=2)))
    assert compute_transitions(j(events, nested)).journeys == 0
    assert compute_transitions(j(events, Segment((Filter("at_least", ("cart",), times=2),)))).journeys == 1


def test_segment_round_trip_and_errors(events):
    seg = Segment((Filter("attribute", ("m", "x"), column="device", op="not_in"),
                   Segment((Filter("then", ("a", "b"), within_days=3), Filter("converted")), "or")))
    assert Segment.from_param(seg.to_param()) == seg
    with pytest.raises(QueryError, match="cannot be read"):
        Segment.from_param("{not json")
    with pytest.raises(QueryError, match="Unknown column 'devise'. Did you mean 'device'"):
        compute_transitions(j(events, Segment((Filter("attribute", ("m",), column="devise"),))))


def test_shaping_collapse_and_cut(events):
    r = compute_transitions(j(events, collapse_repeats=True))
    assert ("product", "product") not in edges(r) and edges(r)[("product", "home")] == 1
    cut = compute_transitions(j(events, goal="purchase", cut_at_goal=True), goal="purchase")
    assert cut.transitions == 10


def test_queries_validate():
    with pytest.raises(QueryError, match="between 1 and 20"):
        PathQuery(depth=21).validate()
    with pytest.raises(QueryError, match="at most 10 steps"):
        FunnelQuery(steps=tuple((str(i),) for i in range(11))).validate()
    with pytest.raises(QueryError, match="366 days"):
        FunnelQuery(steps=(("a",),), window=timedelta(days=400)).validate()


def test_then_within_days(duck):
    day = 24 * 60
    t = duck.table(frame([("A", 0, "x"), ("A", 3 * day, "y"), ("B", 0, "x"), ("B", day, "y"), ("C", day, "y"), ("C", 2 * day, "x")]))
    seg = Segment((Filter("then", ("x", "y"), within_days=2),))
    assert seg.describe() == "customers who did x then y within 2 days"
    assert set(compute_transitions(j(t, seg)).edges.query("source == 'START'").target) == {"x"}
    assert compute_transitions(j(t, seg)).journeys == 1  # only B: A is too slow, C in the wrong order
    assert compute_transitions(j(t, Segment((Filter("then", ("x", "y")),)))).journeys == 2


def test_customers_through_a_node(events):
    from journeys.analyses.paths import node_customers

    q = PathQuery(depth=3, top=1)
    jj = j(events)
    assert node_customers(jj, q, "2:cart") == ["C", "E"]
    assert node_customers(jj, q, "2:Other") == ["A", "B"]
    assert node_customers(jj, q, "2:(journey ends)") == ["D"]
    assert node_customers(jj, q, "1:home") == ["A", "B", "D", "E"]
    seg = Segment((Filter("at_step", ("cart",), times=2),))
    assert seg.describe() == "customers who had cart as step 2"
    assert compute_transitions(j(events, seg)).journeys == 2


def test_stage_level_journeys(events):
    stages = (("home", "consideration"), ("product", "consideration"), ("cart", "purchase"), ("purchase", "purchase"))
    r = compute_transitions(j(events, node="stage", stages=stages, collapse_repeats=True))
    # collapsed: A cons>pur, B cons, C cons>pur>cons>pur, D cons, E cons>pur
    assert edges(r)[("consideration", "purchase")] == 4
    assert edges(r)[("purchase", "consideration")] == 1
    assert r.transitions == 5


def test_range_and_entry_date_filters(duck):
    rows = [("A", 0, "x"), ("B", 60 * 24 * 3, "x"), ("C", 0, "y")]
    t = duck.table(frame(rows, extra={"age": ["17", "35", "n/a"]}))
    adults = Segment((Filter("attribute", ("18", "99"), column="age", op="range"),))
    assert adults.describe() == "customers who have age between 18 and 99"
    assert compute_transitions(j(t, adults)).journeys == 1
    late = Segment((Filter("entered", ("2025-03-02", "")),))
    assert compute_transitions(j(t, late)).journeys == 1  # only B entered on or after 2 March
    contains = Segment((Filter("attribute", ("/",), column="age", op="contains"),))
    assert compute_transitions(j(t, contains)).journeys == 1


def test_journey_map_by_hand(events):
    from journeys.analyses.journey_map import compute_journey_map

    stages = (("home", "consideration"), ("product", "consideration"), ("cart", "purchase"), ("purchase", "purchase"))
    r = compute_journey_map(j(events, goal="purchase"), stages, goal="purchase")
    tp = r.touchpoints.set_index("touchpoint")
    assert tp.loc["home", "journeys"] == 4 and tp.loc["home", "events"] == 5
    assert tp.loc["home", "conversion_onward"] == pytest.approx(1 / 4)  # A converts after home
    assert tp.loc["cart", "drop_offs"] == 2  # C and E end on cart without purchase
    assert tp.loc["product", "median_time_s"] == 60.0  # A 60, B 60 and 60, C 300 and 60
    assert list(r.stages.stage) == ["consideration", "purchase"]
    assert r.journeys == 5
    assert not tp.pain_point.any()  # nothing reaches the 30-journey floor in this tiny log
    # next moves: home -> product (A, B), home -> cart (E); B's last home ends; ties go by name
    assert (tp.loc["home", "top_next"], tp.loc["home", "top_next_share"]) == ("product", 2 / 3)
    assert (tp.loc["product", "top_next"], tp.loc["product", "top_next_share"]) == ("cart", 3 / 5)
    assert tp.loc["purchase", "top_next"] != tp.loc["purchase", "top_next"]  # nothing follows: empty


def test_scratch_tables_stay_bounded(events):
    from journeys.analyses.base import SCRATCH_TABLES, materialize

    for _ in range(SCRATCH_TABLES + 5):
        kept = materialize(events.filter(events.touchpoint == "home"))
    con = events.get_backend().con
    names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()]
    assert len([n for n in names if n.startswith("_journeys_scratch_")]) == SCRATCH_TABLES
    assert kept.count().execute() == 5  # the newest is still there and right: A, B twice, D, E


def test_a_date_range_starts_journeys_at_their_first_event_in_range(tmp_path):
    from datetime import date

    from journeys.engine.store import Store
    from journeys.views import filter_dates

    # stored with whole-journey steps: A home (Jan), cart and purchase (Feb); B home (Feb). In February
    # A's journey starts at cart, so both count as journeys and A's step 1 is cart.
    (tmp_path / "e.csv").write_text("customer_id,timestamp,touchpoint\nA,2025-01-10,home\nA,2025-02-03 10:00,cart\n"
                                    "A,2025-02-03 10:01,purchase\nB,2025-02-04,home\nB,2025-03-01,search\n")
    store = Store(tmp_path / "home")
    t = store.table(store.ingest(tmp_path / "e.csv").dataset_id)
    feb = filter_dates(t, date(2025, 2, 1), date(2025, 2, 28))
    r = compute_transitions(journeys_for(feb, Shaping(goal="purchase")), goal="purchase")
    assert r.journeys == 2
    assert edges(r) == {("START", "cart"): 1, ("START", "home"): 1, ("cart", "purchase"): 1,
                        ("purchase", "END (converted)"): 1, ("home", "END (not converted)"): 1}
    p = compute_paths(journeys_for(feb, Shaping()), PathQuery(depth=2, min_steps=1))
    assert set(p.variants.path) == {"cart > purchase", "home"}
    store.close()
