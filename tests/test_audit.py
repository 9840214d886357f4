"""The audit log: who did what and when, filtered, downloadable (journeys/auth/audit.py)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from journeys.auth import audit
from journeys.auth.acting import act_as, actor, stop_acting


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JOURNEYS_HOME", str(tmp_path))
    return tmp_path


def test_entries_come_back_newest_first_and_filtered():
    first = audit.record("download_customers", "paths_node_3_cart", user="ann", detail={"rows": 120, "dataset": "d1"})
    audit.record("push_audience", "at risk", user="bob", detail={"destination": "crm", "members": 1200})
    audit.record("delete_dataset", "d1", user="ann", detail={"name": "shop"})
    got = audit.entries()
    assert [(e.user, e.action, e.target) for e in got] == [
        ("ann", "delete_dataset", "d1"), ("bob", "push_audience", "at risk"), ("ann", "download_customers", "paths_node_3_cart")]
    assert got[-1] == first and first.detail == {"rows": 120, "dataset": "d1"}
    assert [e.action for e in audit.entries(user="ann")] == ["delete_dataset", "download_customers"]
    assert [e.target for e in audit.entries(action="push_audience")] == ["at risk"]
    assert len(audit.entries(limit=2)) == 2
    assert audit.entries(since="2999-01-01") == []
    assert first.ts.endswith("+00:00") and len(first.ts) == 25  # ISO 8601 UTC, seconds


def test_the_actor_defaults_to_who_acts_in_this_context():
    assert actor().startswith("cli")
    assert audit.record("delete_dataset", "d2").user == actor()
    token = act_as("carol")
    try:
        assert audit.record("download_customers", "list").user == "carol"
    finally:
        stop_acting(token)
    assert actor().startswith("cli")


def test_download_is_formula_safe_csv_with_every_entry():
    audit.record("download_customers", "=HYPERLINK(\"http://x\")", user="@evil", detail={"rows": 1})
    for i in range(3):
        audit.record("push_audience", f"a{i}", user="bob")
    rows = list(csv.reader(io.StringIO(audit.to_csv(audit.entries()).decode())))
    assert rows[0] == ["ts", "user", "action", "target", "detail"]
    assert len(rows) == 5
    last = rows[-1]
    assert last[1:4] == ["'@evil", "download_customers", "'=HYPERLINK(\"http://x\")"]
    assert json.loads(last[4]) == {"rows": 1}
    assert audit.to_csv([]).decode().strip() == "ts,user,action,target,detail"


def test_the_log_survives_other_processes(home: Path):
    audit.record("delete_dataset", "d3", user="ann")
    assert (home / "auth.sqlite").exists()
    assert [e.target for e in audit.entries(home=home)] == ["d3"]
