"""A store written by the previous release opens after the upgrade, loses nothing, and answers exactly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from journeys.analyses.base import journeys_for
from journeys.analyses.transitions import compute_transitions
from journeys.engine.store import Store
from journeys.errors import AmbiguousDataset
from journeys.shaping import Shaping

OLD = Path(__file__).parent / "data" / "store_v0_1"


@pytest.fixture
def old_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(OLD / "journeys.duckdb", home / "journeys.duckdb")
    return home


def test_an_old_store_opens_with_every_dataset_and_the_same_numbers(old_home: Path, tmp_path: Path):
    old = Store(old_home)
    infos = old.datasets()
    assert [(d.name, d.rows) for d in infos] == [("events", 300), ("events", 300)]
    with pytest.raises(AmbiguousDataset, match=r"2 datasets are named 'events': use the id"):
        old.get("events")
    fresh = Store(tmp_path / "fresh")
    fresh_id = fresh.ingest(OLD / "shop.csv").dataset_id
    want = compute_transitions(journeys_for(fresh.table(fresh_id), Shaping(goal="purchase")), goal="purchase")
    for info in infos:
        got = compute_transitions(journeys_for(old.table(info.id), Shaping(goal="purchase")), goal="purchase")
        assert got.edges.equals(want.edges) and got.journeys == want.journeys
    # it stays writable: a rename and a new load work, and the new load's name is made unique
    old.rename(infos[0].id, "events (first)")
    report = old.ingest(OLD / "shop.csv", name="events")
    assert report.name == "events (2)"
    assert sorted(d.name for d in old.datasets()) == ["events", "events (2)", "events (first)"]
    old.close()
    fresh.close()
    assert len(Store(old_home).datasets()) == 3
