"""Drivers against a plain-Python reference: counts per candidate from sorted event lists, odds ratios and
intervals from statsmodels, p-values from scipy (Fisher / chi-square), q-values from statsmodels' BH."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.multitest import multipletests

from journeys import sample
from journeys.analyses.base import journeys_for
from journeys.analyses.drivers import COUNTS, LAST_K, DriversQuery, compute_drivers, key_touchpoints
from journeys.outcomes import Outcomes
from journeys.shaping import Shaping
from tests.conftest import frame, records

ALL = ("touchpoint", "count", "transition", "attribute", "first", "last")


def reference_counts(rows: list[dict[str, Any]], goals: tuple[str, ...], window_days: int | None,
                     kinds: tuple[str, ...], attributes: tuple[str, ...] = (), last_k: int = LAST_K,
                     ) -> tuple[dict[tuple[str, str], tuple[int, int]], int, int]:
    """{(kind, item): (exposed, exposed with the outcome)}, customers, customers with the outcome."""
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["customer_id"]].append(r)
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    won = 0
    for evs in by.values():
        evs.sort(key=lambda r: (r["ts"], r["seq"]))
        cut = next((i for i, r in enumerate(evs) if r["touchpoint"] in goals), None)
        outcome = cut is not None
        won += outcome
        seen = evs[:cut] if cut is not None else evs
        if window_days is not None:
            until = evs[0]["ts"] + timedelta(days=window_days)
            seen = [r for r in seen if r["ts"] < until]
        tps = [r["touchpoint"] for r in seen]
        items: set[tuple[str, str]] = set()
        n = Counter(tps)
        if "touchpoint" in kinds:
            items |= {("touchpoint", t) for t in n}
        if "count" in kinds:
            items |= {("count", f"{t} >= {k}") for t, c in n.items() for k in COUNTS if c >= k}
        if "transition" in kinds:
            items |= {("transition", f"{x} -> {y}") for x, y in zip(tps, tps[1:], strict=False)}
        if "first" in kinds and seen:
            items.add(("first", tps[0]))
            if seen[0]["channel"] is not None:
                items.add(("first", f"channel = {seen[0]['channel']}"))
        if "last" in kinds and seen:
            items.add(("last", tps[-1]))
        if "lastk" in kinds:
            items |= {("lastk", t) for t in tps[-last_k:]}
        if "attribute" in kinds:
            items |= {("attribute", f"{c} = {r[c]}") for r in seen for c in attributes if r.get(c) is not None}
        for key in items:
            if key[0] != "attribute" and any(g == part for g in goals for part in key[1].replace(" -> ", "\0").split("\0")):
                continue
            counts[key][0] += 1
            counts[key][1] += outcome
    return {k: (v[0], v[1]) for k, v in counts.items()}, len(by), won


def reference_table(counts: dict[tuple[str, str], tuple[int, int]], n: int, won: int) -> pd.DataFrame:
    out = []
    for (kind, item), (exposed, a) in counts.items():
        b, c = exposed - a, won - a
        d = n - won - b
        cells = np.array([[a, b], [c, d]], dtype=float)
        ranked = exposed >= 30 and min(a, b, c, d) >= 5
        t = Table2x2(cells + 0.5 if min(a, b, c, d) == 0 else cells)
        odds, (lo, hi) = t.oddsratio, t.oddsratio_confint(method="normal")
        if min(a + b, c + d, a + c, b + d) == 0:  # a whole row or column empty: nothing to compare
            odds, lo, hi, p, ranked = math.nan, math.nan, math.nan, 1.0, False
        elif sps.contingency.expected_freq(cells).min() < 5:
            p = sps.fisher_exact(cells.astype(int)).pvalue
        else:
            p = sps.chi2_contingency(cells, correction=False).pvalue
        out.append({"kind": kind, "item": item, "exposed_converted": a, "exposed_not": b, "unexposed_converted": c,
                    "unexposed_not": d, "odds_ratio": odds, "ci_low": lo, "ci_high": hi, "p_value": p,
                    "ranked": ranked, "rate_with": a / exposed, "rate_without": c / (c + d) if c + d else math.nan})
    ref = pd.DataFrame(out)
    ref["q_value"] = math.nan
    tested = ref.index[ref.ranked]
    if len(tested):
        ref.loc[tested, "q_value"] = multipletests(list(ref.loc[tested, "p_value"]), method="fdr_bh")[1]
    return ref.sort_values(["kind", "item"]).reset_index(drop=True)


def assert_matches(result_table: pd.DataFrame, ref: pd.DataFrame, *, check_stats: bool = True) -> None:
    got = result_table.sort_values(["kind", "item"]).reset_index(drop=True)
    assert list(zip(got.kind, got.item, strict=True)) == list(zip(ref.kind, ref.item, strict=True))
    for col in ("exposed_converted", "exposed_not", "unexposed_converted", "unexposed_not"):
        assert list(got[col]) == list(ref[col]), col
    assert list(got.ranked) == list(ref.ranked)
    if check_stats:
        for col in ("odds_ratio", "ci_low", "ci_high", "p_value", "q_value", "rate_with"):
            np.testing.assert_allclose(got[col].astype(float), ref[col].astype(float), rtol=1e-9, atol=1e-300,
                                       equal_nan=True, err_msg=col)


def shop_frame(events: int = 3000, seed: int = 5) -> pd.DataFrame:
    df = sample.generate(events, seed=seed).to_pandas()
    out = pd.DataFrame({"customer_id": df.customer_id, "ts": pd.to_datetime(df.timestamp.str.rstrip("Z")),
                        "seq": range(len(df)), "touchpoint": df.touchpoint, "channel": df.channel,
                        "session_id": df.session_id, "value": df.revenue.astype(float), "score": df.csat.astype(float),
                        "text": df.feedback, "device": df.device, "country": df.country})
    out["ts"] = out["ts"].astype("datetime64[us]")
    return out


@pytest.fixture(scope="module")
def shop() -> pd.DataFrame:
    return shop_frame()


@pytest.mark.parametrize("window", [30, None, 2])
def test_generated_shop_matches_the_reference(duck, shop, window):
    t = duck.table(shop)
    q = DriversQuery(outcomes=Outcomes(goals=("purchase",)), window_days=window, attributes=("device", "country"))
    r = compute_drivers(journeys_for(t, Shaping()), q)
    counts, n, won = reference_counts(records(shop), ("purchase",), window, ALL, ("device", "country"))
    assert (r.customers, r.with_outcome) == (n, won)
    assert r.tested > 10 and r.held_back > 0  # the floors and the q-values both get exercised
    assert_matches(r.table, reference_table(counts, n, won))


def test_key_touchpoints_match_the_reference(duck, shop):
    r = key_touchpoints(journeys_for(duck.table(shop), Shaping()), DriversQuery(outcomes=Outcomes(goals=("purchase",))))
    counts, n, won = reference_counts(records(shop), ("purchase",), None, ("lastk",))
    assert_matches(r.table, reference_table(counts, n, won))
    row = r.table[r.table.item == "checkout"].iloc[0]
    assert row.share_with == pytest.approx(row.exposed_converted / won)


TPS = ("a", "b", "c", "d", "goal")


@st.composite
def logs(draw: Any) -> pd.DataFrame:
    rows = []
    for cust in range(draw(st.integers(1, 14))):
        for _ in range(draw(st.integers(1, 9))):
            # minutes over ~6 days with deliberate ties, so (ts, seq) order and the window both matter
            minute = draw(st.sampled_from([0, 0, 30, 1440, 2880, 2880, 4000, 8000]))
            rows.append((f"u{cust}", minute, draw(st.sampled_from(TPS)), draw(st.sampled_from(["web", "app", None]))))
    order = draw(st.permutations(list(range(len(rows)))))
    df = frame([rows[i] for i in order], extra=None)
    df["device"] = [draw(st.sampled_from(["mobile", "desktop", None])) for _ in range(len(df))]
    return df


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(df=logs(), window=st.sampled_from([None, 1, 3]))
def test_random_logs_match_the_reference(duck, df, window):
    counts, n, won = reference_counts(records(df), ("goal",), window, ALL, ("device",))
    q = DriversQuery(outcomes=Outcomes(goals=("goal",)), window_days=window, attributes=("device",))
    j = journeys_for(duck.table(df), Shaping())
    if won in (0, n):
        with pytest.raises(Exception, match="nothing to explain|no one to compare"):
            compute_drivers(j, q)
        return
    r = compute_drivers(j, q)
    assert (r.customers, r.with_outcome) == (n, won)
    assert_matches(r.table, reference_table(counts, n, won))
