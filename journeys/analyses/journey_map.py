"""The customer journey map as data: stages as columns, touchpoints under each with volume, reach,
conversion onward, time spent, CSAT, and the biggest drop-offs flagged as pain points."""

from __future__ import annotations

import re
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeys.analyses import summary
from journeys.analyses.base import materialize, to_frame
from journeys.analyses.scores import average_on_scale, scale_sums
from journeys.errors import QueryError
from journeys.shaping import DEFAULT_STAGES, OTHER_STAGE

SIGNIFICANCE_FLOOR = 30
PAIN_POINTS = 3
TIME_SPENT_CAP_S = 30 * 60
STAGE_ORDER = (*DEFAULT_STAGES, "churn", OTHER_STAGE)
_STAGE_WORDS: dict[str, tuple[str, ...]] = {
    # "closed" alone is a resolved ticket or order, not a lost customer: only account closures are churn
    "churn": ("unsubscribe", "cancel", "churn", "account_closed", "close_account", "closed_account", "uninstall",
              "delete_account", "account_deleted"),
    "purchase": ("cart", "checkout", "purchase", "order", "payment", "buy", "transaction", "store_visit", "pay",
                 "shipping"),
    "retention": ("delivery", "review", "support", "chat", "call", "ticket", "repeat", "login", "account", "resolve",
                  "closed"),
    "awareness": ("ad_", "ads", "impression", "social", "campaign", "first_visit", "session_start", "first_open",
                  "promo", "banner"),
    "consideration": ("view", "page", "search", "product", "email", "click", "home", "scroll", "catalog", "compare",
                      "wishlist", "filter", "select", "detail", "engagement"),
}


def infer_stages(touchpoints: list[str]) -> tuple[tuple[str, str], ...]:
    """A first guess of each touchpoint's stage from its name; people correct it on the page."""
    out = []
    for tp in touchpoints:
        name = re.sub(r"[\s\-]+", "_", tp.lower())
        stage = next((s for s, words in _STAGE_WORDS.items() if any(w in name for w in words)), OTHER_STAGE)
        out.append((tp, stage))
    return tuple(out)


def parse_stage_edit(text: str) -> tuple[str, str]:
    """``TOUCHPOINT=STAGE`` (the CLI's ``--stage`` and the link's ``stg``) -> (touchpoint, stage)."""
    tp, sep, stage = text.rpartition("=")
    stage = stage.strip().lower()
    if not sep or not tp.strip():
        raise QueryError(f"'{text}' is not TOUCHPOINT=STAGE.", hint="For example --stage 'chat=retention'.")
    if stage not in STAGE_ORDER:
        raise QueryError(f"'{stage}' is not a stage.", hint=f"Stages: {', '.join(STAGE_ORDER)}.")
    return tp.strip(), stage


