"""Satisfaction scores (the ``score`` role): the scale, averages, top-2-box and NPS by touchpoint,
stage and channel.

The scale is detected from the values (CSAT 1-5, CSAT 1-7, NPS 0-10: the first that holds at least 98%
of them) or given as ``LO-HI`` when the data uses another range. Values off the scale (outside it, or
not whole numbers) are counted and left out. A figure backed by fewer than 30 responses is hidden.
NPS = % promoters (9-10) - % detractors (0-6) on the 0-10 scale. The engine returns per
(touchpoint, channel) sums; stages and channels are roll-ups of those sums, so every level agrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeys.analyses.base import to_frame
from journeys.errors import QueryError

RESPONSE_FLOOR = 30
DETECT_SHARE = 0.98
#: known scales in the order detection tries them
SCALES: dict[str, tuple[int, int]] = {"CSAT 1-5": (1, 5), "CSAT 1-7": (1, 7), "NPS 0-10": (0, 10)}
NO_STAGE = "other"


def parse_scale(text: str) -> tuple[int, int] | None:
    """``auto`` -> None; ``1-5`` / ``0-10`` / ``2-9`` -> (lo, hi)."""
    text = text.strip().lower()
    if text in ("", "auto"):
        return None
    lo, sep, hi = text.partition("-")
    try:
        bounds = (int(lo), int(hi))
    except ValueError:
        bounds = (0, -1)
    if not sep or bounds[0] >= bounds[1]:
        raise QueryError(f"The score scale '{text}' is not a range.", hint="Use auto, or LO-HI such as 1-5 or 0-10.")
    return bounds


def scale_name(lo: int, hi: int) -> str:
    return next((name for name, b in SCALES.items() if b == (lo, hi)), f"scores {lo}-{hi}")


@dataclass(frozen=True, slots=True)
class ScoresQuery:
    """``scale``: ``auto`` or ``LO-HI``; ``stages``: (touchpoint, stage) pairs (others are 'other')."""

    scale: str = "auto"
    stages: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ScoresResult:
    """Each table: group, responses, average, top2_share, promoters, passives, detractors, nps (NPS scale
    only; else empty), shown (False below 30 responses: figures are then empty)."""

    lo: int
    hi: int
    detected: bool
    responses: int
    out_of_scale: int
    out_of_scale_values: tuple[float, ...]
    average: float | None
    top2_share: float | None
    nps: float | None
    by_touchpoint: pd.DataFrame
    by_stage: pd.DataFrame
    by_channel: pd.DataFrame

    @property
    def name(self) -> str:
        return scale_name(self.lo, self.hi)

    @property
    def is_nps(self) -> bool:
        return (self.lo, self.hi) == (0, 10)

    @property
    def top2(self) -> tuple[int, int]:
        return self.hi - 1, self.hi

    def hidden(self) -> int:
        """Groups (touchpoints, stages, channels) hidden for having fewer than 30 responses."""
        return int(sum((~t.shown).sum() for t in (self.by_touchpoint, self.by_stage, self.by_channel)))

    def sentences(self) -> list[str]:
        """What a reader must know beside the figures: the scale, rejects, hidden groups."""
        how = "detected" if self.detected else "as given"
        out = [f"{self.responses:,} responses on the {self.name} scale ({how}); top-2-box = {self.top2[0]} or {self.top2[1]}."]
        if self.out_of_scale:
            shown = ", ".join(f"{v:g}" for v in self.out_of_scale_values)
            out.append(f"{self.out_of_scale:,} scores off the {self.lo}-{self.hi} scale were left out (e.g. {shown}).")
        if self.hidden():
            out.append(f"{self.hidden():,} touchpoints, stages or channels have fewer than {RESPONSE_FLOOR} responses: "
                       "their figures are hidden.")
        return out


def fitting_scale(n: int, on_each: list[int]) -> int | None:
    """The index of the first known scale (:data:`SCALES` order) that holds 98% of ``n`` scores, given how many
    are whole and on each; None when none does."""
    return next((i for i, k in enumerate(on_each) if n and k >= DETECT_SHARE * n), None)


def scale_sums(score: ir.Value, scale: str = "auto") -> dict[str, ir.Value]:
    """Aggregates that let a caller average scores the way :func:`compute_scores` counts them, in its own
    group-by: the count and sum of all scores, and of those on each candidate scale (the given one, or each
    known scale). :func:`average_on_scale` reads them back."""
    s = score.cast("float64")
    whole = s == s.round(0)
    given = parse_scale(scale)
    out = {"_sc_n": s.count(), "_sc_sum": s.sum()}
    for i, (lo, hi) in enumerate([given] if given else SCALES.values()):
        ok = whole & s.between(lo, hi)
        out[f"_sc{i}_n"] = ok.cast("int64").sum()
        out[f"_sc{i}_sum"] = ibis.ifelse(ok, s, 0.0).sum()
    return out


def average_on_scale(frame: pd.DataFrame, key: str, scale: str = "auto") -> tuple[pd.Series, str]:
    """Per ``key`` value, the average score on the scale (given, else the first known scale that holds 98% of
    all scores in ``frame``), and a sentence on what is hidden. As on the Voice of the customer page, an average
    of fewer than 30 responses is hidden, and so is every average when no known scale fits and none is given.
    ``frame`` holds :func:`scale_sums`' columns."""
    g = frame.groupby(key)[[c for c in frame.columns if c.startswith("_sc")]].sum().astype("float64")
    n = float(g._sc_n.sum())
    pick = 0 if parse_scale(scale) else fitting_scale(int(n), [int(g[f"_sc{i}_n"].sum()) for i in range(len(SCALES))])
    if pick is None:
        note = ("Scores fit no known scale, so no average is shown: confirm their scale on the Voice of the customer "
                "page (command line: --scale LO-HI).") if n else ""
        return pd.Series(float("nan"), index=g.index), note
    cnt, tot = g[f"_sc{pick}_n"], g[f"_sc{pick}_sum"]
    hidden = int(((cnt > 0) & (cnt < RESPONSE_FLOOR)).sum())
    note = (f"{hidden:,} {'average is' if hidden == 1 else 'averages are'} hidden: fewer than {RESPONSE_FLOOR} "
            "responses.") if hidden else ""
    return (tot / cnt.where(cnt >= RESPONSE_FLOOR)).astype("float64"), note


