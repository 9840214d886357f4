"""Attribution against ChannelAttribution on its own example path data (a slice, see tests/data/README.md).

``reference.json`` holds the package's results, made once by ``tests/data/channelattribution/make_reference.py``,
so these tests run without the package; with it installed, the live test checks the fixture is still what it says.
Rule-based credit must equal ``heuristic_models`` exactly; exact Markov removal effects must agree with
``markov_model``'s simulation (10 million paths) within its noise.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from journeys.analyses.attribution import AttributionQuery, compute_attribution
from journeys.analyses.base import journeys_for
from journeys.shaping import Shaping
from tests.test_markov import reference

DATA = Path(__file__).parent / "data" / "channelattribution"
REF = json.loads((DATA / "reference.json").read_text())
# 10M simulated paths, ~22% converting: a removal effect's standard error is below 0.0004
RE_TOLERANCE = 0.002


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory):
    from journeys.engine.store import Store

    store = Store(tmp_path_factory.mktemp("ca") / "home")
    report = store.ingest(DATA / "Data_head1000.csv", preset="paths")
    journeys = journeys_for(store.table(report.dataset_id), Shaping())
    out = {order: compute_attribution(journeys, AttributionQuery(
        goals=("conversion",), by="touchpoint", lookback=None, order=order, bootstrap=0)) for order in (1, 2)}
    yield out
    store.close()


def _ours(result, model: str, what: str) -> dict[str, float]:
    c = result.credits[result.credits.model == model]
    return dict(zip(c["item"], c[what], strict=True))


@pytest.mark.parametrize(("model", "ca"), [("first", "first_touch"), ("last", "last_touch"), ("linear", "linear_touch")])
def test_rules_equal_heuristic_models(result, model: str, ca: str) -> None:
    h = REF["heuristic"]
    ours_c, ours_v = _ours(result[1], model, "conversions"), _ours(result[1], model, "value")
    for i, channel in enumerate(h["channel_name"]):
        assert ours_c.get(channel, 0.0) == pytest.approx(h[f"{ca}_conversions"][i], rel=1e-12, abs=1e-9)
        assert ours_v.get(channel, 0.0) == pytest.approx(h[f"{ca}_value"][i], rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("order", [1, 2])
def test_markov_agrees_with_simulation(result, order: int) -> None:
    ref = REF["markov"][str(order)]
    effects = dict(zip(ref["removal_effects"]["channel_name"], ref["removal_effects"]["removal_effects_conversion"],
                       strict=True))
    values = dict(zip(ref["removal_effects"]["channel_name"],
                      ref["removal_effects"]["removal_effects_conversion_value"], strict=True))
    ours = _ours(result[order], "markov", "removal_effect")
    assert set(ours) == set(effects)
    for channel, re in effects.items():
        assert ours[channel] == pytest.approx(re, abs=RE_TOLERANCE), channel
    for channel, re in values.items():  # a conversion is worth the mean value of paths with its last state
        assert _ours(result[order], "markov", "value_removal_effect")[channel] == pytest.approx(re, abs=RE_TOLERANCE)
    credited = dict(zip(ref["result"]["channel_name"], ref["result"]["total_conversions"], strict=True))
    mine = _ours(result[order], "markov", "conversions")
    for channel, k in credited.items():
        assert mine[channel] == pytest.approx(k, rel=0.01, abs=2.0), channel
    mine_v = _ours(result[order], "markov", "value")
    credited_v = dict(zip(ref["result"]["channel_name"], ref["result"]["total_conversion_value"], strict=True))
    for channel, v in credited_v.items():
        assert mine_v[channel] == pytest.approx(v, rel=0.01, abs=10.0), channel


def test_markov_equals_the_exact_reference(result) -> None:
    """The same paths through the plain-Python fractions solver: equal to rounding, not to noise."""
    paths = result[1].paths
    rows = [(tuple(p), int(c), int(n), float(v)) for p, c, n, v in paths.itertuples(index=False)]
    p_ref, _ = reference(rows, 1, None)
    assert result[1].p_conversion == pytest.approx(float(p_ref), abs=1e-12)
    for channel in ("alpha", "eta", "delta"):
        pk, _ = reference(rows, 1, channel)
        assert _ours(result[1], "markov", "removal_effect")[channel] == pytest.approx(float(1 - pk / p_ref), abs=1e-12)


@pytest.mark.skipif(importlib.util.find_spec("ChannelAttribution") is None,
                    reason="channelattribution (GPL, the reference extra: pip install -e .[reference]) is not installed")
def test_fixture_is_what_the_package_says() -> None:
    import ChannelAttribution as ca

    data = pd.read_csv(DATA / "Data_head1000.csv", sep=";")
    heur = ca.heuristic_models(data, "path", "total_conversions", var_value="total_conversion_value", flg_pro=False)
    for col, values in REF["heuristic"].items():
        if col == "channel_name":
            assert list(heur[col]) == values
        else:
            assert list(heur[col]) == pytest.approx(values, rel=1e-12)
