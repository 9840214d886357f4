"""Personal data: detection, masking, salted export hashes and pseudonymisation at ingest (journeys/privacy.py)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeys import privacy
from journeys.analyses.base import journeys_for
from journeys.analyses.transitions import compute_transitions
from journeys.auth.keys import load_key
from journeys.engine.store import Store
from journeys.shaping import Shaping

KEY = bytes(range(32))


@pytest.fixture(autouse=True)
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEYS_KEY_DIR", str(tmp_path / "keys"))
    for var in ("JOURNEYS_PSEUDONYM_KEY", "JOURNEYS_EXPORT_SALT", "JOURNEYS_PSEUDONYMIZE"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(("value", "kind", "masked"), [
    ("john.doe@example.com", "email", "j***@example.com"),
    ("  Ann+news@mail.example.co.uk ", "email", "A***@mail.example.co.uk"),
    ("+44 20 7946 0958", "phone", "***58"),
    ("0044 20 7946 0958", "phone", "***58"),
    ("020 7946 0958", "phone", "***58"),
    ("(020) 7946 0958", "phone", "***58"),
    ("555-010-0199", "phone", "***99"),
    ("+33.1.23.45.67.89", "phone", "***89"),
    ("c-000123", None, "c-000123"),
    ("12345678", None, "12345678"),  # an order number, not a phone
    ("2026-11-25", None, "2026-11-25"),
    ("01.02.2026", None, "01.02.2026"),
    ("192.168.1.1", None, "192.168.1.1"),
    ("ann@localhost", None, "ann@localhost"),
    ("+12345", None, "+12345"),
])
def test_what_counts_as_personal_and_how_it_is_masked(value, kind, masked):
    assert privacy.kind_of(value) == kind
    assert privacy.mask(value) == masked


def test_masking_inside_text_and_frames():
    text = "Call +44 20 7946 0958 or write to jo.smith@example.org about order 12345678 of 2026-11-25."
    assert privacy.mask_text(text) == "Call ***58 or write to j***@example.org about order 12345678 of 2026-11-25."
    frame = pd.DataFrame({"customer_id": ["ann@example.com", "bob@example.org"], "n": [3, 4],
                          "text": ["ok", "ring me on 020 7946 0958"], "device": ["mobile", "desktop"]})
    assert privacy.pii_in_frame(frame) == ["customer_id", "text"]
    shown = privacy.mask_frame(frame, ["customer_id", "text"])
    assert shown.to_dict("list") == {"customer_id": ["a***@example.com", "b***@example.org"], "n": [3, 4],
                                     "text": ["ok", "ring me on ***58"], "device": ["mobile", "desktop"]}
    assert frame.customer_id[0] == "ann@example.com"  # the original is untouched


def test_salted_hashes_join_but_do_not_reveal():
    salt = b"s" * 32
    a = privacy.salted_hash("ann@example.com", salt)
    assert a == hmac.new(salt, b"ann@example.com", hashlib.sha256).hexdigest()[:24]
    assert a == privacy.salted_hash("ann@example.com", salt) != privacy.salted_hash("ann@example.com", b"t" * 32)
    assert privacy.salted_hash(None, salt) is None
    frame = privacy.hash_frame(pd.DataFrame({"customer_id": ["x", "x", "y"], "n": [1, 2, 3]}), ["customer_id"], salt)
    assert frame.customer_id.nunique() == 2 and "x" not in set(frame.customer_id) and list(frame.n) == [1, 2, 3]
    # without a salt given, the server's salt from the key folder is used, the same every time
    assert privacy.salted_hash("x") == privacy.salted_hash("x") == privacy.salted_hash("x", load_key("export-salt"))


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=80), st.binary(min_size=32, max_size=32))
def test_pseudonyms_in_sql_equal_python_hmac(value, key):
    con = duckdb.connect()
    sql = privacy.pseudonymize_sql("$1", key)
    got = con.execute(f"SELECT {sql}", [value]).fetchone()[0]
    assert got == privacy.pseudonym(value, key) == hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]
    assert con.execute(f"SELECT {privacy.pseudonymize_sql('NULL::VARCHAR', key)}").fetchone()[0] is None


def test_detection_runs_in_the_engine(duck):
    t = duck.table(pd.DataFrame({
        "customer_id": ["ann@example.com", "bob@example.org", "c-3", None],
        "phone": ["+44 20 7946 0958", "020 7946 0958", "", "555-010-0199"],
        "plan": ["12345678", "87654321", "1", "2"],
        "text": ["hello", "write to jo@example.org", "fine", None],
        "notes": ["a", "b", "c", "d"],
    }))
    assert privacy.detect_pii(t, ["customer_id", "phone", "plan"], text_columns=["text", "notes"]) == {
        "customer_id": "e-mail addresses", "phone": "phone numbers", "text": "e-mail addresses in text"}
    assert privacy.detect_pii(t, ["missing"]) == {}


LOG = """user_id,timestamp,event,email,note
ann@example.com,2026-01-01 10:00,view,ann@example.com,call +44 20 7946 0958
ann@example.com,2026-01-01 10:05,cart,ann@example.com,
bob@example.org,2026-01-01 11:00,view,bob@example.org,ok
bob@example.org,2026-01-01 11:01,buy,bob@example.org,thanks
c-3,2026-01-02 09:00,view,,
"""
MAP = {"customer": "user_id", "timestamp": "timestamp", "touchpoint": "event", "text": "note"}


def _load(tmp_path: Path, name: str, pseudonymize: bool) -> tuple[Store, str]:
    path = tmp_path / "log.csv"
    path.write_text(LOG)
    store = Store(tmp_path / name)
    with privacy.pseudonymizing(pseudonymize):
        report = store.ingest(path, overrides=MAP, name="log")
    return store, report.dataset_id


def test_load_report_names_personal_data_columns(tmp_path: Path):
    store, ds = _load(tmp_path, "plain", False)
    report = store.get(ds).report
    assert ("Personal data: 'user_id' (e-mail addresses); 'email' (e-mail addresses); 'note' (phone numbers in text). "
            "Viewers see these masked, and exports by roles without the download right carry salted hashes."
            ) in report.warnings
    assert not any(w.startswith("Pseudonymised") for w in report.warnings)
    ids = set(store.table(ds).customer_id.execute())
    assert ids == {"ann@example.com", "bob@example.org", "c-3"}


def test_pseudonymised_ingest_stores_keyed_hashes_and_analyses_agree(tmp_path: Path):
    plain, ds_plain = _load(tmp_path, "plain", False)
    hidden, ds_hidden = _load(tmp_path, "hidden", True)
    key = load_key("pseudonym")
    events = hidden.table(ds_hidden).to_pandas()
    assert set(events.customer_id) == {privacy.pseudonym(i, key) for i in ("ann@example.com", "bob@example.org", "c-3")}
    assert set(events.email.dropna()) == {privacy.pseudonym(i, key) for i in ("ann@example.com", "bob@example.org")}
    raw = b"".join(p.read_bytes() for p in (tmp_path / "hidden").rglob("*") if p.is_file())
    assert b"ann@example.com" not in raw and b"bob@example.org" not in raw
    warnings = hidden.get(ds_hidden).report.warnings
    assert any(w.startswith("Pseudonymised: 'user_id', 'email' stored as keyed hashes") for w in warnings)
    # equal ids give equal hashes: every count is the same as on the raw ids
    for goal in (None, "buy"):
        a = compute_transitions(journeys_for(plain.table(ds_plain), Shaping(goal=goal))).edges
        b = compute_transitions(journeys_for(hidden.table(ds_hidden), Shaping(goal=goal))).edges
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_pseudonymising_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("JOURNEYS_PSEUDONYMIZE", "1")
    store, ds = _load(tmp_path, "env", False)  # the server-wide setting wins over the block's default
    assert "c-3" not in set(store.table(ds).customer_id.execute())


def test_stitching_still_works_on_pseudonymised_sources_and_identity_files(tmp_path: Path):
    web = tmp_path / "web.csv"
    web.write_text("cookie,timestamp,event\nck1,2026-01-01 10:00,view\nck1,2026-01-01 10:05,cart\n"
                   "ck2,2026-01-02 10:00,view\n")
    mail = tmp_path / "mail.csv"
    mail.write_text("email,timestamp,event\nann@example.com,2026-01-01 11:00,buy\nbob@example.org,2026-01-03 09:00,open\n")
    ids = tmp_path / "crm.csv"
    ids.write_text("cookie,email\nck1,ann@example.com\nck2,bob@example.org\n")

    def load(name: str, on: bool) -> tuple[Store, str]:
        store = Store(tmp_path / name)
        with privacy.pseudonymizing(on):
            ds = store.ingest(web, overrides={"customer": "cookie", "timestamp": "timestamp", "touchpoint": "event"},
                              name="shop").dataset_id
            store.ingest(mail, overrides={"customer": "email", "timestamp": "timestamp", "touchpoint": "event"},
                         into=ds)
            store.add_identities(ds, ids, ["cookie", "email"])
        return store, ds

    plain, a = load("plain", False)
    hidden, b = load("hidden", True)
    assert plain.table(a).customer_id.nunique().execute() == hidden.table(b).customer_id.nunique().execute() == 2
    x = compute_transitions(journeys_for(plain.table(a), Shaping(goal="buy"))).edges
    y = compute_transitions(journeys_for(hidden.table(b), Shaping(goal="buy"))).edges
    pd.testing.assert_frame_equal(x.reset_index(drop=True), y.reset_index(drop=True))
    assert "ann@example.com" not in set(hidden.table(b).to_pandas().astype(str).stack())
