"""Voice of the customer: how customers feel along the journey, and what it does to their behaviour.

- the emotion curve: average sentiment (and score, e.g. CSAT) by stage;
- touchpoints ranked by their share of negative texts;
- a text explorer: the most negative snippets (distinct texts, with how often each was written) and the
  terms and two-word phrases over-represented in negative texts, with counts;
- VoC joined to behaviour: per touchpoint, customers whose *first* rated interaction there was negative
  against those whose first was positive (and low scores against top-2-box), and whether they converted
  or churned *after* it, with odds ratios and 95% intervals (:mod:`journeys.stats`).

Figures backed by fewer than 30 texts or customers are hidden and counted, as everywhere.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeys.analyses.base import journeys_for, to_frame
from journeys.analyses.journey_map import STAGE_ORDER, infer_stages
from journeys.analyses.scores import NO_STAGE, ScoresQuery, ScoresResult, compute_scores, parse_scale
from journeys.errors import QueryError, unknown
from journeys.io.language import plain_text
from journeys.io.sentiment import Coverage, with_sentiment
from journeys.outcomes import CHURNED, Outcomes, churn_status
from journeys.segments import Segment
from journeys.shaping import Shaping
from journeys.stats import two_by_two

TEXT_FLOOR = 30  # scored texts before a touchpoint or stage gets a rank or an average
GROUP_FLOOR = 30  # customers in each group before a comparison is shown (DESIGN floors)
CELL_FLOOR = 5
SNIPPETS = 20
TERMS = 20
TERM_MIN = 5  # negative texts a term must appear in
TERM_TEXTS_MAX = 200_000  # distinct texts read for terms; beyond, the most frequent ones (said on screen)
_STOP = frozenset(["a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "did", "do", "does", "for", "from", "had", "has", "have", "i", "i'm", "in", "is", "it", "it's", "its", "my", "me", "of", "on", "or", "our", "so", "that", "the", "their", "them", "there", "they", "this", "to", "was", "we", "were", "what", "when", "which", "who", "will", "with", "you", "your", "not", "no", "very", "just", "still"])
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


@dataclass(frozen=True, slots=True)
class VoiceQuery:
    """``stages``: (touchpoint, stage) pairs (unlisted: 'other'); ``touchpoint``: the text explorer's focus
    (None = every touchpoint); ``outcomes``: conversion goals and churn; ``scale``: the score scale."""

    stages: tuple[tuple[str, str], ...] = ()
    touchpoint: str | None = None
    outcomes: Outcomes = field(default_factory=Outcomes)
    scale: str = "auto"


@dataclass(frozen=True, slots=True)
class VoiceResult:
    """``touchpoints``: touchpoint, stage, texts, negative, neutral, positive, negative_share, avg_sentiment,
    shown. ``curve``: stage, texts, avg_sentiment, negative_share, responses, avg_score (stages in journey
    order). ``snippets``: text, sentiment, times. ``terms``: term, negative_texts, other_texts, negative_share,
    other_share, ratio. ``behaviour``: touchpoint, signal, outcome, exposed, exposed_rate, baseline,
    baseline_rate, odds_ratio, ci_low, ci_high, p_value, shown (signal 'negative text' against 'positive text',
    or 'low score' against 'top-2-box')."""

    query: VoiceQuery
    coverage: Coverage
    touchpoints: pd.DataFrame
    curve: pd.DataFrame
    snippets: pd.DataFrame
    terms: pd.DataFrame
    terms_texts_capped: bool
    behaviour: pd.DataFrame
    scores: ScoresResult | None
    churn: str
    scores_problem: str = ""  # why there are no score figures although scores exist (a scale to confirm)

    @property
    def has_text(self) -> bool:
        return self.coverage.texts > 0

    def findings(self) -> list[str]:
        """Sentences with numbers, strongest first: 'customers with a negative text at chat: churn 34% vs 12%, OR 3.8 [3.1, 4.6]'."""
        rows = self.behaviour[self.behaviour.shown & (self.behaviour.ci_low > 1)]
        rows = rows.sort_values(["odds_ratio", "touchpoint", "signal", "outcome"], ascending=[False, True, False, True])
        return [finding_sentence(r) for r in rows.itertuples()]


def finding_sentence(r: object) -> str:
    g = r._asdict() if hasattr(r, "_asdict") else dict(r)  # type: ignore[call-overload]
    what = f"a negative text at {g['touchpoint']}" if g["signal"] == "negative text" else f"a low score at {g['touchpoint']}"
    other = "a positive one" if g["signal"] == "negative text" else "a top-2-box score"
    return (f"customers with {what}: {g['outcome']} {g['exposed_rate']:.0%} vs {g['baseline_rate']:.0%} after "
            f"{other}, OR {g['odds_ratio']:.1f} [{g['ci_low']:.1f}, {g['ci_high']:.1f}] "
            f"({g['exposed']:,} vs {g['baseline']:,} customers)")


def coverage(events: ir.Table) -> Coverage:
    t = events.filter(events.text.notnull())
    per = to_frame(t.group_by(language=t.language.fill_null("und")).aggregate(
        texts=t.count(), scored=t.sentiment.notnull().sum()))
    per = per.sort_values(["texts", "language"], ascending=[False, True]).reset_index(drop=True)
    return Coverage(int(per.texts.sum()), int(per.scored.sum()), per)


def _by_touchpoint(events: ir.Table, stage_of: dict[str, str]) -> pd.DataFrame:
    t = events.filter(events.sentiment.notnull())
    per = to_frame(t.group_by("touchpoint").aggregate(
        texts=t.count(), total=t.sentiment.sum(),
        negative=(t.sentiment_band == "negative").sum(), neutral=(t.sentiment_band == "neutral").sum(),
        positive=(t.sentiment_band == "positive").sum()))
    per["stage"] = [stage_of.get(str(x), NO_STAGE) for x in per.touchpoint]
    return per


def _ranked(per: pd.DataFrame) -> pd.DataFrame:
    shown = per.texts >= TEXT_FLOOR
    out = per.assign(negative_share=(per.negative / per.texts).where(shown),
                     avg_sentiment=(per.total / per.texts).where(shown), shown=shown)
    out = out.sort_values(["shown", "negative_share", "texts", "touchpoint"], ascending=[False, False, False, True])
    return out[["touchpoint", "stage", "texts", "negative", "neutral", "positive", "negative_share", "avg_sentiment",
                "shown"]].reset_index(drop=True)


def _curve(per: pd.DataFrame, scores: ScoresResult | None, stages: list[str]) -> pd.DataFrame:
    g = per.groupby("stage")[["texts", "total", "negative"]].sum()
    rows = []
    by_stage = scores.by_stage.set_index("group") if scores is not None else None
    for stage in stages:
        texts = int(g.texts.get(stage, 0))
        ok = texts >= TEXT_FLOOR
        score_row = by_stage.loc[stage] if by_stage is not None and stage in by_stage.index else None
        rows.append({"stage": stage, "texts": texts,
                     "avg_sentiment": float(g.total[stage] / texts) if ok else math.nan,
                     "negative_share": float(g.negative[stage] / texts) if ok else math.nan,
                     "responses": int(score_row.responses) if score_row is not None else 0,
                     "avg_score": float(score_row.average) if score_row is not None and score_row.shown else math.nan})
    return pd.DataFrame(rows, columns=["stage", "texts", "avg_sentiment", "negative_share", "responses", "avg_score"])


def _snippets(events: ir.Table, touchpoint: str | None) -> pd.DataFrame:
    t = events.filter((events.sentiment_band == "negative") & events.text.notnull())
    if touchpoint:
        t = t.filter(t.touchpoint == touchpoint)
    top = t.group_by("text").aggregate(sentiment=t.sentiment.min(), times=t.count())
    top = top.order_by(["sentiment", ibis.desc("times"), "text"]).limit(SNIPPETS)
    return to_frame(top)[["text", "sentiment", "times"]].reset_index(drop=True)


def _terms_of(text: str) -> set[str]:
    words = _TOKEN.findall(plain_text(text).lower())  # markup is not what was said ("a href", "script alert")
    found = {w for w in words if w not in _STOP and len(w) > 1 and not w.isdigit()}
    # two-word phrases that do not end on a filler word ("on hold", "failed twice"; not "twice on")
    found |= {f"{a} {b}" for a, b in itertools.pairwise(words) if b not in _STOP and not b.isdigit()}
    return found


def _drop_redundant(rows: list[tuple[str, int, int, float, float, float]]) -> list[tuple[str, int, int, float, float, float]]:
    """A word that only ever appears inside one of the phrases (same counts) says nothing the phrase does not."""
    phrases = {(r[1], r[2]): [] for r in rows}  # type: dict[tuple[int, int], list[str]]
    for r in rows:
        if " " in r[0]:
            phrases[(r[1], r[2])].append(r[0])
    return [r for r in rows if " " in r[0] or not any(r[0] in p.split() for p in phrases[(r[1], r[2])])]


def _terms(events: ir.Table, touchpoint: str | None) -> tuple[pd.DataFrame, bool]:
    """Terms and two-word phrases by how much more often they appear in negative texts than in the others."""
    t = events.filter(events.sentiment_band.notnull())
    if touchpoint:
        t = t.filter(t.touchpoint == touchpoint)
    distinct = t.group_by("text").aggregate(negative=(t.sentiment_band == "negative").sum(), n=t.count())
    texts = to_frame(distinct.order_by([ibis.desc("n"), "text"]).limit(TERM_TEXTS_MAX + 1))
    capped = len(texts) > TERM_TEXTS_MAX
    texts = texts.head(TERM_TEXTS_MAX)
    neg_total = int(texts.negative.sum())
    other_total = int(texts.n.sum()) - neg_total
    neg: Counter[str] = Counter()
    other: Counter[str] = Counter()
    for text, k, n in zip(texts.text, texts.negative, texts.n, strict=True):
        for term in _terms_of(str(text)):
            neg[term] += int(k)
            other[term] += int(n) - int(k)
    rows = []
    for term, a in neg.items():
        if a < TERM_MIN:
            continue
        b = other[term]
        ratio = ((a + 0.5) / (neg_total + 1)) / ((b + 0.5) / (other_total + 1))
        if ratio > 1:
            rows.append((term, a, b, a / neg_total, b / other_total if other_total else 0.0, ratio))
    out = pd.DataFrame(_drop_redundant(rows), columns=["term", "negative_texts", "other_texts", "negative_share", "other_share", "ratio"])
    out = out.sort_values(["ratio", "negative_texts", "term"], ascending=[False, False, True]).head(TERMS)
    return out.reset_index(drop=True), capped


def _first_rated(events: ir.Table, signal: str, lo: int | None, hi: int | None) -> ir.Table:
    """Each customer's first rated interaction per touchpoint: ``customer_id, touchpoint, step, ts, exposed``."""
    if signal == "negative text":
        t = events.filter(events.sentiment_band.isin(["negative", "positive"]))
        flag = t.sentiment_band == "negative"
    else:
        s = events.score.cast("float64")
        t = events.filter((s <= (lo or 0) + 1) | ((s >= (hi or 0) - 1) & (s <= (hi or 0))))
        flag = t.score.cast("float64") <= (lo or 0) + 1
    t = t.mutate(_exposed=flag.cast("int64"))
    return t.group_by(["customer_id", "touchpoint"]).aggregate(
        step=t.step.min(), exposed=t._exposed.argmin(t.step))


