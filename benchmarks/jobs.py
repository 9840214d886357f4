"""The benchmarked jobs: four default analyses in three settings, run by journeys, and the plain-data
shape every implementation (journeys and its peers) reports so their counts can be compared.

Peers (``duckdb_sql``, ``polars_baseline``, ``pandas_baseline``) each expose
``run(job, setting, source) -> counts`` where ``counts`` has the shape :func:`counts_of` gives ours.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

GOAL = "purchase"
FUNNEL_STEPS = ("product_view", "add_to_cart", "checkout", "purchase")
WINDOW_S = 7 * 86_400
GAP_S = 30 * 60
DEPTH, TOP, VARIANTS = 5, 5, 10
TIME_CAP_S = 30 * 60
SEGMENT_DEVICE, SEGMENT_DID = "mobile", "add_to_cart"
END_YES, END_NO, START = "END (converted)", "END (not converted)", "START"
OTHER, ENDS = "Other", "(journey ends)"
ARROW, MORE = " > ", "…"

JOBS = {"transitions": "transition graph", "sankey": "5-step Sankey", "funnel": "4-step funnel, 7 d",
        "journey_map": "journey map"}
SETTINGS = {"plain": "no segment", "segment": "mobile + did cart", "sessions": "sessions + collapse"}
#: targets from issue 8, seconds
GOALS = {("plain", "funnel"): 1.0, ("segment", "funnel"): 1.0}
GOAL_DEFAULT = {"plain": 0.5, "segment": 0.5, "sessions": 1.5}


def goal_for(setting: str, job: str) -> float:
    return GOALS.get((setting, job), GOAL_DEFAULT[setting])


def ours(table: Any, setting: str, job: str, stages: tuple[tuple[str, str], ...]) -> Any:
    """The journeys result of ``job`` in ``setting`` (segment and shaping applied, as the dashboard does)."""
    from journeys.analyses.base import journeys_for
    from journeys.analyses.funnels import FunnelQuery, compute_funnel
    from journeys.analyses.journey_map import compute_journey_map
    from journeys.analyses.paths import PathQuery, compute_paths
    from journeys.analyses.transitions import compute_transitions
    from journeys.segments import Filter, Segment
    from journeys.shaping import Shaping

    segment = Segment((Filter("attribute", (SEGMENT_DEVICE,), column="device"), Filter("did", (SEGMENT_DID,))))
    shaping = (Shaping(goal=GOAL, scope="session", collapse_repeats=True) if setting == "sessions"
               else Shaping(goal=GOAL))
    j = journeys_for(table, shaping, segment if setting == "segment" else None)
    analyses: dict[str, Callable[[], Any]] = {
        "transitions": lambda: compute_transitions(j, goal=GOAL),
        "sankey": lambda: compute_paths(j, PathQuery(), goal=GOAL),
        "funnel": lambda: compute_funnel(j, FunnelQuery(steps=tuple((s,) for s in FUNNEL_STEPS))),
        "journey_map": lambda: compute_journey_map(j, stages, goal=GOAL),
    }
    return analyses[job]()


def counts_of(job: str, result: Any) -> Any:
    """Our result in the peers' plain shape (only the counts every implementation produces)."""
    if job == "transitions":
        e = result.edges
        return {(s, t): (int(n), int(c)) for s, t, n, c in zip(e.source, e.target, e["count"], e.customers, strict=True)}
    if job == "sankey":
        links = {(s, t): int(n) for s, t, n in zip(result.links.source, result.links.target, result.links.customers,
                                                   strict=True)}
        return {"links": links, "variants": [(p, int(n)) for p, n in zip(result.variants.path,
                                                                        result.variants.customers, strict=True)]}
    if job == "funnel":
        return [int(n) for n in result.steps.customers]
    t = result.touchpoints
    return {"journeys": int(result.journeys),
            "touchpoints": {tp: (int(e), int(j), round(c * j), int(d)) for tp, e, j, c, d in
                            zip(t.touchpoint, t.events, t.journeys, t.conversion_onward, t.drop_offs, strict=True)},
            "stages": {s: int(n) for s, n in zip(result.stages.stage, result.stages.journeys, strict=True)}}


