"""The load report: what a load read, stored, rejected and noticed. Nothing is dropped without a count."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

#: rejection reasons, in the order they are checked (a row counts under the first that applies)
#: the examples key of rows a dedupe load skipped (reports stored before it had its own count list them as rejected)
ALREADY_STORED = "already stored"
REASONS = ("malformed line", "empty customer id", "missing timestamp", "unparseable timestamp", "empty touchpoint")


@dataclass(frozen=True, slots=True)
class LoadReport:
    """Counts for one load. ``rejected`` maps reason -> rows; ``examples`` maps reason -> 1-based row numbers.

    ``already_stored`` counts rows a ``dedupe`` load skipped because the dataset holds them: good rows, so
    they are not rejections (their example rows sit under ``examples[ALREADY_STORED]``).
    """

    dataset_id: str
    name: str
    source: str
    rows_read: int
    rows_stored: int
    rejected: dict[str, int]
    examples: dict[str, list[int]]
    duplicates: int
    tied_timestamps: int
    customers: int
    touchpoints: int
    start: str | None
    end: str | None
    coerced: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    already_stored: int = 0

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"rows_rejected": self.rows_rejected}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> LoadReport:
        data = json.loads(text)
        data.pop("rows_rejected", None)
        rejected = dict(data.get("rejected") or {})
        if ALREADY_STORED in rejected:  # written before skipped rows had their own count
            data["already_stored"] = data.get("already_stored", 0) + rejected.pop(ALREADY_STORED)
            data["rejected"] = rejected
        return cls(**data)

    def lines(self) -> list[str]:
        """The report as sentences, for the terminal and the dashboard."""
        out = [
            f"Dataset {self.dataset_id} '{self.name}' from {self.source}",
            f"Rows read: {self.rows_read:,}; stored: {self.rows_stored:,}; rejected: {self.rows_rejected:,}"
            + (f"; already stored (skipped): {self.already_stored:,}" if self.already_stored else ""),
        ]
        if self.already_stored:
            rows = ", ".join(str(r) for r in self.examples.get(ALREADY_STORED, []))
            out.append(f"  skipped, already in the dataset: {self.already_stored:,}" + (f" (e.g. row {rows})" if rows else ""))
        for reason, count in self.rejected.items():
            rows = ", ".join(str(r) for r in self.examples.get(reason, []))
            out.append(f"  rejected, {reason}: {count:,} (e.g. row {rows})")
        for what, count in self.coerced.items():
            out.append(f"  kept, {what}: {count:,}")
        out += [
            f"Exact duplicate rows (kept): {self.duplicates:,}",
            f"Rows sharing a timestamp with an earlier event of the same customer: {self.tied_timestamps:,}",
            f"Customers: {self.customers:,}; touchpoints: {self.touchpoints:,}",
            f"Time span (UTC): {self.start or '-'} to {self.end or '-'}",
        ]
        out += [f"Warning: {w}" for w in self.warnings]
        return out