def edited_stages(touchpoints: list[str], edits: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Each touchpoint's stage: the guess from its name, unless an edit names another."""
    fix = dict(edits)
    return tuple((tp, fix.get(tp, stage)) for tp, stage in infer_stages(touchpoints))


def stage_edits(touchpoints: list[str], stages: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The stages that differ from the guess: what a link keeps of an edited journey map."""
    guess = dict(infer_stages(touchpoints))
    return tuple((tp, stage) for tp, stage in stages if guess.get(tp) != stage)


# the rungs of a purchase funnel, each a list of name patterns in order of preference
_FUNNEL_RUNGS: tuple[tuple[str, ...], ...] = (
    ("view_item", "product_view", "view_product", "product_detail", "product", "item_view", "view_item_list"),
    ("add_to_cart", "add_to_basket", "addtocart", "cart_add", "cart", "basket"),
    ("begin_checkout", "checkout_start", "checkout", "start_checkout"),
)
_NOT_A_RUNG = ("remove", "view_cart", "abandon", "completed", "complete", "purchase", "order")


def default_funnel(touchpoints: list[str], goal: str | None) -> tuple[tuple[str, ...], ...]:
    """A starting funnel from touchpoint names: product view > add to cart > checkout > goal, each rung
    the best-named touchpoint that exists (GA4: view_item > add_to_cart > begin_checkout > purchase), up to
    the goal's own rung. Empty when fewer than two steps are found."""
    names = {re.sub(r"[\s\-]+", "_", t.lower()): t for t in touchpoints}
    goal_name = re.sub(r"[\s\-]+", "_", goal.lower()) if goal else ""
    steps: list[str] = []
    for rung in _FUNNEL_RUNGS:
        if goal_name and any(pattern in goal_name for pattern in rung):
            break  # the goal is this rung (add to cart as the goal): the later rungs come after it
        hit = next((names[n] for pattern in rung for n in sorted(names)
                    if pattern in n and not any(x in n for x in _NOT_A_RUNG) and names[n] != goal
                    and names[n] not in steps), None)
        if hit:
            steps.append(hit)
    if goal and goal in touchpoints:
        steps.append(goal)
    return tuple((s,) for s in steps) if len(steps) >= 2 else ()


@dataclass(frozen=True, slots=True)
class JourneyMapResult:
    """``touchpoints``: stage, touchpoint, events, journeys, reach, conversion_onward, median_time_s,
    avg_score, drop_offs, drop_off_rate, pain_point, top_next (the most common next touchpoint, ties by name)
    and top_next_share (its share of the touchpoint's events that have a next one). ``stages``: stage, journeys, reach."""

    touchpoints: pd.DataFrame
    stages: pd.DataFrame
    journeys: int
    goal: str | None
    score_note: str = ""  # why some or all score averages are hidden (one sentence), else ""

    @property
    def is_empty(self) -> bool:
        return self.journeys == 0


def compute_journey_map(journeys: ir.Table, stages: tuple[tuple[str, str], ...], *, goal: str | None = None,
                        scale: str = "auto") -> JourneyMapResult:
    """Per touchpoint metrics in one group-by, plus per stage reach; pain points = largest drop-offs.
    ``avg_score`` averages the scores on the ``scale`` (the Voice of the customer page's: detected, or LO-HI);
    scores off it are left out there and here."""
    stage_of = dict(stages)
    j = journeys
    if summary.reads_own_events(journeys):  # five queries below: the segment's events are picked out once
        j = materialize(journeys.select("journey_id", "customer_id", "step", "ts", "touchpoint", "next_touchpoint",
                                        "next_ts", "score"))
    # low-cardinality passes over the events: moves (with scores) and the time to the next event; for a whole
    # stored dataset they are kept in the store (built with the default views)
    stored = summary.whole_for(journeys, MOVES_KEY, build_moves) if scale == "auto" else None
    both = to_frame(stored if stored is not None else _moves(j, scale))
    moves = both.drop(columns="median_time_s")
    timing = both[["touchpoint", "median_time_s"]].drop_duplicates("touchpoint").reset_index(drop=True)
    conv, stage_frame = _summarized(j, goal, stage_of) or _per_journey_touchpoint(j, goal, stage_of)
    total = j.filter(j.step == 1).count()
    events = moves.groupby("touchpoint", as_index=False).agg(events=("n", "sum"))
    averages, score_note = average_on_scale(moves, "touchpoint", scale)
    events["avg_score"] = events.touchpoint.map(averages)
    tps = events.merge(timing, on="touchpoint").merge(conv, on="touchpoint")
    tps.insert(0, "stage", [stage_of.get(t, OTHER_STAGE) for t in tps.touchpoint])
    nxt = _top_next(moves[["touchpoint", "next_touchpoint", "n"]])
    n = int(total.execute())
    if tps.empty:
        empty = pd.DataFrame(columns=["stage", "touchpoint", "events", "journeys", "reach", "conversion_onward",
                                      "median_time_s", "avg_score", "drop_offs", "drop_off_rate", "pain_point",
                                      "top_next", "top_next_share"])
        return JourneyMapResult(empty, pd.DataFrame(columns=["stage", "journeys", "reach"]), n, goal, score_note)
    tps["reach"] = tps.journeys / n
    tps["conversion_onward"] = tps.converted_after / tps.journeys if goal else float("nan")
    tps["drop_offs"] = tps.ended_here_unconverted.astype("int64")
    tps["drop_off_rate"] = tps.drop_offs / tps.journeys
    # awareness exits are expected and churn is its own story: pain points are where engaged journeys stop
    eligible = tps[(tps.journeys >= SIGNIFICANCE_FLOOR) & (tps.touchpoint != goal) & (tps.drop_offs > 0)
                   & ~tps.stage.isin(["awareness", "churn"])]  # where nobody stops is no pain point
    worst = eligible.sort_values(["drop_offs", "touchpoint"], ascending=[False, True]).head(PAIN_POINTS).touchpoint
    if not goal:  # without a goal every journey is "unconverted": where journeys end is not a pain point
        worst = worst.iloc[:0]
    tps["pain_point"] = tps.touchpoint.isin(set(worst))
    tps = tps.merge(nxt, on="touchpoint", how="left")
    order = {s: i for i, s in enumerate(STAGE_ORDER)}
    tps["_o"] = tps.stage.map(order).fillna(len(order))
    tps = tps.sort_values(["_o", "journeys", "touchpoint"], ascending=[True, False, True])
    cols = ["stage", "touchpoint", "events", "journeys", "reach", "conversion_onward", "median_time_s", "avg_score",
            "drop_offs", "drop_off_rate", "pain_point", "top_next", "top_next_share"]
    stage_frame["reach"] = stage_frame.journeys / n
    stage_frame["_o"] = stage_frame.stage.map(order).fillna(len(order))
    stage_frame = stage_frame.sort_values("_o")[["stage", "journeys", "reach"]].reset_index(drop=True)
    return JourneyMapResult(tps[cols].reset_index(drop=True), stage_frame, n, goal, score_note)


MOVES_KEY = "journey map moves v1"


def _moves(j: ir.Table, scale: str) -> ir.Table:
    """Per move ``touchpoint -> next_touchpoint``: events, score sums (see :func:`scale_sums`) and, repeated on
    each of its moves, the touchpoint's median time to the next event (capped)."""
    moves = j.group_by(["touchpoint", "next_touchpoint"]).aggregate(n=j.count(), **scale_sums(j.score, scale))
    dt = j.next_ts.epoch_seconds() - j.ts.epoch_seconds()
    timing = j.group_by(_tp=j.touchpoint).aggregate(
        median_time_s=ibis.cases((dt <= TIME_SPENT_CAP_S, dt), else_=ibis.null("int64")).median().cast("float64"))
    return moves.join(timing, moves.touchpoint == timing._tp).drop("_tp")


def build_moves(journeys: ir.Table) -> ir.Table:
    """The stored form of :func:`_moves` (the detected scale) for all the journeys of a dataset."""
    return _moves(journeys, "auto")


def _per_journey_touchpoint(j: ir.Table, goal: str | None, stage_of: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per touchpoint: journeys, journeys converting after it, unconverted journeys ending there; and stage
    reach. One pass per (journey, touchpoint), kept for both questions."""
    first = materialize(j.group_by(["journey_id", "touchpoint"]).aggregate(
        _first=j.step.min(), _last=j.step.max(), _ended=j.next_touchpoint.isnull().any()))
    won = first.filter(first.touchpoint == goal).select(journey_id="journey_id", _goal_last="_last") if goal \
        else first.filter(ibis.literal(False)).select(journey_id="journey_id", _goal_last="_last")
    f = first.left_join(won, "journey_id")
    conv = to_frame(f.group_by("touchpoint").aggregate(
        journeys=f.count(),
        converted_after=(f._goal_last > f._first).fill_null(False).cast("int64").sum(),
        ended_here_unconverted=(f._ended & f._goal_last.isnull()).cast("int64").sum(),
    ))
    return conv, _stage_reach(first, stage_of)


def _summarized(j: ir.Table, goal: str | None, stage_of: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The same from the stored journey summaries (the touchpoints each journey touched, its last one), or
    None. Converting after a touchpoint = having it before the journey's last goal event."""
    s = summary.summary_for(j)
    codes = summary.codes_for(j) if s is not None else None
    if s is None or codes is None or len(codes) > summary.MASK_TOUCHPOINTS:
        return None
    bit = {t: 1 << i for i, t in enumerate(codes)}
    goal_bit = bit.get(goal or "", 0)
    masks = to_frame(s.group_by("tp_mask").aggregate(n=s.count()))
    reached = ((s.tp_mask & goal_bit) != 0) if goal_bit else ibis.literal(False)
    lost = s.filter(~reached)
    ends = to_frame(lost.group_by(touchpoint=lost.last_tp).aggregate(n=lost.count()))
    after: dict[str, int] = {}
    if goal_bit:
        won = j.filter(j.touchpoint == goal).group_by(_jid=j.journey_id).aggregate(_gl=j.step.max())
        x = j.join(won, j.journey_id == won._jid)
        x = x.filter(x.step < x._gl)
        after = dict(to_frame(x.group_by("touchpoint").aggregate(n=x.journey_id.nunique())).itertuples(index=False))
    per_mask = list(zip(masks.tp_mask.astype("int64"), masks.n.astype("int64"), strict=True))
    ended = dict(ends.itertuples(index=False))
    rows = [(t, sum(n for m, n in per_mask if m & b)) for t, b in bit.items()]
    conv = pd.DataFrame([(t, n, int(after.get(t, 0)), int(ended.get(t, 0))) for t, n in rows if n],
                        columns=["touchpoint", "journeys", "converted_after", "ended_here_unconverted"])
    names = sorted(set(stage_of.values()) | {OTHER_STAGE})
    reach = dict.fromkeys(names, 0)
    for m, n in per_mask:
        for stage in {stage_of.get(t, OTHER_STAGE) for t, b in bit.items() if m & b}:
            reach[stage] += n
    return conv, pd.DataFrame([(s_, n) for s_, n in reach.items() if n], columns=["stage", "journeys"])


def _stage_reach(first: ir.Table, stage_of: dict[str, str]) -> pd.DataFrame:
    """Journeys that touch each stage: one bit per stage per journey, then counts of the bit patterns."""
    if not stage_of:  # no stages given: every journey is in 'other'
        n = int(to_frame(first.aggregate(n=first.journey_id.nunique())).n.iloc[0])
        return pd.DataFrame([(OTHER_STAGE, n)] if n else [], columns=["stage", "journeys"])
    names = sorted(set(stage_of.values()) | {OTHER_STAGE})
    bit = {s: 1 << i for i, s in enumerate(names)}
    code = ibis.cases(*[(first.touchpoint == t, bit[s]) for t, s in stage_of.items()], else_=bit[OTHER_STAGE])
    per = first.group_by("journey_id").aggregate(_mask=code.cast("int64").bit_or())
    masks = to_frame(per.group_by("_mask").aggregate(n=per.count()))
    rows = [{"stage": s, "journeys": int(masks.loc[(masks._mask.astype("int64") & bit[s]) != 0, "n"].sum())}
            for s in names]
    return pd.DataFrame([r for r in rows if r["journeys"]], columns=["stage", "journeys"])


def _top_next(moves: pd.DataFrame) -> pd.DataFrame:
    """Per touchpoint, its most common next touchpoint (ties: first by name) and that move's share."""
    moves = moves[moves.next_touchpoint.notna()]
    if moves.empty:
        return pd.DataFrame({"touchpoint": pd.Series(dtype="str"), "top_next": pd.Series(dtype="str"),
                             "top_next_share": pd.Series(dtype="float64")})
    moves = moves.sort_values(["touchpoint", "n", "next_touchpoint"], ascending=[True, False, True])
    share = moves.n / moves.groupby("touchpoint").n.transform("sum")
    top = moves.assign(top_next_share=share).drop_duplicates("touchpoint")
    return top.rename(columns={"next_touchpoint": "top_next"})[["touchpoint", "top_next", "top_next_share"]]
