"""A straightforward pandas implementation of the benchmarked jobs: sort, shift, group, merge_asof.

What a competent analyst would write in a notebook. The events are read from the Parquet file once
(:func:`load`, timed apart); each run then segments, sorts, shapes and aggregates that frame. Returns
counts in the shape of :func:`benchmarks.jobs.counts_of`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.jobs import (
    ARROW,
    DEPTH,
    END_NO,
    END_YES,
    FUNNEL_STEPS,
    GAP_S,
    GOAL,
    MORE,
    SEGMENT_DEVICE,
    SEGMENT_DID,
    START,
    TIME_CAP_S,
    VARIANTS,
    WINDOW_S,
    sankey_counts,
)


def load(path: Path) -> pd.DataFrame:
    """customer_id, t (epoch s), seq (row in the file), touchpoint and device (categories)."""
    df = pd.read_parquet(path, columns=["customer_id", "timestamp", "touchpoint", "device"])
    t = pd.to_datetime(df.pop("timestamp"), format="%Y-%m-%dT%H:%M:%SZ").astype("datetime64[s]").astype("int64")
    return df.assign(t=t.to_numpy(), seq=np.arange(len(df)),
                     touchpoint=df.touchpoint.astype("category"), device=df.device.astype("category"))


def journeys(frame: pd.DataFrame, setting: str) -> pd.DataFrame:
    """Sorted events with ``journey`` (int), ``step``, ``nxt`` and ``next_t``."""
    df = frame
    if setting == "segment":
        keep = (set(df.loc[df.device == SEGMENT_DEVICE, "customer_id"].unique())
                & set(df.loc[df.touchpoint == SEGMENT_DID, "customer_id"].unique()))
        df = df[df.customer_id.isin(keep)]
    df = df.sort_values(["customer_id", "t", "seq"])
    first = df.customer_id.ne(df.customer_id.shift())
    if setting == "sessions":
        first = first | (df.t - df.t.shift() > GAP_S)
        kept = first | df.touchpoint.ne(df.touchpoint.shift())
        df, first = df[kept], first[kept]
    df = df.assign(journey=first.cumsum())
    last = df.journey.ne(df.journey.shift(-1))
    return df.assign(step=df.groupby("journey", sort=False).cumcount() + 1,
                     nxt=df.touchpoint.shift(-1).mask(last), next_t=df.t.shift(-1).mask(last))


def transitions(df: pd.DataFrame) -> dict:
    moves = df[df.nxt.notna()].assign(dt=lambda d: d.next_t - d.t)
    inner = moves.groupby(["touchpoint", "nxt"], observed=True).agg(
        n=("dt", "size"), c=("customer_id", "nunique"), median_s=("dt", "median"))
    starts = df[df.step == 1].groupby("touchpoint", observed=True).agg(n=("t", "size"), c=("customer_id", "nunique"))
    converted = df.loc[df.touchpoint == GOAL, "journey"].unique()
    ends = df[df.nxt.isna()]
    ends = ends.assign(end=np.where(ends.journey.isin(converted), END_YES, END_NO))
    ends = ends.groupby(["touchpoint", "end"], observed=True).agg(n=("t", "size"), c=("customer_id", "nunique"))
    out = {(s, t): (int(r.n), int(r.c)) for (s, t), r in inner.iterrows()}
    out |= {(START, t): (int(r.n), int(r.c)) for t, r in starts.iterrows()}
    out |= {(s, t): (int(r.n), int(r.c)) for (s, t), r in ends.iterrows()}
    return out


def sankey(df: pd.DataFrame) -> dict:
    d = df[df.step <= DEPTH]
    flows = d.groupby(["step", "touchpoint", "nxt"], observed=True, dropna=False).size()
    # df is sorted by journey and step: a journey's first touchpoints are the rows after its first row,
    # and its length is the step of its last row (the rows without a next touchpoint, in the same order)
    starts = df.step.eq(1).to_numpy()
    path = df.touchpoint[starts].astype("str")
    for k in range(1, DEPTH):
        there = df.step.shift(-k).eq(k + 1)[starts]
        path = path.where(~there, path + ARROW + df.touchpoint.shift(-k)[starts].astype("str"))
    length = df.loc[df.nxt.isna(), "step"].to_numpy()
    path = path.where(length <= DEPTH, path + ARROW + MORE)
    floor = 2 if (length == 1).sum() >= 0.2 * len(length) else 1
    top = path[length >= floor].value_counts().reset_index()
    top = top.sort_values(["count", top.columns[0]], ascending=[False, True]).head(VARIANTS)
    return sankey_counts([(int(s), t, None if pd.isna(x) else x, int(n)) for (s, t, x), n in flows.items() if n],
                         [(p, int(n)) for p, n in zip(top.iloc[:, 0], top["count"], strict=True)])


def funnel(df: pd.DataFrame) -> list[int]:
    e = df.loc[df.touchpoint.isin(FUNNEL_STEPS), ["journey", "step", "t", "touchpoint"]]
    attempts = e.loc[e.touchpoint == FUNNEL_STEPS[0], ["journey", "step", "t"]].rename(columns={"t": "t1", "step": "p"})
    attempts["reached"] = 1
    for k, name in enumerate(FUNNEL_STEPS[1:], start=2):
        cand = e.loc[e.touchpoint == name, ["journey", "step", "t"]].rename(columns={"step": "p_next", "t": "t_next"})
        cand = cand.assign(key=cand.p_next).sort_values("key")
        live = attempts[attempts.reached == k - 1].assign(key=lambda a: a.p + 1).sort_values("key")
        m = pd.merge_asof(live, cand, on="key", by="journey", direction="forward")  # first step-k event after p
        ok = m.p_next.notna() & (m.t_next - m.t1 <= WINDOW_S)
        m.loc[ok, "reached"] = k
        m.loc[ok, "p"] = m.loc[ok, "p_next"]
        attempts = pd.concat([attempts[attempts.reached != k - 1], m[attempts.columns]])
    best = attempts.groupby("journey").reached.max()
    return [int((best >= k).sum()) for k in range(1, len(FUNNEL_STEPS) + 1)]


def journey_map(df: pd.DataFrame, stages: tuple[tuple[str, str], ...]) -> dict:
    goal_last = df[df.touchpoint == GOAL].groupby("journey").step.max()
    firsts = df.assign(ended=df.nxt.isna()).groupby(["journey", "touchpoint"], observed=True).agg(
        first=("step", "min"), ended=("ended", "any"), events=("step", "size")).reset_index()
    g = firsts.journey.map(goal_last)
    firsts = firsts.assign(c=g > firsts["first"], d=firsts.ended & g.isna())
    tps = firsts.groupby("touchpoint", observed=True).agg(e=("events", "sum"), n=("c", "size"), c=("c", "sum"), d=("d", "sum"))
    dt = (df.next_t - df.t).where(lambda s: s <= TIME_CAP_S)
    df.assign(dt=dt).groupby(["touchpoint", "nxt"], observed=True).dt.agg(["size", "median"])  # not compared
    reach = firsts.assign(stage=firsts.touchpoint.astype("str").map(dict(stages))).groupby("stage").journey.nunique()
    return {"journeys": int((df.step == 1).sum()),
            "touchpoints": {t: (int(r.e), int(r.n), int(r.c), int(r.d)) for t, r in tps.iterrows()},
            "stages": {s: int(n) for s, n in reach.items()}}


def run(job: str, setting: str, frame: pd.DataFrame, stages: tuple[tuple[str, str], ...]) -> Any:
    df = journeys(frame, setting)
    if job == "journey_map":
        return journey_map(df, stages)
    return {"transitions": transitions, "sankey": sankey, "funnel": funnel}[job](df)