def sankey_counts(flows: list[tuple[int, str, str | None, int]], variants: list[tuple[str, int]]) -> dict[str, Any]:
    """Peers' Sankey in our shape: ``flows`` are (step, touchpoint, next touchpoint or None, journeys) for
    steps 1..DEPTH; each step keeps its TOP touchpoints, the rest become Other, a missing next ends."""
    size: dict[tuple[int, str], int] = {}
    for step, tp, _, n in flows:
        size[(step, tp)] = size.get((step, tp), 0) + n
    ranked = sorted(size, key=lambda k: (k[0], -size[k], k[1]))
    label, rank = {}, dict.fromkeys(range(1, DEPTH + 1), 0)
    for step, tp in ranked:
        label[(step, tp)] = tp if rank[step] < TOP else OTHER
        rank[step] += 1
    links: dict[tuple[str, str], int] = {}
    for step, tp, nxt, n in flows:
        if step < DEPTH:
            key = (f"{step}:{label[(step, tp)]}", f"{step + 1}:{label[(step + 1, nxt)] if nxt else ENDS}")
            links[key] = links.get(key, 0) + n
    return {"links": links, "variants": list(variants)}


#: jobs only journeys computes (no peer has them): name -> (label, target seconds from their issue)
OWN_JOBS: dict[str, tuple[str, float]] = {"drivers": ("drivers, all touchpoints", 1.0)}
# issue 10: retention, lifecycle and churn as the Retention page runs them by default, and the BG/NBD fit
OWN_JOBS |= {"retention": ("retention, weekly cohorts", 0.5), "lifecycle": ("lifecycle, weekly", 0.5),
             "churn": ("churn, default inactivity + paths", 0.5), "bgnbd": ("BG/NBD fit, 1.5M customers", 10.0)}
BGNBD_CUSTOMERS = 1_500_000
# issue 11: attribution by channel, every rule model and order-1 Markov, without and with 200 bootstrap resamples
OWN_JOBS |= {"attribution": ("attribution, rules + Markov", 1.0), "attribution_bands": ("attribution, 200 bootstraps", 10.0)}
# issue 12: P(churn within 28 d, default inactivity rule): training and validating both models, then scoring every
# open journey with reasons (the goals: training < 60 s, scoring 1.5M customers < 30 s)
OWN_JOBS |= {"predict_train": ("predict: train + validate", 60.0), "predict_score": ("predict: score open journeys", 30.0)}
# issue 13: the journey analysis report of the whole dataset with the goal set, written as HTML as the CLI writes it
OWN_JOBS |= {"report": ("report: build + HTML", 30.0)}


def own_job(table: Any, job: str, info: Any = None) -> Any:
    """Issue 11: drivers of conversion for every touchpoint candidate (30-day window), as the dashboard runs it."""
    from journeys.analyses.base import journeys_for
    from journeys.analyses.drivers import DriversQuery, compute_drivers
    from journeys.outcomes import Outcomes
    from journeys.shaping import Shaping

    jobs: dict[str, Callable[[], Any]] = {
        # the stored table does not change during the bench: its name keys the occurrences drivers keep
        "drivers": lambda: compute_drivers(journeys_for(table, Shaping()),
                                           DriversQuery(outcomes=Outcomes(goals=(GOAL,)), kinds=("touchpoint",)),
                                           reuse=table.get_name()),
    }
    if job in ("retention", "lifecycle", "churn", "bgnbd"):
        return retention_job(table, job)
    if job.startswith("predict"):
        return predict_job(table, job)
    if job == "report":
        return report_job(table, info)
    if job.startswith("attribution"):
        from journeys.analyses.attribution import AttributionQuery, compute_attribution

        return compute_attribution(journeys_for(table, Shaping()), AttributionQuery(
            goals=(GOAL,), bootstrap=200 if job == "attribution_bands" else 0))
    return jobs[job]()


