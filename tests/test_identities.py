"""Identity stitching: persons equal a plain union-find, and a dataset split by id scheme plus an identity
file answers exactly like the unsplit dataset."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeys import sample
from journeys.analyses.base import journeys_for
from journeys.analyses.funnels import FunnelQuery, compute_funnel
from journeys.analyses.paths import PathQuery, compute_paths
from journeys.analyses.transitions import compute_transitions
from journeys.engine.identities import connected_components
from journeys.errors import InputError, MappingError
from journeys.shaping import Shaping

EDGES = st.lists(st.tuples(st.integers(0, 25), st.integers(0, 25)), min_size=1, max_size=40)
WEB = ("web", "app", "ads", "social")


def union_find(edges: list[tuple[str, str]]) -> dict[str, str]:
    """Plain-Python reference: id -> smallest id of its component."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in list(parent)}


def components_on(engine, edges: list[tuple[str, str]]) -> dict[str, str]:
    links = engine.table(pd.DataFrame({"a": [a for a, _ in edges], "b": [b for _, b in edges]}))
    got = connected_components(links).to_pandas()
    return dict(zip(got.id, got.person, strict=True))


def as_ids(edges: list[tuple[int, int]]) -> list[tuple[str, str]]:
    return [(f"id{a:02d}", f"id{b:02d}") for a, b in edges]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(EDGES)
def test_components_equal_union_find_on_duckdb(duck, edges):
    pairs = as_ids(edges)
    want = {k: v for k, v in union_find(pairs).items() if any(k in (a, b) for a, b in pairs if a != b)}
    assert components_on(duck, pairs) == want


def test_a_long_chain_settles_and_self_links_are_no_person(duck):
    chain = [(f"n{i:03d}", f"n{i + 1:03d}") for i in range(120)][::-1]
    got = components_on(duck, [*chain, ("solo", "solo")])
    assert set(got.values()) == {"n000"} and len(got) == 121 and "solo" not in got


# ---- a dataset split by id scheme, stitched back --------------------------------------------------

@pytest.fixture(scope="module")
def split_files(tmp_path_factory) -> dict[str, Path]:
    """The same 4,000 generated events: whole, and split into web (cookie ids) and other channels (e-mail
    address ids), with a CRM file linking each customer's cookie and address."""
    folder = tmp_path_factory.mktemp("split")
    table = sample.generate(4000, seed=11)
    web = pc.is_in(table["channel"], pa_array(WEB))
    cust = table["customer_id"]
    pacsv.write_csv(table, folder / "whole.csv")
    w = table.filter(web)
    w = w.set_column(0, "customer_id", pc.binary_join_element_wise("w-", w["customer_id"], ""))
    o = table.filter(pc.invert(web))
    o = o.set_column(0, "customer_id", pc.binary_join_element_wise(o["customer_id"], "@mail.example", ""))
    pacsv.write_csv(w, folder / "web.csv")
    pacsv.write_csv(o, folder / "other.csv")
    ids = sorted(set(cust.to_pylist()))
    crm = pd.DataFrame({"cookie": [f"w-{c}" for c in ids], "email": [f"{c}@mail.example" for c in ids]})
    crm.to_csv(folder / "crm.csv", index=False)
    return {p.stem: p for p in folder.iterdir()}


def pa_array(values):
    import pyarrow as pa

    return pa.array(values)


def analyses(table):
    shaping = Shaping(goal="purchase")
    j = journeys_for(table, shaping)
    tr = compute_transitions(j, goal="purchase")
    pa_ = compute_paths(j, PathQuery(), goal="purchase")
    fu = compute_funnel(journeys_for(table, Shaping()), FunnelQuery(
        steps=(("product_view",), ("add_to_cart",), ("checkout",), ("purchase",)), window=timedelta(days=7)))
    return tr, pa_, fu


