"""The Predict, Act and Customer pages' part of a link: what is predicted, the score band, the actions, the
customer and the audience on show. Only non-default values are written; a value that cannot be used is a
sentence and its default applies. The outcome itself (goals, churn rule) is the shared ``Outcomes`` spec.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from journeys.analyses.predict import HORIZON_DEFAULT, ORDER_DEFAULT, PredictQuery
from journeys.analyses.predict_features import Target
from journeys.errors import QueryError
from journeys.outcomes import Outcomes

URL_KEYS = ("pt", "ph", "pasof", "pord", "band", "acts", "cust", "aud")
TARGET_DEFAULT: Target = "churn"  # a churn rule always exists (inactivity); a goal may not


@dataclass(frozen=True, slots=True)
class ActPage:
    target: Target = TARGET_DEFAULT
    horizon_days: int = HORIZON_DEFAULT.days
    as_of: date | None = None
    order: int = ORDER_DEFAULT
    band: tuple[float, float] = (0.0, 1.0)
    actions: tuple[str, ...] = ()
    customer: str | None = None
    audience: str | None = None

    def predict_query(self, outcomes: Outcomes) -> PredictQuery:
        return PredictQuery(target=self.target, outcomes=outcomes, horizon=timedelta(days=self.horizon_days),
                            as_of=self.as_of, order=self.order)

    def to_params(self) -> dict[str, str]:
        d = ActPage()
        out = {
            "pt": self.target if self.target != d.target else "",
            "ph": str(self.horizon_days) if self.horizon_days != d.horizon_days else "",
            "pasof": self.as_of.isoformat() if self.as_of else "",
            "pord": str(self.order) if self.order != d.order else "",
            "band": f"{self.band[0]:g}:{self.band[1]:g}" if self.band != d.band else "",
            "acts": ",".join(self.actions), "cust": self.customer or "", "aud": self.audience or "",
        }
        return {k: v for k, v in out.items() if v}

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[str]]) -> tuple[ActPage, list[str]]:
        def one(key: str) -> str:
            vals = params.get(key) or []
            return vals[-1].strip() if vals else ""

        page, problems = cls(), []
        readers: dict[str, tuple[str, Any]] = {
            "pt": ("target", _target), "ph": ("horizon_days", _days), "pasof": ("as_of", date.fromisoformat),
            "pord": ("order", _order), "band": ("band", _band),
            "acts": ("actions", lambda r: tuple(dict.fromkeys(a.strip() for a in r.split(",") if a.strip()))),
            "cust": ("customer", str), "aud": ("audience", str),
        }
        for key, (name, read) in readers.items():
            raw = one(key)
            if not raw:
                continue
            try:
                page = replace(page, **{name: read(raw)})
            except (ValueError, TypeError):  # Python's own message ("invalid literal for int()") helps nobody
                problems.append(f"The link parameter {key}='{raw[:60]}' could not be used (expected {_EXPECTED[key]}); "
                                "the default applies.")
        return page, problems


#: what each link parameter takes, said to a person
_EXPECTED = {"pt": "conversion or churn", "ph": "a whole number of days from 1 to 366, such as 28",
             "pasof": "a date such as 2025-08-01", "pord": "a whole number from 1 to 4",
             "band": "LOW:HIGH with 0 <= LOW <= HIGH <= 1, such as 0.8:1", "acts": "touchpoint names",
             "cust": "a customer id", "aud": "an audience name"}


def _target(raw: str) -> Target:
    if raw not in ("conversion", "churn"):
        raise ValueError("expected conversion or churn")
    return raw  # type: ignore[return-value]


def _days(raw: str) -> int:
    days = int(raw.rstrip("d"))
    if not 1 <= days <= 366:
        raise ValueError("a horizon is 1 to 366 days")
    return days


def horizon_days(typed: object) -> int:
    """A horizon typed on the page (its box accepts new options): whole days, 1 to 366, else one sentence."""
    text = str(typed).strip()
    try:
        return _days(text)
    except ValueError as err:
        reason = str(err) if "horizon" in str(err) else "type a whole number of days such as 28"
        raise QueryError(f"'{text[:40]}' is not a horizon the page can use: {reason}.") from None


def _order(raw: str) -> int:
    k = int(raw)
    if not 1 <= k <= 4:
        raise ValueError("the chain order is 1 to 4")
    return k


def _band(raw: str) -> tuple[float, float]:
    low, _, high = raw.partition(":")
    lo, hi = float(low), float(high or 1)
    if not 0 <= lo <= hi <= 1:
        raise ValueError("a score band is LOW:HIGH with 0 <= LOW <= HIGH <= 1")
    return lo, hi
