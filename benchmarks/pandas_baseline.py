"""A straightforward pandas implementation of the benchmarked jobs: sort, shift, group, merge_asof.

What a competent analyst would write in a notebook; the benchmark times it against the engine.
"""

from __future__ import annotations

import pandas as pd

GAP = pd.Timedelta(minutes=30)
WINDOW = pd.Timedelta(days=7)


def prepare(frame: pd.DataFrame, *, sessions: bool) -> pd.DataFrame:
    mobile = frame.loc[frame.device == "mobile", "customer_id"].unique()
    carted = frame.loc[frame.touchpoint == "add_to_cart", "customer_id"].unique()
    keep = set(mobile) & set(carted)
    df = frame[frame.customer_id.isin(keep)].sort_values(["customer_id", "ts", "seq"])
    if sessions:
        new = (df.customer_id != df.customer_id.shift()) | (df.ts - df.ts.shift() > GAP)
        df = df.assign(journey=new.cumsum())
        same = (df.journey == df.journey.shift()) & (df.touchpoint == df.touchpoint.shift())
        df = df[~same]
    else:
        df = df.assign(journey=df.customer_id)
    g = df.groupby("journey", sort=False, observed=True)
    return df.assign(step=g.cumcount() + 1, nxt=g.touchpoint.shift(-1), next_ts=g.ts.shift(-1))


def transitions(df: pd.DataFrame) -> pd.DataFrame:
    moves = df[df.nxt.notna()].assign(dt=lambda d: (d.next_ts - d.ts).dt.total_seconds())
    return moves.groupby(["touchpoint", "nxt"], observed=True).agg(count=("dt", "size"), median_s=("dt", "median"),
                                                                   customers=("customer_id", "nunique"))


def sankey(df: pd.DataFrame, depth: int = 5) -> pd.DataFrame:
    d = df[df.step <= depth]
    return d.groupby(["step", "touchpoint", "nxt"], observed=True, dropna=False).size()


def funnel(df: pd.DataFrame, steps: tuple[str, ...]) -> list[int]:
    df = df.assign(pos=df.step)
    attempts = df.loc[df.touchpoint == steps[0], ["journey", "pos", "ts"]].rename(columns={"ts": "t1"})
    attempts["p"] = attempts.pos
    attempts["reached"] = 1
    for k, name in enumerate(steps[1:], start=2):
        cand = df.loc[df.touchpoint == name, ["journey", "pos", "ts"]].rename(columns={"pos": "p_next", "ts": "t_next"})
        cand = cand.assign(key=cand.p_next).sort_values("key")
        live = attempts[attempts.reached == k - 1].assign(key=lambda a: a.p + 1).sort_values("key")
        m = pd.merge_asof(live, cand, on="key", by="journey", direction="forward")
        ok = m.p_next.notna() & (m.t_next - m.t1 <= WINDOW)
        m.loc[ok, "reached"] = k
        m.loc[ok, "p"] = m.loc[ok, "p_next"]
        attempts = pd.concat([attempts[attempts.reached != k - 1], m[attempts.columns]])
    best = attempts.groupby("journey").reached.max()
    return [int((best >= k).sum()) for k in range(1, len(steps) + 1)]


def run(name: str, frame: pd.DataFrame, *, sessions: bool, steps: tuple[str, ...]) -> object:
    df = prepare(frame, sessions=sessions)
    if name.startswith("transition"):
        return transitions(df)
    if "Sankey" in name:
        return sankey(df)
    return funnel(df, steps)
