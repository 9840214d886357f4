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
    # buyers come back (BG/NBD-like): a realistic share buys on another day, fewer on mobile (the checkout
    # problem costs repeat purchases too), and some who bought often have lapsed for months
    bought = df[df.touchpoint == "purchase"].assign(day=lambda d: d.timestamp.str[:10])
    per = bought.groupby("customer_id").agg(days=("day", "nunique"), device=("device", "first"), last=("day", "max"))
    assert 0.2 < (per.days > 1).mean() < 0.45
    again = (per.days > 1).groupby(per.device).mean()
    assert again["mobile"] < 0.8 * again["desktop"]
    loyal = per[per.days > 2]
    assert 0.1 < (loyal["last"] < "2025-07-09").mean() < 0.5  # bought 3+ days, nothing in the last 4 months


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
        assert info.report.customers == original.customer_id.nunique().execute() == 11323
        a = compute_transitions(journeys_for(original, Shaping(goal="purchase")), goal="purchase")
        b = compute_transitions(journeys_for(stitched, Shaping(goal="purchase")), goal="purchase")
        assert a.edges.equals(b.edges) and a.journeys == b.journeys
        cols = ["ts", "session_id", "touchpoint", "step", "next_touchpoint", "device"]
        x = original.select(*cols).order_by(cols).to_pandas()
        y = stitched.select(*cols).order_by(cols).to_pandas()
        assert x.equals(y)  # same steps per event: the planted effects are where they were
        report = store.stitching(info.id)
        assert report is not None and report.persons_after == 11323 and report.persons_before > 11323
        assert report.share_multi_source_before == 0 and report.share_multi_source_after > 0.1


def test_the_bundled_sample_has_the_planted_repeat_buyers_and_at_risk_high_value_customers(tmp_path):
    """sample_data/README.md's repeat-purchase figures, counted with pandas from the CSV; the at-risk high-value
    list is not empty and is the one the paper's P(alive) formula gives at the fitted parameters."""
    import pandas as pd

    from journeys.analyses.palive import PAliveQuery, compute_palive
    from journeys.analyses.palive_product import at_risk_high_value, customer_value
    from journeys.bootstrap import SAMPLE_FILE
    from journeys.engine.store import Store

    df = pd.read_csv(SAMPLE_FILE, dtype={"customer_id": str})
    bought = df[df.touchpoint == "purchase"].assign(day=lambda d: pd.to_datetime(d.timestamp).dt.floor("D"))
    per = bought.groupby("customer_id").agg(days=("day", "nunique"), first=("day", "min"), last=("day", "max"),
                                            value=("revenue", "sum"))
    customers, repeat, thrice = df.customer_id.nunique(), int((per.days > 1).sum()), int((per.days > 2).sum())
    assert (customers, len(per), repeat, thrice) == (11323, 1021, 326, 100)
    readme = " ".join((SAMPLE_FILE.parent / "README.md").read_text().split())
    assert (f"{len(per):,} of {customers:,} customers bought, {repeat:,} of them ({repeat / len(per):.1%}) on two "
            f"days or more and {thrice:,} on three or more") in readme
    end = pd.to_datetime(df.timestamp).max().floor("D")
    with Store(tmp_path / "home") as store:
        events = store.table(store.ingest(SAMPLE_FILE, name="shop").dataset_id)
        result = compute_palive(events, PAliveQuery())
        risky, threshold = at_risk_high_value(result, customer_value(events, ("purchase",), result.until))
    assert result.converged and result.customers_modelled == 1021
    x, tx = per.days - 1, (per["last"] - per["first"]).dt.days / 7
    big_t = (end - per["first"]).dt.days / 7
    r, alpha, a, b = result.params.r, result.params.alpha, result.params.a, result.params.b
    odds = (x > 0) * a / (b + x - 1).clip(lower=1e-12) * ((alpha + big_t) / (alpha + tx)) ** (r + x)
    alive = 1 / (1 + odds)
    assert threshold == per.value.quantile(0.75)
    expected = per[(alive >= 0.3) & (alive <= 0.7) & (per.value >= threshold)]
    assert 10 <= len(risky) <= 300
    assert sorted(risky.customer_id) == sorted(expected.index)


def test_the_bundled_files_are_what_the_generator_writes(tmp_path):
    """sample_data/ is regenerated whenever the generator changes (``python -m journeys.sample``)."""
    from journeys.bootstrap import SAMPLE_FILE

    sample.write_bundle(tmp_path)
    bundled = SAMPLE_FILE.parent
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.csv"))
    assert [str(p) for p in written] == sorted(["shop_events.csv", *(f"sources/{f}" for f in sample.BUNDLE_SOURCES.values())])
    for path in written:
        assert (tmp_path / path).read_bytes() == (bundled / path).read_bytes(), path