def _behaviour(events: ir.Table, outcomes: Outcomes, scores: ScoresResult | None) -> pd.DataFrame:
    cols = ["touchpoint", "signal", "outcome", "exposed", "exposed_rate", "baseline", "baseline_rate",
            "odds_ratio", "ci_low", "ci_high", "p_value", "shown"]
    signals: list[tuple[str, int | None, int | None]] = [("negative text", None, None)]
    if scores is not None:
        signals.append(("low score", scores.lo, scores.hi))
    extra = {}
    if outcomes.goals:
        g = events.filter(events.touchpoint.isin(list(outcomes.goals)))
        extra["conversion"] = g.group_by("customer_id").aggregate(last=g.step.max())
    if outcomes.churn_touchpoints:
        c = events.filter(events.touchpoint.isin(list(outcomes.churn_touchpoints)))
        extra["churn"] = c.group_by("customer_id").aggregate(last=c.step.max())
    else:
        try:
            st = churn_status(events, outcomes)
            extra["churn"] = st.filter(st.status == CHURNED).select("customer_id", last=ibis.literal(10**12))
        except QueryError:
            pass  # churn by inactivity cannot be seen in this data: compute_voice says so in ``churn``
    rows = []
    for signal, lo, hi in signals:
        first = _first_rated(events, signal, lo, hi)
        aggs = {}
        for name, table in extra.items():
            j = first.left_join(table.rename(_c="customer_id"), first.customer_id == table.rename(_c="customer_id")._c)
            aggs[name] = to_frame(j.group_by(["touchpoint", "exposed"]).aggregate(
                customers=j.count(), hit=(j["last"] > j.step).fill_null(False).sum()))
        for name, per in aggs.items():
            for tp, grp in per.groupby("touchpoint", sort=True):
                e = grp[grp.exposed == 1]
                b = grp[grp.exposed == 0]
                ne, ke = (int(e.customers.sum()), int(e.hit.sum()))
                nb, kb = (int(b.customers.sum()), int(b.hit.sum()))
                tt = two_by_two(ke, ne - ke, kb, nb - kb)
                shown = ne >= GROUP_FLOOR and nb >= GROUP_FLOOR and tt.min_cell >= CELL_FLOOR
                rows.append([str(tp), signal, name, ne, tt.rate_with, nb, tt.rate_without, tt.odds_ratio, tt.ci_low,
                             tt.ci_high, tt.p_value, shown])
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["shown", "odds_ratio", "touchpoint", "signal", "outcome"],
                           ascending=[False, False, True, True, True]).reset_index(drop=True)