def _detect(scores: ir.Value, t: ir.Table) -> tuple[int, int]:
    whole = scores == scores.round(0)
    row = to_frame(t.aggregate(n=t.count(), lo=scores.min(), hi=scores.max(), **{
        f"in_{i}": (whole & scores.between(lo, hi)).sum() for i, (lo, hi) in enumerate(SCALES.values())
    })).iloc[0]
    pick = fitting_scale(int(row.n), [int(row[f"in_{i}"]) for i in range(len(SCALES))])
    if pick is not None:
        return list(SCALES.values())[pick]
    raise QueryError(f"Scores run from {row.lo:g} to {row.hi:g} and fit no known scale (CSAT 1-5 or 1-7, NPS 0-10).",
                     hint="Confirm the scale as LO-HI, e.g. 1-10.")


def _rollup(parts: pd.DataFrame, key: str, nps: bool) -> pd.DataFrame:
    g = parts.groupby(key, sort=True)[["responses", "total", "top2", "promoters", "detractors"]].sum().reset_index()
    g = g.rename(columns={key: "group"})
    n = g.responses.astype(float)
    shown = g.responses >= RESPONSE_FLOOR
    out = pd.DataFrame({
        "group": g.group.astype(str),
        "responses": g.responses.astype(int),
        "average": (g.total / n).where(shown),
        "top2_share": (g.top2 / n).where(shown),
    })
    if nps:
        out["promoters"] = (g.promoters / n).where(shown)
        out["detractors"] = (g.detractors / n).where(shown)
        out["passives"] = (1 - out.promoters - out.detractors).where(shown)
        out["nps"] = (100 * (out.promoters - out.detractors)).where(shown)
    out["shown"] = shown
    return out.sort_values(["shown", "responses", "group"], ascending=[False, False, True]).reset_index(drop=True)


