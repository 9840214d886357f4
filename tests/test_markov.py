"""The absorbing-chain solver against hand-worked chains and a plain-Python exact reference (fractions)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from journeys.markov import (
    PathTable,
    absorption,
    build_chain,
    chain_states,
    design_chain,
    expected_visits,
    fit_chain,
    merge_repeats,
    removal_effects,
)


def reference(rows: list[tuple[tuple[str, ...], int, int, float]], order: int, removed: str | None) -> tuple[Fraction, Fraction]:
    """P(conversion) and expected value by first-step analysis on exact fractions (Gauss-Jordan).

    Builds the chain from scratch (its own state windows, its own counts): h(s) = P(conv | s) satisfies
    h(s) = sum_t P(s, t) h(t) + P(s, conv); removing a channel makes every state holding it worth 0.
    """
    counts: dict[tuple[object, object], int] = {}
    conv: dict[object, int] = {}
    value: dict[object, Fraction] = {}
    for path, c, n, v in rows:
        if c + n == 0 or not path:
            continue
        wins = [tuple(path[i:i + order]) for i in range(max(len(path) - order + 1, 1))]
        states = [w for i, w in enumerate(wins) if i == 0 or wins[i - 1] != w]
        prev: object = "START"
        for s in states:
            counts[prev, s] = counts.get((prev, s), 0) + c + n
            prev = s
        counts[prev, "CONV"] = counts.get((prev, "CONV"), 0) + c
        counts[prev, "NULL"] = counts.get((prev, "NULL"), 0) + n
        conv[prev] = conv.get(prev, 0) + c
        value[prev] = value.get(prev, Fraction(0)) + Fraction(v)
    out: dict[object, int] = {}
    for (a, _), k in counts.items():
        out[a] = out.get(a, 0) + k
    states_all = sorted({a for a, _ in counts} - {"START"}, key=repr)
    dead = {s for s in states_all if removed is not None and removed in s}  # type: ignore[operator]
    live = [s for s in states_all if s not in dead]
    pos = {s: i for i, s in enumerate(live)}
    mean_value = {s: (value.get(s, Fraction(0)) / conv[s]) if conv.get(s) else Fraction(0) for s in live}

    def solve(reward: dict[object, Fraction]) -> Fraction:
        m = len(live)
        a = [[Fraction(int(i == j)) for j in range(m)] + [Fraction(0)] for i in range(m)]
        for (src, dst), k in counts.items():
            if src in pos:
                p = Fraction(k, out[src])
                if dst in pos:
                    a[pos[src]][pos[dst]] -= p
                elif dst == "CONV":
                    a[pos[src]][m] += p * reward[src]
        for col in range(m):
            piv = next(r for r in range(col, m) if a[r][col] != 0)
            a[col], a[piv] = a[piv], a[col]
            a[col] = [x / a[col][col] for x in a[col]]
            for r in range(m):
                if r != col and a[r][col] != 0:
                    f = a[r][col]
                    a[r] = [x - f * y for x, y in zip(a[r], a[col], strict=True)]
        h = {s: a[pos[s]][m] for s in live}
        return sum((Fraction(k, out["START"]) * h[dst] for (src, dst), k in counts.items()
                    if src == "START" and dst in pos), Fraction(0))

    return solve(dict.fromkeys(live, Fraction(1))), solve(mean_value)


def test_state_windows_follow_channelattribution() -> None:
    assert merge_repeats(["a", "a", "b", "a", "a"]) == ("a", "b", "a")
    assert chain_states(["a", "a", "b"], 1) == [("a",), ("b",)]
    assert chain_states(["a", "a", "a", "b"], 2) == [("a", "a"), ("a", "b")]
    assert chain_states(["a", "b"], 3) == [("a", "b")]
    assert chain_states([], 1) == []


def test_hand_worked_chain() -> None:
    # paths: a>b converts, a does not, b converts, b does not; a path with no journeys changes nothing
    rows = [(("a", "b"), 1, 0, 30.0), (("a",), 0, 1, 0.0), (("b",), 1, 0, 60.0), (("b",), 0, 1, 0.0),
            (("c", "a"), 0, 0, 0.0)]
    fx = removal_effects(build_chain(PathTable.from_rows(rows)))
    # start -> a 1/2, b 1/2; a -> b 1/2, null 1/2; b -> conversion 2/3, null 1/3
    assert fx.p_conversion == pytest.approx(1 / 2 * 1 / 2 * 2 / 3 + 1 / 2 * 2 / 3)  # 1/2
    # without a only start -> b converts: 1/3, so RE(a) = 1 - (1/3) / (1/2) = 1/3; without b nothing converts
    # c is only on a path nobody took: listed, with no effect (as ChannelAttribution lists it)
    assert fx.removal_effect == pytest.approx({"a": 1 / 3, "b": 1.0, "c": 0.0})
    assert fx.conversions == pytest.approx({"a": 2 * (1 / 3) / (4 / 3), "b": 2 * 1 / (4 / 3), "c": 0.0})
    # every conversion leaves from b with mean value (30 + 60) / 2 = 45: value effects equal conversion ones
    assert fx.expected_value == pytest.approx(45 * 0.5)
    assert fx.value_removal_effect == pytest.approx(fx.removal_effect)
    assert fx.value == pytest.approx({"a": 90 * 0.25, "b": 90 * 0.75, "c": 0.0})


def test_absorption_and_visits_on_a_known_chain() -> None:
    # gambler's ruin on 1..3 with p = 1/2: P(reach 4 | i) = i / 4
    q = np.array([[0, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0]])
    r = np.array([[0.5, 0.0], [0.0, 0.0], [0.0, 0.5]])
    x = absorption(q, r)
    assert x[:, 1] == pytest.approx([0.25, 0.5, 0.75])
    assert absorption(sp.csr_matrix(q), r)[:, 1] == pytest.approx([0.25, 0.5, 0.75])
    # expected visits from state 2 (gambler's ruin Green's function): 1, 2, 1
    assert expected_visits(q, np.array([0.0, 1.0, 0.0])) == pytest.approx([1.0, 2.0, 1.0])


def test_rejects_an_order_out_of_range() -> None:
    with pytest.raises(ValueError, match="between 1 and 4"):
        design_chain(PathTable.from_rows([(("a",), 1, 0, 0.0)]), 5)


paths_st = st.lists(st.sampled_from("abcd"), min_size=1, max_size=6).map(tuple)
rows_st = st.lists(
    st.tuples(paths_st, st.integers(0, 4), st.integers(0, 4), st.integers(0, 50).map(float)),
    min_size=1, max_size=12,
).filter(lambda rows: sum(c for _, c, _, _ in rows if c) > 0)


@settings(max_examples=60, deadline=None)
@given(rows=rows_st, order=st.integers(1, 3))
def test_exact_against_plain_python_reference(rows: list[tuple[tuple[str, ...], int, int, float]], order: int) -> None:
    rows = [(p, c, n, v if c else 0.0) for p, c, n, v in rows]
    table = PathTable.from_rows(rows)
    fx = removal_effects(build_chain(table, order))
    p_ref, v_ref = reference(rows, order, None)
    assert fx.p_conversion == pytest.approx(float(p_ref), abs=1e-12)
    assert fx.expected_value == pytest.approx(float(v_ref), abs=1e-9)
    for ch in table.channels:
        if any(ch in p and c + n > 0 for p, c, n, _ in rows):
            pk, vk = reference(rows, order, ch)
            assert fx.removal_effect[ch] == pytest.approx(float(1 - pk / p_ref), abs=1e-9)
            if v_ref > 0:
                assert fx.value_removal_effect[ch] == pytest.approx(float(1 - vk / v_ref), abs=1e-9)
    assert sum(fx.conversions.values()) == pytest.approx(sum(c for _, c, _, _ in rows))


def test_refit_with_new_weights_equals_a_fresh_build() -> None:
    rows = [(("a", "b", "a"), 2, 1, 20.0), (("b", "c"), 1, 3, 5.0), (("c",), 0, 2, 0.0), (("a", "c"), 1, 0, 7.0)]
    table = PathTable.from_rows(rows)
    design = design_chain(table, 2)
    w = np.array([2.0, 0.0, 1.0, 3.0])
    refit = removal_effects(fit_chain(design, table.conversions * w, table.nulls * w, table.values * w))
    fresh = removal_effects(build_chain(PathTable.from_rows(
        [(p, c * k, n * k, v * k) for (p, c, n, v), k in zip(rows, w, strict=True)]), 2))
    assert refit.removal_effect == pytest.approx(fresh.removal_effect)
    assert refit.conversions == pytest.approx(fresh.conversions)
