"""Canonical column roles and the mapping from a source file's columns to them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Literal

from journeys.errors import MappingError, did_you_mean

Role = Literal["customer", "timestamp", "touchpoint", "channel", "session", "value", "score", "text", "alias"]
ROLES: tuple[Role, ...] = ("customer", "timestamp", "touchpoint", "channel", "session", "value", "score", "text",
                           "alias")
REQUIRED_ROLES: tuple[Role, ...] = ("customer", "timestamp", "touchpoint")

#: role -> canonical column name inside the engine
CANONICAL: dict[str, str] = {
    "customer": "customer_id",
    "timestamp": "ts",
    "touchpoint": "touchpoint",
    "channel": "channel",
    "session": "session_id",
    "value": "value",
    "score": "score",
    "text": "text",
    "alias": "alias_id",  # a second id of the same person (a login id next to a cookie id): a stitching link
}
#: names the engine reserves; attribute columns with these names get an ``attr_`` prefix
RESERVED = frozenset({*CANONICAL.values(), "seq", "step", "next_touchpoint", "next_ts", "source", "raw_id",
                       "sentiment", "sentiment_band", "language"})


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """Source column for each role; ``None`` for an optional role the file does not have.

    ``timestamp_unit`` forces epoch parsing (``s``/``ms``/``us``/``ns``) instead of detection;
    ``timestamp_offset`` names a second column to add to the timestamp (GA360 hit time in ms).
    """

    customer: str
    timestamp: str
    touchpoint: str
    channel: str | None = None
    session: str | None = None
    value: str | None = None
    score: str | None = None
    text: str | None = None
    alias: str | None = None
    timestamp_unit: str | None = None
    timestamp_offset: str | None = None
    touchpoint_parts: tuple[str, ...] = field(default=())

    def role_columns(self) -> dict[str, str]:
        """role -> source column, only the mapped roles."""
        return {r: getattr(self, r) for r in ROLES if getattr(self, r)}

    def used_columns(self) -> set[str]:
        cols = set(self.role_columns().values()) | set(self.touchpoint_parts)
        if self.timestamp_offset:
            cols.add(self.timestamp_offset)
        return cols

    def validate(self, columns: list[str]) -> None:
        """Raise :class:`MappingError` naming each missing column, with the closest real one."""
        for role in REQUIRED_ROLES:
            if not getattr(self, role):
                raise MappingError(f"The {role} role is required but not mapped.", remedy="map_columns")
        for name, col in [*self.role_columns().items(), ("timestamp_offset", self.timestamp_offset)]:
            if col and col not in columns:
                raise MappingError(
                    f"Column '{col}' (mapped to {name}) is not in the file.{did_you_mean(col, columns)}",
                    hint=f"Columns: {', '.join(columns[:30])}.", remedy="map_columns",
                )
        if self.alias and self.alias == self.customer:
            raise MappingError(f"Column '{self.alias}' is mapped to both customer and alias: the alias role is a "
                               "second id of the same person, in another column.", remedy="map_columns")
        if self.timestamp_unit not in (None, "s", "ms", "us", "ns"):
            raise MappingError(f"Unknown timestamp unit '{self.timestamp_unit}'.", hint="Use s, ms, us or ns.")

    def with_overrides(self, overrides: dict[str, str]) -> ColumnMapping:
        """A copy with roles replaced, rejecting unknown role names with a suggestion."""
        known = {f.name for f in fields(self)}
        for key in overrides:
            if key not in known:
                raise MappingError(f"Unknown role '{key}'.{did_you_mean(key, ROLES)}", hint=f"Roles: {', '.join(ROLES)}.")
        data = asdict(self) | {k: (v or None) for k, v in overrides.items()}
        data["touchpoint_parts"] = tuple(data.get("touchpoint_parts") or ())
        return ColumnMapping(**data)

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v})

    @classmethod
    def from_json(cls, text: str) -> ColumnMapping:
        data = json.loads(text)
        data["touchpoint_parts"] = tuple(data.get("touchpoint_parts") or ())
        return cls(**data)

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> ColumnMapping:
        """Build from role -> column, with the same unknown-role checks as :meth:`with_overrides`."""
        missing = [r for r in REQUIRED_ROLES if not data.get(r)]
        if missing:
            raise MappingError(f"Required role(s) not mapped: {', '.join(missing)}.", remedy="map_columns")
        base = cls(customer=data["customer"], timestamp=data["timestamp"], touchpoint=data["touchpoint"])
        return base.with_overrides({k: v for k, v in data.items() if k not in REQUIRED_ROLES})