def compute_scores(events: ir.Table, query: ScoresQuery = ScoresQuery()) -> ScoresResult | None:
    """Score figures, or None when no event has a score."""
    t = events.filter(events.score.notnull())
    scores = t.score.cast("float64")
    given = parse_scale(query.scale)
    if to_frame(t.aggregate(n=t.count())).n.iloc[0] == 0:
        return None
    lo, hi = given or _detect(scores, t)
    ok = (scores == scores.round(0)) & scores.between(lo, hi)
    bad = t.filter(~ok)
    off = to_frame(bad.aggregate(n=bad.count()))
    examples = to_frame(bad.group_by(v=bad.score.cast("float64")).aggregate(n=bad.count())
                        .order_by([ibis.desc("n"), "v"]).limit(5))
    good = t.filter(ok)
    s = good.score.cast("float64")
    channel = good.channel.fill_null("(none)") if "channel" in good.columns else ibis.literal("(none)")
    parts = to_frame(good.group_by(touchpoint=good.touchpoint, channel=channel).aggregate(
        responses=good.count(), total=s.sum(),
        top2=(s >= hi - 1).sum(), promoters=(s >= 9).sum(), detractors=(s <= 6).sum()))
    stage_of = dict(query.stages)
    parts["stage"] = [stage_of.get(str(tp), NO_STAGE) for tp in parts.touchpoint]
    nps = (lo, hi) == (0, 10)
    n = int(parts.responses.sum())
    return ScoresResult(
        lo=lo, hi=hi, detected=given is None, responses=n, out_of_scale=int(off.n.iloc[0]),
        out_of_scale_values=tuple(float(v) for v in examples.v), average=float(parts.total.sum() / n) if n else None,
        top2_share=float(parts.top2.sum() / n) if n else None,
        nps=float(100 * (parts.promoters.sum() - parts.detractors.sum()) / n) if n and nps else None,
        by_touchpoint=_rollup(parts, "touchpoint", nps), by_stage=_rollup(parts, "stage", nps),
        by_channel=_rollup(parts, "channel", nps),
    )


def load_warning(con: Any, table: str = "_staged") -> str | None:
    """The load report's sentence on scores (ingest hook, on the staged rows that were not rejected): how many
    are off the detected scale, or that no known scale fits. None when every score fits a known scale."""
    cases = ", ".join(f"count(*) FILTER (WHERE score = round(score) AND score BETWEEN {lo} AND {hi})"
                      for lo, hi in SCALES.values())
    row = con.execute(f"SELECT count(*), min(score), max(score), {cases} FROM {table} "
                      "WHERE score IS NOT NULL AND _reject IS NULL").fetchone()
    n = int(row[0])
    if not n:
        return None
    pick = fitting_scale(n, [int(k) for k in row[3:]])
    if pick is None:
        return (f"Scores run from {row[1]:g} to {row[2]:g} and fit no known scale (CSAT 1-5 or 1-7, NPS 0-10): "
                "confirm their scale on the Voice of the customer page (or voice --scale LO-HI).")
    name, (lo, hi) = list(SCALES.items())[pick]
    k = int(row[3 + pick])
    if k == n:
        return None
    examples = con.execute(f"SELECT score FROM {table} WHERE score IS NOT NULL AND _reject IS NULL AND NOT "
                           f"(score = round(score) AND score BETWEEN {lo} AND {hi}) GROUP BY 1 "
                           "ORDER BY count(*) DESC, 1 LIMIT 5").fetchall()
    return (f"{n - k:,} of {n:,} scores are off the {name} scale (e.g. {', '.join(f'{v:g}' for (v,) in examples)}); "
            "score figures leave them out.")