def compute_voice(events: ir.Table, query: VoiceQuery = VoiceQuery(), *,
                  known: Sequence[str] | None = None) -> VoiceResult:
    """Every figure of the voice of the customer. ``events`` are person-scope journeys with the sentiment
    columns (:func:`journeys.io.sentiment.with_sentiment`); ``known``: the dataset's touchpoints when ``events``
    are a segment's (a goal or churn touchpoint nobody in the segment did is not a typo)."""
    seen = sorted(to_frame(events.select("touchpoint").distinct()).touchpoint.dropna().astype(str))
    if not seen:
        raise QueryError("No customer matched the segment, so there is nothing said or scored to show.",
                         hint="Loosen the segment, or clear it.")
    known = sorted(known) if known is not None else seen
    cov = coverage(events)
    if query.touchpoint and query.touchpoint not in known:
        raise unknown("touchpoint", query.touchpoint, known)
    query.outcomes.validate(known)
    stage_of = dict(query.stages)
    per = _by_touchpoint(events, stage_of)
    problem = ""
    try:
        scores = compute_scores(events, ScoresQuery(scale=query.scale, stages=query.stages))
    except QueryError as err:
        if query.scale != "auto":
            raise
        scores, problem = None, str(err)  # an unknown scale: no score figures until one is confirmed
    stages = [s for s in STAGE_ORDER if s in set(stage_of.values()) | set(per.stage)]
    snippets = _snippets(events, query.touchpoint)
    terms, capped = _terms(events, query.touchpoint)
    behaviour = _behaviour(events, query.outcomes, scores)
    churn = query.outcomes.describe()
    if "churn" not in set(behaviour.outcome):
        try:
            churn_status(events, query.outcomes)
        except QueryError as err:
            churn = f"churn is not compared: {err.message[:1].lower()}{err.message[1:].rstrip('.')}"
    return VoiceResult(query=query, coverage=cov, touchpoints=_ranked(per), curve=_curve(per, scores, stages),
                       snippets=snippets, terms=terms, terms_texts_capped=capped, behaviour=behaviour,
                       scores=scores, churn=churn, scores_problem=problem)