def retention_job(table: Any, job: str) -> Any:
    """Issue 10's jobs; the fit runs on 1.5M customers drawn from the BG/NBD process (the bench data has fewer buyers)."""
    from journeys.analyses.base import journeys_for
    from journeys.analyses.churn import ChurnQuery, compute_churn
    from journeys.analyses.lifecycle import compute_lifecycle
    from journeys.analyses.palive import fit_bgnbd
    from journeys.analyses.retention import compute_retention
    from journeys.outcomes import Outcomes
    from journeys.shaping import Shaping

    if job == "bgnbd":
        return fit_bgnbd(*bgnbd_customers())
    j = journeys_for(table, Shaping(goal=GOAL))
    if job == "retention":
        return compute_retention(j)
    if job == "lifecycle":
        return compute_lifecycle(j)
    return compute_churn(j, ChurnQuery(outcomes=Outcomes(goals=(GOAL,))))


def report_job(table: Any, info: Any) -> str:
    """``journeys report DATASET --goal purchase --out report.html``: every section, findings, charts as images
    (``info``: the dataset's ``DatasetInfo``)."""
    from dataclasses import replace

    from journeys.report.build import build_report
    from journeys.report.render import to_html
    from journeys.views import ViewState

    view = ViewState(dataset=info.id)
    view = replace(view, shaping=replace(view.shaping, goal=GOAL))
    return to_html(build_report(table, info, view))


_DRAWN: list[Any] = []


def bgnbd_customers(n: int = BGNBD_CUSTOMERS, seed: int = 3) -> Any:
    """(frequency, recency, T) in weeks for ``n`` customers simulated from BG/NBD with CDNOW's published parameters,
    observed 39 weeks at daily resolution; drawn once per process."""
    if not _DRAWN:
        import numpy as np

        rng = np.random.default_rng(seed)
        rate = rng.gamma(0.243, 1 / 4.414, n)
        drop = rng.beta(0.793, 2.426, n)
        age = rng.integers(1, 39 * 7, n) / 7
        x, last = np.zeros(n), np.zeros(n)
        alive, now = np.ones(n, bool), np.zeros(n)
        while alive.any():
            now = np.where(alive, now + rng.exponential(1 / np.maximum(rate, 1e-9)), now)
            bought = alive & (now < age)
            x, last = np.where(bought, x + 1, x), np.where(bought, now, last)
            alive = bought & (rng.random(n) >= drop)
        _DRAWN.append((x, np.floor(last * 7) / 7, age))
    return _DRAWN[0]


def compare(ours_counts: Any, peer_counts: Any, where: str) -> list[str]:
    """Differences between two plain results, as short sentences (empty when equal)."""
    if ours_counts == peer_counts:
        return []
    if isinstance(ours_counts, dict) and isinstance(peer_counts, dict):
        out = []
        for key in sorted(set(ours_counts) | set(peer_counts), key=str):
            a, b = ours_counts.get(key), peer_counts.get(key)
            if a != b:
                out += compare(a, b, f"{where} {key}") if isinstance(a, dict) and isinstance(b, dict) else \
                    [f"{where} {key}: journeys {a}, peer {b}"]
        return out[:5]
    return [f"{where}: journeys {ours_counts}, peer {peer_counts}"]


_TRAINED: dict[str, Any] = {}


def predict_job(table: Any, job: str) -> Any:
    """Issue 12: ``predict_train`` fits and validates; ``predict_score`` scores with the last fitted models."""
    from journeys.analyses.predict import PredictQuery, score_predict, train_predict
    from journeys.outcomes import Outcomes

    if job == "predict_train" or table.get_name() not in _TRAINED:
        _TRAINED[table.get_name()] = train_predict(table, PredictQuery(target="churn", outcomes=Outcomes(goals=(GOAL,))))
        if job == "predict_train":
            return _TRAINED[table.get_name()]
    return score_predict(_TRAINED[table.get_name()])