def test_split_sources_plus_identity_file_equal_the_unsplit_dataset(store, split_files):
    whole = store.ingest(split_files["whole"], name="whole").dataset_id
    ds = store.ingest(split_files["web"], name="split").dataset_id
    other = store.ingest(split_files["other"], into=ds)
    assert other.customers > 0
    before = store.table(ds).customer_id.nunique().execute()
    report = store.add_identities(ds, split_files["crm"], ["cookie", "email"])
    t_whole, t_split = store.table(whole), store.table(ds)
    assert t_split.customer_id.nunique().execute() == t_whole.customer_id.nunique().execute() < before
    assert report.persons_before == before and report.persons_after == t_whole.customer_id.nunique().execute()
    raw = pd.read_csv(split_files["whole"])
    both = raw.assign(web=raw.channel.isin(WEB)).groupby("customer_id").web.nunique()
    assert report.share_multi_source_before == 0.0
    assert report.share_multi_source_after == round(float((both == 2).mean()), 6)
    assert report.sizes == {"1": int((both == 1).sum()), "2": int((both == 2).sum())}
    (tw, pw, fw), (ts, ps, fs) = analyses(t_whole), analyses(t_split)
    pd.testing.assert_frame_equal(tw.edges, ts.edges)
    pd.testing.assert_frame_equal(tw.nodes, ts.nodes)
    assert (tw.journeys, tw.transitions) == (ts.journeys, ts.transitions)
    pd.testing.assert_frame_equal(pw.links, ps.links)
    pd.testing.assert_frame_equal(pw.variants, ps.variants)
    pd.testing.assert_frame_equal(fw.steps, fs.steps)
    # the stored step / next columns equal the unsplit ones, person by person
    cols = ["ts", "touchpoint", "step", "next_touchpoint", "next_ts"]
    a = t_whole.order_by(["ts", "touchpoint", "step"]).select(*cols).to_pandas()
    b = t_split.order_by(["ts", "touchpoint", "step"]).select(*cols).to_pandas()
    pd.testing.assert_frame_equal(a, b)
    # stitching off gives the raw ids back, and removing the identity file undoes the stitching
    assert store.unstitched_table(ds).customer_id.nunique().execute() == before
    store.remove_source(ds, "crm")
    assert store.table(ds).customer_id.nunique().execute() == before


def test_identity_file_sentences(store, split_files, write):
    ds = store.ingest(split_files["web"], name="web").dataset_id
    with pytest.raises(MappingError, match="at least two id columns"):
        store.add_identities(ds, split_files["crm"], ["cookie"])
    with pytest.raises(MappingError, match="Did you mean 'email'"):
        store.add_identities(ds, split_files["crm"], ["cookie", "emial"])
    empty = write("empty.csv", "a,b\nx,\n,y\n")
    with pytest.raises(InputError, match="no usable id columns"):
        store.add_identities(ds, empty, ["a", "b"])
    stranger = write("strangers.csv", "a,b\nx1,y1\n")
    with pytest.raises(InputError, match="matches a customer id"):
        store.add_identities(ds, stranger, ["a", "b"])
    assert [s.name for s in store.sources(ds)] == ["web"] and store.stitching(ds) is None


def test_overmerge_warning_and_exclusion(store, write):
    rows = "\n".join(f"c{i},2024-01-01 10:{i % 60:02d},visit" for i in range(60))
    ds = store.ingest(write("ev.csv", "c,t,e\n" + rows + "\n"), overrides={"customer": "c", "timestamp": "t",
                                                                            "touchpoint": "e"}).dataset_id
    crm = "\n".join(f"c{i},shared-device" for i in range(60))
    report = store.add_identities(ds, write("dev.csv", "id,device\n" + crm + "\n"), ["id", "device"])
    assert report.persons_after == 1 and report.oversized[0]["ids"] == 61
    assert report.oversized[0]["hubs"][0] == "shared-device" and "more than 50 ids" in report.warnings[0]
    fixed = store.exclude_ids(ds, ["shared-device"])
    assert fixed.persons_after == 60 and not fixed.oversized and fixed.excluded == ["shared-device"]
    assert store.table(ds).customer_id.nunique().execute() == 60


def test_segment_alias_stitches_anonymous_events_before_the_login(store, write):
    body = ("anonymousId,userId,timestamp,event\n"
            "a-1,,2024-01-01T10:00:00Z,Page Viewed\n"
            "a-2,,2024-01-01T11:00:00Z,Page Viewed\n"
            "a-1,u-9,2024-01-02T10:00:00Z,Signed In\n"
            "a-3,u-9,2024-01-03T10:00:00Z,Order Completed\n"
            "a-4,,2024-01-03T10:00:00Z,Page Viewed\n")
    r = store.ingest(write("segment.csv", body), preset="segment")
    t = store.table(r.dataset_id).order_by(["customer_id", "step"]).to_pandas()
    assert list(zip(t.customer_id, t.raw_id, t.step, t.touchpoint, strict=True)) == [
        ("a-1", "a-1", 1, "Page Viewed"), ("a-1", "a-1", 2, "Signed In"), ("a-1", "a-3", 3, "Order Completed"),
        ("a-2", "a-2", 1, "Page Viewed"), ("a-4", "a-4", 1, "Page Viewed")]
    assert r.customers == 3  # persons: the three devices of u-9 are one
    report = store.stitching(r.dataset_id)
    assert report is not None and (report.persons_before, report.persons_after, report.links_read) == (4, 3, 2)
    with pytest.raises(MappingError, match="mapped to both customer and alias"):
        store.ingest(write("s2.csv", body), preset="segment", overrides={"alias": "anonymousId"})