def voice_journeys(events: ir.Table, shaping: Shaping, segment: Segment | None = None) -> ir.Table:
    """The journeys the voice view reads: whole customers (person scope, every event, not cut at the goal),
    with the sentiment columns, after the cleaning rules and node level of ``shaping``."""
    person = replace(shaping, scope="person", collapse_repeats=False, cut_at_goal=False)
    missing = {c: ibis.null(kind) for c, kind in (("text", "string"), ("score", "float64"), ("channel", "string"))
               if c not in events.columns}  # optional roles a connected table may lack
    return journeys_for(with_sentiment(events.mutate(**missing) if missing else events), person, segment)


def default_query(touchpoints: list[str], goal: str | None, *, outcomes: Outcomes | None = None,
                  stages: tuple[tuple[str, str], ...] = (), touchpoint: str | None = None,
                  scale: str = "auto") -> VoiceQuery:
    """The query the page and the CLI start from: stages guessed from names, conversion = the goal, churn =
    the touchpoints named like churn (account_closed, unsubscribe), else inactivity."""
    stages = stages or infer_stages(touchpoints)
    if outcomes is None or (not outcomes.churn_touchpoints and outcomes.inactivity_days is None):
        churny = tuple(tp for tp, st in stages if st == "churn")
        base = outcomes or Outcomes()
        outcomes = replace(base, churn_touchpoints=churny) if churny else base
    if goal and not outcomes.goals:
        outcomes = replace(outcomes, goals=(goal,))
    return VoiceQuery(stages=stages, touchpoint=touchpoint or None, outcomes=outcomes, scale=scale)


