"""The Retention page's settings as plain data, and their URL keys (only non-default values are written).

Cohorts: ``rc`` cohort unit, ``rp`` period unit, ``rn`` periods, ``rcal`` calendar, ``rm`` mode, ``rs`` start
touchpoint, ``rbd`` breakdown; lifecycle: ``li`` interval; churn: ``chi`` interval, ``chk`` last K, ``chbd``
breakdown; P(alive): ``pp`` purchases, ``pu`` until, ``ph`` horizon weeks, ``pho`` hold-out weeks, ``pb`` band
shown, ``rme`` heat-map measure, ``chb`` Sankey with still-active customers. Return events and churn come from the shared Outcomes spec (``ret``, ``ct``, ``cin``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from journeys.analyses.churn import LAST_K_DEFAULT, ChurnQuery
from journeys.analyses.lifecycle import INTERVAL_DEFAULT, LifecycleQuery
from journeys.analyses.palive import BANDS, HORIZON_WEEKS_DEFAULT, PURCHASES_DEFAULT, PAliveQuery
from journeys.analyses.palive_product import HOLDOUT_WEEKS_DEFAULT
from journeys.analyses.periods import PERIODS
from journeys.analyses.retention import MODES, PERIODS_DEFAULT, RetentionQuery
from journeys.errors import JourneyError
from journeys.outcomes import Outcomes

URL_KEYS = ("rc", "rp", "rn", "rcal", "rm", "rs", "rbd", "rme", "rg", "li", "chi", "chk", "chbd", "chb", "chp", "pp", "pu",
            "pah", "pho", "pb")
MEASURES = ("pct", "retained", "revenue")
PATH_SEP = " > "  # a churn path in a link, as the page writes it


@dataclass(frozen=True, slots=True)
class RetentionPage:
    """Every control of the Retention page. ``retention.returns`` and ``churn.outcomes`` are filled from the
    view's Outcomes by :meth:`queries`, so they are not stored twice."""

    retention: RetentionQuery = field(default_factory=RetentionQuery)
    lifecycle_interval: str = INTERVAL_DEFAULT
    churn_interval: str = "month"
    last_k: int = LAST_K_DEFAULT
    churn_breakdown: str | None = None
    palive: PAliveQuery = field(default_factory=PAliveQuery)
    holdout_weeks: float = HOLDOUT_WEEKS_DEFAULT
    band: str = BANDS[1]
    measure: str = "pct"  # the heat map shows % of cohort, customers or revenue
    sankey_active: bool = False  # the churn Sankey also draws still-active customers
    group: str | None = None  # the heat map's breakdown group (None: the first)
    churn_path: tuple[str, ...] = ()  # the likely churn path picked (empty: the first)

    def queries(self, outcomes: Outcomes) -> tuple[RetentionQuery, LifecycleQuery, ChurnQuery, PAliveQuery]:
        """The four analysis specs, with the shared outcomes (return events, churn definition) applied."""
        return (replace(self.retention, returns=outcomes.returns),
                LifecycleQuery(interval=self.lifecycle_interval, returns=outcomes.returns),  # type: ignore[arg-type]
                ChurnQuery(outcomes=outcomes, interval=self.churn_interval, last_k=self.last_k,  # type: ignore[arg-type]
                           breakdown=self.churn_breakdown),
                self.palive)

    def to_params(self) -> dict[str, str]:
        r, d, p = self.retention, RetentionQuery(), self.palive
        out = {"rc": r.cohort if r.cohort != d.cohort else "", "rp": r.period if r.period != d.period else "",
               "rn": str(r.periods) if r.periods != PERIODS_DEFAULT else "", "rcal": "1" if r.calendar else "",
               "rm": r.mode if r.mode != d.mode else "", "rs": r.start or "", "rbd": r.breakdown or "",
               "li": self.lifecycle_interval if self.lifecycle_interval != INTERVAL_DEFAULT else "",
               "chi": self.churn_interval if self.churn_interval != "month" else "",
               "chk": str(self.last_k) if self.last_k != LAST_K_DEFAULT else "", "chbd": self.churn_breakdown or "",
               "pp": ",".join(p.purchases) if p.purchases != PURCHASES_DEFAULT else "",
               "pu": p.until.isoformat() if p.until else "",
               "pah": _num(p.horizon_weeks) if p.horizon_weeks != HORIZON_WEEKS_DEFAULT else "",
               "pho": _num(self.holdout_weeks) if self.holdout_weeks != HOLDOUT_WEEKS_DEFAULT else "",
               "pb": self.band if self.band != BANDS[1] else "", "rme": self.measure if self.measure != "pct" else "",
               "chb": "1" if self.sankey_active else "", "rg": self.group or "",
               "chp": PATH_SEP.join(self.churn_path)}
        return {k: v for k, v in out.items() if v}

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[str]]) -> tuple[RetentionPage, list[str]]:
        """Read the page's keys; a value that cannot be used is a sentence and its default applies."""
        problems: list[str] = []
        page = cls()

        def attempt(key: str, what: str, apply: Callable[[RetentionPage, str], RetentionPage]) -> None:
            nonlocal page
            vals = params.get(key) or []
            raw = vals[-1].strip() if vals else ""
            if not raw:
                return
            try:
                page = apply(page, raw)
            except (ValueError, JourneyError) as err:
                reason = err.message if isinstance(err, JourneyError) else str(err)
                problems.append(f"The link's {what} '{raw[:40]}' could not be used ({reason.rstrip('.')}); "
                                "the default applies.")

        def ret(**kw: Callable[[str], Any]) -> Callable[[RetentionPage, str], RetentionPage]:
            def apply(pg: RetentionPage, raw: str) -> RetentionPage:
                q = replace(pg.retention, **{k: f(raw) for k, f in kw.items()})
                q.validate()
                return replace(pg, retention=q)
            return apply

        attempt("rc", "cohort unit", ret(cohort=_one_of(PERIODS)))
        attempt("rp", "period unit", ret(period=_one_of(PERIODS)))
        attempt("rn", "number of periods", ret(periods=int))
        attempt("rcal", "calendar setting", ret(calendar=lambda r: r == "1"))
        attempt("rm", "retention mode", ret(mode=_one_of(MODES)))
        attempt("rs", "start touchpoint", ret(start=str))
        attempt("rbd", "cohort breakdown", ret(breakdown=str))
        attempt("li", "lifecycle interval", lambda pg, r: replace(pg, lifecycle_interval=_one_of(PERIODS)(r)))
        attempt("chi", "churn interval", lambda pg, r: replace(pg, churn_interval=_one_of(PERIODS)(r)))
        attempt("chk", "number of touchpoints before churn", lambda pg, r: _checked_k(pg, int(r)))
        attempt("chbd", "churn breakdown", lambda pg, r: replace(pg, churn_breakdown=r))
        attempt("pp", "purchase touchpoints", lambda pg, r: replace(pg, palive=replace(
            pg.palive, purchases=tuple(t.strip() for t in r.split(",") if t.strip()))))
        attempt("pu", "P(alive) date", lambda pg, r: replace(pg, palive=replace(pg.palive, until=date.fromisoformat(r))))
        attempt("pah", "P(alive) horizon", lambda pg, r: _checked_palive(replace(pg, palive=replace(pg.palive, horizon_weeks=float(r)))))
        attempt("pho", "hold-out", lambda pg, r: replace(pg, holdout_weeks=_positive(float(r))))
        attempt("pb", "P(alive) band", lambda pg, r: replace(pg, band=_one_of(BANDS)(r)))
        attempt("rme", "heat-map measure", lambda pg, r: replace(pg, measure=_one_of(MEASURES)(r)))
        attempt("chb", "Sankey setting", lambda pg, r: replace(pg, sankey_active=r == "1"))
        attempt("rg", "heat-map group", lambda pg, r: replace(pg, group=r))
        attempt("chp", "churn path", lambda pg, r: replace(pg, churn_path=tuple(t.strip() for t in r.split(PATH_SEP.strip()))))
        return page, problems


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _one_of(options: Sequence[str]) -> Callable[[str], Any]:
    def check(raw: str) -> str:
        if raw not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return raw
    return check


def _positive(x: float) -> float:
    if not x > 0 or x != x:
        raise ValueError("expected a positive number of weeks")
    return x


def _checked_k(page: RetentionPage, k: int) -> RetentionPage:
    ChurnQuery(last_k=k).validate()
    return replace(page, last_k=k)


def _checked_palive(page: RetentionPage) -> RetentionPage:
    page.palive.validate()
    return page
