"""A polars implementation of the benchmarked jobs: lazy scan of the Parquet file, journeys collected once
per run, then eager group-bys and joins. Returns counts in the shape of :func:`benchmarks.jobs.counts_of`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

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

tp, jid = pl.col("touchpoint"), pl.col("journey_id")


def journeys(path: Path, setting: str) -> pl.DataFrame:
    """journey_id, customer_id, t (epoch s), touchpoint, step, next_tp, next_t; ordered by journey, (ts, seq)."""
    ev = pl.scan_parquet(path).with_row_index("seq").select(
        "customer_id", "seq", "touchpoint", "device",
        t=pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC").dt.epoch("s"))
    if setting == "segment":
        keep = ev.group_by("customer_id").agg(m=(pl.col("device") == SEGMENT_DEVICE).any(), d=(tp == SEGMENT_DID).any())
        ev = ev.join(keep.filter(pl.col("m") & pl.col("d")).select("customer_id"), on="customer_id", how="semi")
    ev = ev.sort("customer_id", "t", "seq")
    first = pl.col("customer_id") != pl.col("customer_id").shift(1)
    if setting == "sessions":
        new = first | (pl.col("t") - pl.col("t").shift(1) > GAP_S)
        ev = ev.with_columns(new=new.fill_null(True))
        ev = ev.filter(pl.col("new") | (tp != tp.shift(1)).fill_null(True)).with_columns(first=pl.col("new"))
        ev = ev.with_columns(journey_id=pl.col("first").cum_sum())  # sessions numbered in the sorted frame
    else:
        ev = ev.with_columns(journey_id=pl.col("customer_id"), first=first.fill_null(True))
    # the frame is sorted by journey: steps and next events are offsets, no per-group hashing needed
    row = pl.int_range(pl.len())
    last = pl.col("first").shift(-1).fill_null(True)
    ev = ev.with_columns(
        step=row - pl.when("first").then(row).forward_fill() + 1,
        next_tp=pl.when(last).then(None).otherwise(tp.shift(-1)),
        next_t=pl.when(last).then(None).otherwise(pl.col("t").shift(-1)),
    )
    return ev.select("journey_id", "customer_id", "t", "touchpoint", "step", "next_tp", "next_t").collect()


def transitions(j: pl.DataFrame) -> dict:
    conv = j.group_by("journey_id").agg(c=(tp == GOAL).any())
    inner = j.filter(pl.col("next_tp").is_not_null()).group_by("touchpoint", "next_tp").agg(
        n=pl.len(), c=pl.col("customer_id").n_unique(), median_s=(pl.col("next_t") - pl.col("t")).median())
    starts = j.filter(pl.col("step") == 1).group_by("touchpoint").agg(n=pl.len(), c=pl.col("customer_id").n_unique())
    ends = j.filter(pl.col("next_tp").is_null()).join(conv, on="journey_id").group_by("touchpoint", "c").agg(
        n=pl.len(), cust=pl.col("customer_id").n_unique())
    out = {(s, t): (n, c) for s, t, n, c, _ in inner.iter_rows()}
    out |= {(START, t): (n, c) for t, n, c in starts.iter_rows()}
    out |= {(s, END_YES if conv else END_NO): (n, c) for s, conv, n, c in ends.iter_rows()}
    return out


def sankey(j: pl.DataFrame) -> dict:
    flows = j.filter(pl.col("step") <= DEPTH).group_by("step", "touchpoint", "next_tp").agg(n=pl.len())
    # j is sorted by journey and step: a journey's first touchpoints are the rows after its first row,
    # and its length is the step of its last row (the rows without a next touchpoint, in the same order)
    ahead = [pl.when(pl.col("step").shift(-k) == k + 1).then(tp.shift(-k)) for k in range(DEPTH)]
    per = j.select("step", path=pl.concat_str(ahead, separator=ARROW, ignore_nulls=True)).filter(pl.col("step") == 1)
    per = per.with_columns(len=j.filter(pl.col("next_tp").is_null())["step"])
    per = per.with_columns(path=pl.col("path") + pl.when(pl.col("len") > DEPTH).then(pl.lit(ARROW + MORE)).otherwise(pl.lit("")))
    floor = 2 if (per["len"] == 1).sum() >= 0.2 * per.height else 1
    top = (per.filter(pl.col("len") >= floor).group_by("path").agg(n=pl.len())
           .sort(["n", "path"], descending=[True, False]).head(VARIANTS))
    return sankey_counts([(int(s), t, x, n) for s, t, x, n in flows.iter_rows()], list(top.iter_rows()))


def funnel(j: pl.DataFrame) -> list[int]:
    f = j.filter(tp.is_in(FUNNEL_STEPS)).select("journey_id", "step", "t", "touchpoint")
    # next position of each later step after every event: the step (and journey) of the next such row
    f = f.with_columns(**{f"n{k}": pl.when(tp == name).then(pl.struct(j=jid, s=pl.col("step"))).shift(-1).backward_fill()
                          for k, name in enumerate(FUNNEL_STEPS[1:], start=2)})
    f = f.with_columns(**{f"n{k}": pl.when(pl.col(f"n{k}").struct.field("j") == jid).then(pl.col(f"n{k}").struct.field("s"))
                          for k in range(2, len(FUNNEL_STEPS) + 1)})
    a = f.filter(tp == FUNNEL_STEPS[0]).select("journey_id", "n2", t1="t")
    for k in range(2, len(FUNNEL_STEPS) + 1):
        look = f.select("journey_id", pl.col("step").alias(f"n{k}"), pl.col("t").alias(f"t{k}"),
                        *([pl.col(f"n{k + 1}")] if k < len(FUNNEL_STEPS) else []))
        a = a.join(look, on=["journey_id", f"n{k}"], how="left")
    reached = pl.lit(1)
    for k in range(2, len(FUNNEL_STEPS) + 1):  # the furthest step whose every earlier step is inside the window
        ok = pl.all_horizontal([(pl.col(f"t{i}") - pl.col("t1") <= WINDOW_S).fill_null(False) for i in range(2, k + 1)])
        reached = pl.when(ok).then(pl.lit(k)).otherwise(reached)
    best = a.group_by("journey_id").agg(r=reached.max())["r"]
    return [int((best >= k).sum()) for k in range(1, len(FUNNEL_STEPS) + 1)]


def journey_map(j: pl.DataFrame, stages: tuple[tuple[str, str], ...]) -> dict:
    g = j.group_by("journey_id").agg(goal_last=pl.when(tp == GOAL).then(pl.col("step")).max())
    firsts = j.group_by("journey_id", "touchpoint").agg(
        first=pl.col("step").min(), ended=pl.col("next_tp").is_null().any(), events=pl.len()).join(g, on="journey_id")
    tps = firsts.group_by("touchpoint").agg(
        e=pl.col("events").sum(), n=pl.len(), c=(pl.col("goal_last") > pl.col("first")).fill_null(False).sum(),
        d=(pl.col("ended") & pl.col("goal_last").is_null()).sum())
    dt = pl.col("next_t") - pl.col("t")
    j.group_by("touchpoint", "next_tp").agg(n=pl.len(), median_s=dt.filter(dt <= TIME_CAP_S).median())  # not compared
    stage = pl.DataFrame(list(stages), schema=["touchpoint", "stage"], orient="row")
    reach = firsts.join(stage, on="touchpoint").group_by("stage").agg(n=pl.col("journey_id").n_unique())
    return {"journeys": g.height, "touchpoints": {t: (e, n, c, d) for t, e, n, c, d in tps.iter_rows()},
            "stages": dict(reach.iter_rows())}


def run(job: str, setting: str, path: Path, stages: tuple[tuple[str, str], ...]) -> Any:
    j = journeys(path, setting)
    if job == "journey_map":
        return journey_map(j, stages)
    return {"transitions": transitions, "sankey": sankey, "funnel": funnel}[job](j)
