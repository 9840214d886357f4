"""The CLI contract: JSON fields, exit codes, one clear line on stderr, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JOURNEYS_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "journeys", *args], capture_output=True, text=True, env=env, check=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_the_helpdesk_export_loads_without_a_preset(home):
    out = cli("ingest", str(DATA / "helpdesk_slice.csv"), "--format", "json", home=home)
    assert out.returncode == 0, out.stderr
    info = json.loads(cli("info", "helpdesk_slice", "--format", "json", home=home).stdout)
    assert info["mapping"] == {"customer": "case_id", "timestamp": "timestamp", "touchpoint": "activity",
                               "channel": "resource"}


def test_ingest_json_and_listing(home):
    out = cli("ingest", str(DATA / "helpdesk_slice.csv"), "--preset", "process-mining", "--name", "tickets",
              "--format", "json", home=home)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    for key in ("dataset_id", "rows_read", "rows_stored", "rejected", "duplicates", "tied_timestamps", "customers",
                "touchpoints", "start", "end"):
        assert key in report
    assert (report["rows_read"], report["rows_stored"], report["customers"], report["duplicates"]) == (200, 200, 43, 1)
    listed = json.loads(cli("datasets", "--format", "json", home=home).stdout)["datasets"]
    assert [d["name"] for d in listed] == ["tickets"] and listed[0]["id"] == report["dataset_id"]
    info = cli("info", "tickets", home=home)
    assert info.returncode == 0 and "Rows read: 200; stored: 200; rejected: 0" in info.stdout


def test_map_and_tz_options(home, tmp_path):
    f = tmp_path / "e.csv"
    f.write_text("who;when;what\n001;2024-07-01 12:00;home\n")
    out = cli("ingest", str(f), "--map", "customer=who", "--map", "timestamp=when", "--map", "touchpoint=what",
              "--tz", "Europe/Berlin", "--format", "json", home=home)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["start"] == "2024-07-01 10:00:00"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "/no/such/file.csv"], "does not exist"),
        (["ingest", str(DATA / "ecom_slice.csv"), "--map", "customer=usr_id"], "Did you mean 'user_id'"),
        (["ingest", str(DATA / "ecom_slice.csv"), "--map", "customer"], "--map expects ROLE=COLUMN"),
        (["ingest", str(DATA / "ecom_slice.csv"), "--tz", "Mars/Olympus"], "Unknown time zone"),
        (["info", "nope"], "No dataset 'nope'"),
        (["sample", "--events", "0", "--out", "x.csv"], "at least 1"),
    ],
)
def test_bad_input_exits_2_with_one_line(home, args, message):
    out = cli(*args, home=home)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_binary_garbage_file(home, tmp_path):
    f = tmp_path / "g.csv"
    f.write_bytes(os.urandom(4096))
    out = cli("ingest", str(f), home=home)
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_sample_writes_exactly_n_events(home, tmp_path):
    out = cli("sample", "--events", "1234", "--seed", "3", "--out", str(tmp_path / "s.parquet"), home=home)
    assert out.returncode == 0, out.stderr
    import pyarrow.parquet as pq

    assert pq.read_metadata(tmp_path / "s.parquet").num_rows == 1234


@pytest.fixture
def loaded(home):
    out = cli("ingest", str(DATA / "ecom_slice.csv"), "--name", "shop", "--format", "json", home=home)
    assert out.returncode == 0, out.stderr
    return home


def test_transitions_csv_and_ends(loaded):
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(cli("transitions", "shop", home=loaded).stdout)))
    assert {"source", "target", "count"} <= set(rows[0])
    assert not any(r["source"] == "START" or r["target"].startswith("END") for r in rows)
    with_ends = list(csv.DictReader(io.StringIO(cli("transitions", "shop", "--with-ends", home=loaded).stdout)))
    starts = sum(int(r["count"]) for r in with_ends if r["source"] == "START")
    assert starts == 7  # seven users in the slice
    assert sum(int(r["count"]) for r in rows) == 300 - 7  # every event but each journey's last has a successor


def test_paths_and_funnel_json(loaded):
    paths = json.loads(cli("paths", "shop", "--depth", "3", "--format", "json", home=loaded).stdout)
    assert {"nodes", "links", "coverage", "elapsed_s"} <= set(paths)
    assert sum(n["customers"] for n in paths["nodes"] if n["step"] == 1) == 7
    assert {"step", "label", "customers"} <= set(paths["nodes"][0]) and {"source", "target", "customers"} <= set(paths["links"][0])
    funnel = json.loads(cli("funnel", "shop", "--steps", "home,product_view", "--window", "30d", "--format", "json",
                            home=loaded).stdout)
    assert next(s["customers"] for s in funnel["steps"]) == 7 and "elapsed_s" in funnel


def test_analysis_errors(loaded):
    out = cli("funnel", "shop", "--steps", "hom,cart", home=loaded)
    assert out.returncode == 2 and "Unknown touchpoint 'hom'. Did you mean 'home'" in out.stderr
    out = cli("paths", "shop", "--depth", "30", home=loaded)
    assert out.returncode == 2 and "between 1 and 20" in out.stderr
    out = cli("funnel", "shop", "--steps", "home", "--window", "soon", home=loaded)
    assert out.returncode == 2 and "not a duration" in out.stderr


def test_a_second_load_with_a_taken_name_gets_a_suffix_and_says_so(loaded):
    out = cli("ingest", str(DATA / "ecom_slice.csv"), "--name", "shop", home=loaded)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].endswith("'shop (2)' from ecom_slice.csv")
    assert lines[-1] == "Warning: A dataset named 'shop' already exists, so this one is named 'shop (2)'."
    assert cli("info", "shop (2)", home=loaded).returncode == 0


def test_info_on_a_name_two_datasets_share_asks_for_the_id(loaded):
    from journeys.engine.store import Store

    second = cli("ingest", str(DATA / "ecom_slice.csv"), "--name", "crm", "--format", "json", home=loaded)
    store = Store(loaded)  # a store from before names were unique
    store.cursor().execute("UPDATE datasets SET name = 'shop'")
    ids = [d.id for d in store.datasets()]  # oldest first, as the message lists them
    store.close()
    assert json.loads(second.stdout)["dataset_id"] in ids
    out = cli("info", "shop", home=loaded)
    assert out.returncode == 2
    assert out.stderr.strip() == f"journeys: error: 2 datasets are named 'shop': use the id ({', '.join(ids)})."
    assert cli("info", ids[1], home=loaded).returncode == 0


MAP_REMEDY = "Map columns with --map ROLE=COLUMN (roles: customer, timestamp, touchpoint, channel, session, value, score, text, alias)."
SEGMENT_EXAMPLE = 'E.g. {"c":"and","i":[{"k":"did","v":["cart"]}]}.'


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["ingest", str(DATA / "ecom_slice.csv"), "--map", "customer=usr_id"],
         ("Column 'usr_id' (mapped to customer) is not in the file. Did you mean 'user_id'? Columns: user_id, "
          "session_id, event, timestamp, platform, acquisition_channel, user_cohort, user_lifecycle. " + MAP_REMEDY)),
        (["ingest", str(DATA / "ecom_slice.csv"), "--preset", "mixpanel"],
         ("This file does not look like a mixpanel export: no customer column ('distinct_id' or '$distinct_id' or "
          "'properties.distinct_id'). Columns: user_id, session_id, event, timestamp, platform, acquisition_channel, "
          "user_cohort, user_lifecycle. Use another --preset, or leave it out and map columns with --map ROLE=COLUMN.")),
        (["info", "shap"],
         "No dataset 'shap' in the store (it may have been deleted). Did you mean 'shop'? List them with `journeys datasets`."),
        (["paths", "shop", "--segment", "[1"],
         f"--segment is not a segment in JSON (Expecting ',' delimiter: line 1 column 3 (char 2)). {SEGMENT_EXAMPLE}"),
        (["paths", "shop", "--segment", '{"x": 1}'], f"--segment is not a segment in JSON ('k'). {SEGMENT_EXAMPLE}"),
    ],
)
def test_cli_errors_speak_cli(loaded, args, line):
    out = cli(*args, home=loaded)
    assert out.returncode == 2 and out.stderr.strip() == f"journeys: error: {line}"
    assert "link" not in out.stderr and "below" not in out.stderr and "page" not in out.stderr


NOBODY = ("No customer matched the segment (customers who have platform martian): no event has platform 'martian'. "
          "Known values of platform: {known}.")


@pytest.mark.parametrize("command", [["paths", "shop"], ["funnel", "shop", "--steps", "home,product_view"],
                                     ["transitions", "shop"]])
def test_a_segment_that_matches_nobody_is_a_sentence(loaded, command):
    import csv

    known = sorted({r["platform"] for r in csv.DictReader((DATA / "ecom_slice.csv").open())})
    assert cli("transitions", "shop", "--where", f"platform={known[0]}", home=loaded).stdout.count("\n") > 1
    counts = {p: sum(1 for r in csv.DictReader((DATA / "ecom_slice.csv").open()) if r["platform"] == p) for p in known}
    expected = NOBODY.format(known=", ".join(sorted(known, key=lambda p: (-counts[p], p))))
    fmt = "csv" if command[0] == "transitions" else "text"
    out = cli(*command, "--where", "platform=martian", "--format", fmt, home=loaded)
    assert out.returncode == 0, out.stderr
    if fmt == "csv":  # stdout stays a CSV for scripts; the sentence goes to stderr
        assert out.stdout.strip() == "source,target,count,customers,share,probability,median_s,p90_s"
        assert out.stderr.strip() == expected
    else:
        assert out.stdout.strip() == expected and out.stderr == ""
    assert "Empty DataFrame" not in out.stdout + out.stderr
    data = json.loads(cli(*command, "--where", "platform=martian", "--format", "json", home=loaded).stdout)
    assert data["message"] == expected


def test_a_near_miss_value_and_touchpoint_are_suggested(loaded):
    out = cli("paths", "shop", "--where", "platform=mobil", "--did", "purchse", "--format", "json", home=loaded)
    assert json.loads(out.stdout)["message"] == (
        "No customer matched the segment (customers who have platform mobil and did purchse): no event has platform "
        "'mobil'. Known values of platform: desktop, mobile, tablet. Did you mean 'mobile'? Also, no event has "
        "touchpoint 'purchse'. Known values of touchpoint: product_view, catalog, search, home, add_to_cart, "
        "filter_results, cart, shipping_details, payment_details, purchase, promo_page, review_page and 5 more. "
        "Did you mean 'purchase'?")


def test_a_segment_of_existing_values_that_nobody_meets(loaded):
    out = cli("paths", "shop", "--did", "home", "--did-not", "home", home=loaded)
    assert out.returncode == 0
    assert out.stdout.strip() == ("No customer matched the segment (customers who did home and did not do home): "
                                  "every value it names exists, but no customer meets all its conditions.")


def test_a_start_touchpoint_is_checked_against_the_whole_dataset(loaded):
    out = cli("paths", "shop", "--start", "home", "--where", "platform=martian", home=loaded)
    assert out.returncode == 0 and out.stdout.startswith("No customer matched the segment")


def test_funnel_breakdown_and_path_variants_give_the_dashboards_numbers(home, tmp_path):
    from journeys import sample
    from journeys.analyses.base import journeys_for
    from journeys.analyses.funnels import FunnelQuery, compute_funnel, step_gaps
    from journeys.analyses.paths import PathQuery, compute_paths
    from journeys.engine.store import Store
    from journeys.shaping import Shaping

    path = sample.write(sample.generate(6_000, seed=4), tmp_path / "shop.parquet")
    assert cli("ingest", str(path), "--name", "shop", home=home).returncode == 0
    steps = "product_view,add_to_cart,checkout,purchase"
    out = cli("funnel", "shop", "--steps", steps, "--breakdown", "device", "--format", "json", home=home)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    store = Store(home)
    table = store.table(store.datasets()[0].id)
    expected = compute_funnel(journeys_for(table, Shaping()),
                              FunnelQuery(steps=tuple((s,) for s in steps.split(",")), breakdown="device"))
    assert [r["customers"] for r in data["breakdown"]] == list(expected.breakdown.customers)
    assert [g["sentence"] for g in data["step_gaps"]] == [g.sentence() for g in step_gaps(expected)]
    assert data["step_gaps"][0]["sentence"].startswith("Biggest gap: checkout → purchase converts")  # planted on mobile
    out = json.loads(cli("paths", "shop", "--format", "json", home=home).stdout)
    auto = compute_paths(journeys_for(table, Shaping()), PathQuery())
    assert out["one_step_journeys_set_aside"] == auto.set_aside > 0 and out["variants_min_steps"] == 2
    assert [v["path"] for v in out["variants"]] == list(auto.variants.path)
    every = json.loads(cli("paths", "shop", "--min-steps", "1", "--format", "json", home=home).stdout)
    assert every["one_step_journeys_set_aside"] == 0 and len(every["variants"]) == 10
    # exclusions and per-step windows: the command line reads them as the link does (fx, sw)
    from journeys.views import ViewState

    link, _ = ViewState.from_params({"steps": [steps], "fx": ["product_view:2:3"], "sw": ["-,3m,-"]})
    out = cli("funnel", "shop", "--steps", steps, "--exclusion", "product_view:2:3", "--step-windows=-,3m,-",
              "--format", "json", home=home)
    assert out.returncode == 0, out.stderr
    query = link.funnel()
    assert query is not None and query.exclusions and query.step_windows
    expected = compute_funnel(journeys_for(table, Shaping()), query)
    assert [r["customers"] for r in json.loads(out.stdout)["steps"]] == list(expected.steps.customers)
    assert list(expected.steps.customers) != list(compute_funnel(journeys_for(table, Shaping()), FunnelQuery(
        steps=tuple((s,) for s in steps.split(",")))).steps.customers)  # they change the counts
    store.close()
    bad = cli("funnel", "shop", "--steps", steps, "--breakdown", "devise", home=home)
    assert bad.returncode == 2 and "Did you mean 'device'?" in bad.stderr
