"""The generator is seeded, realistic, and its planted effects are there to be found."""

from __future__ import annotations

import pyarrow.compute as pc

from journeys import sample


def test_same_seed_same_data_and_exact_size():
    a = sample.generate(5000, seed=11)
    b = sample.generate(5000, seed=11)
    assert a.num_rows == 5000 and a.equals(b)
    assert not a.equals(sample.generate(5000, seed=12))


def test_columns_and_vocabularies():
    t = sample.generate(20000, seed=1)
    assert t.column_names == ["customer_id", "timestamp", "touchpoint", "channel", "session_id", "revenue", "csat",
                              "feedback", "device", "country", "acquisition_channel", "signup_cohort"]
    assert set(pc.unique(t["touchpoint"]).to_pylist()) <= set(sample.TOUCHPOINTS)
    assert set(pc.unique(t["channel"]).to_pylist()) == {"ads", "social", "email", "web", "app", "store", "chat", "call centre"}
    purchases = t.filter(pc.equal(t["touchpoint"], "purchase"))
    assert pc.min(purchases["revenue"]).as_py() > 0 and purchases["revenue"].null_count == 0
    service = t.filter(pc.is_in(t["touchpoint"], value_set=__import__("pyarrow").array(["chat", "call_centre"])))
    assert service["csat"].null_count == 0 and pc.min(service["csat"]).as_py() >= 1 and pc.max(service["csat"]).as_py() <= 5


def _conversion_by(df, col):
    per = df.groupby("customer_id").agg(v=(col, "first"), buy=("touchpoint", lambda s: (s == "purchase").any()))
    return per.groupby("v")["buy"].mean()


def test_planted_effects():
    df = sample.generate(200_000, seed=7).to_pandas()
    by_device = _conversion_by(df, "device")
    assert by_device["mobile"] < 0.7 * by_device["desktop"]
    by_acq = _conversion_by(df, "acquisition_channel")
    assert by_acq["email"] > by_acq["ads"] and by_acq["email"] > by_acq["social"]
    df = df.sort_values(["customer_id", "timestamp"], kind="stable")
    df["next"] = df.groupby("customer_id")["touchpoint"].shift(-1)
    calls = df[df.touchpoint == "call_centre"]
    low, high = calls[calls.csat <= 2], calls[calls.csat >= 3]
    assert (low.next == "account_closed").mean() > 3 * (high.next == "account_closed").mean()
    checkout = df[df.touchpoint == "checkout"].merge(df[["customer_id"]].drop_duplicates(), on="customer_id")
    mob = checkout[checkout.device == "mobile"]
    desk = checkout[checkout.device == "desktop"]
    assert (mob.next == "purchase").mean() < 0.6 * (desk.next == "purchase").mean()


def test_chunks_add_up_to_exactly_n_events_with_distinct_customers_and_sessions(tmp_path):
    import pyarrow.parquet as pq

    pieces = list(sample.generate_chunks(2_500, seed=3, chunk=1_000))
    assert [p.num_rows for p in pieces] == [1_000, 1_000, 500]
    customers = [set(p.column("customer_id").to_pylist()) for p in pieces]
    assert not (customers[0] & customers[1]) and not (customers[1] & customers[2])
    sessions = [set(p.column("session_id").to_pylist()) for p in pieces]
    assert not (sessions[0] & sessions[1]) and not (sessions[1] & sessions[2])
    assert next(sample.generate_chunks(900, seed=3, chunk=1_000)).equals(sample.generate(900, seed=3))
    out = sample.write(sample.generate_chunks(2_500, seed=3, chunk=1_000), tmp_path / "e.parquet")
    assert pq.read_table(out).num_rows == 2_500
    csv = sample.write(iter(pieces), tmp_path / "e.csv.gz")
    import gzip

    with gzip.open(csv, "rt") as fh:
        assert len(fh.read().splitlines()) == 2_501  # one header


def test_the_five_exports_hold_every_event_once_with_one_id_scheme_each():
    t = sample.generate(20000, seed=4)
    parts = sample.split_sources(t)
    assert sum(parts[s].num_rows for s in sample.SOURCE_IDS) == t.num_rows
    ids = {s: set(parts[s][col].to_pylist()) for s, col in sample.SOURCE_IDS.items()}
    assert all(not (ids[a] & ids[b]) for a in ids for b in ids if a < b)  # no id shared between systems
    web = parts["web"].to_pandas()
    # every web visitor with an account logs in at least once; anonymous events before it still count
    logged = web.groupby("cookie_id").user_id.apply(lambda s: s.notna().any())
    crm = parts["crm"].to_pandas()
    assert set(web.user_id.dropna()) <= set(crm.user_id)
    assert logged.sum() == web.user_id.dropna().nunique()
    assert set(parts["email"].to_pandas().email) <= set(crm.email)
    assert set(parts["call_centre"].to_pandas().phone) <= set(crm.phone.dropna())


def test_the_bundled_sample_stitches_back_into_the_original_journeys(tmp_path):
    from journeys.analyses.base import journeys_for
    from journeys.analyses.transitions import compute_transitions
    from journeys.bootstrap import SAMPLE_FILE, ensure_sample
    from journeys.engine.store import Store
    from journeys.shaping import Shaping

    with Store(tmp_path / "home") as store:
        info = ensure_sample(store)
        assert info is not None and info.source == "4 sources"
        whole = store.ingest(SAMPLE_FILE, name="whole").dataset_id
        stitched, original = store.table(info.id), store.table(whole)
        assert info.report.customers == original.customer_id.nunique().execute() == 12885
        a = compute_transitions(journeys_for(original, Shaping(goal="purchase")), goal="purchase")
        b = compute_transitions(journeys_for(stitched, Shaping(goal="purchase")), goal="purchase")
        assert a.edges.equals(b.edges) and a.journeys == b.journeys
        cols = ["ts", "session_id", "touchpoint", "step", "next_touchpoint", "device"]
        x = original.select(*cols).order_by(cols).to_pandas()
        y = stitched.select(*cols).order_by(cols).to_pandas()
        assert x.equals(y)  # same steps per event: the planted effects are where they were
        report = store.stitching(info.id)
        assert report is not None and report.persons_after == 12885 and report.persons_before > 12885
        assert report.share_multi_source_before == 0 and report.share_multi_source_after > 0.1