#: the voice page's URL keys: the explorer's touchpoint and the score scale
URL_KEYS = ("vtp", "vsc")


@dataclass(frozen=True, slots=True)
class VoicePage:
    """What the Voice of the customer page adds to the view (outcomes and stages come from elsewhere)."""

    touchpoint: str | None = None
    scale: str = "auto"

    def to_params(self) -> dict[str, str]:
        out = {"vtp": self.touchpoint or "", "vsc": "" if self.scale == "auto" else self.scale}
        return {k: v for k, v in out.items() if v}

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[str]]) -> tuple[VoicePage, list[str]]:
        def one(key: str) -> str:
            vals = params.get(key) or []
            return vals[-1].strip() if vals else ""

        problems = []
        scale = one("vsc") or "auto"
        try:
            parse_scale(scale)
        except QueryError as err:
            problems.append(f"The score scale in the link could not be used ({err.message.rstrip('.')}); "
                            "it is detected instead.")
            scale = "auto"
        return cls(touchpoint=one("vtp") or None, scale=scale), problems


def compute_curve(events: ir.Table, stages: tuple[tuple[str, str], ...], scale: str = "auto") -> pd.DataFrame:
    """Only the emotion curve (what the journey map draws under its stage columns): the same figures as
    :attr:`VoiceResult.curve`, without the explorer and the comparisons."""
    stage_of = dict(stages)
    per = _by_touchpoint(events, stage_of)
    try:
        scores = compute_scores(events, ScoresQuery(scale=scale, stages=stages))
    except QueryError:
        scores = None
    order = [s for s in STAGE_ORDER if s in set(stage_of.values()) | set(per.stage)]
    return _curve(per, scores, order)
