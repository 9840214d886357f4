"""Column-mapping presets for the exports people upload, and detection of a mapping from names and values."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from journeys.errors import MappingError, did_you_mean
from journeys.schema import REQUIRED_ROLES, ColumnMapping

# role -> candidate source columns, first present wins. Flattened exports spell nested fields with
# dots or underscores, so both spellings are listed.
PRESETS: dict[str, dict[str, Sequence[str]]] = {
    "ga4": {
        "customer": ["user_pseudo_id", "user_id"],
        "alias": ["user_id"],  # the logged-in id next to the device id: a stitching link
        "timestamp": ["event_timestamp", "event_timestamp_us"],
        "touchpoint": ["event_name"],
        "channel": ["traffic_source.medium", "traffic_source_medium", "first_touch_medium", "event_medium",
                    "collected_traffic_source.manual_medium"],
        "session": ["ga_session_id", "session_id"],
        "value": ["purchase_revenue_usd", "ecommerce.purchase_revenue_in_usd", "ecommerce_purchase_revenue_in_usd",
                  "event_value_in_usd", "event_value_usd"],
    },
    "ga360": {
        "customer": ["fullVisitorId", "clientId"],
        "timestamp": ["visitStartTime"],
        "timestamp_offset": ["hits.time", "hits_time", "hitTime", "hit_time"],
        "touchpoint": ["hits.page.pagePath", "hits_page_pagePath", "pagePath", "page_path", "hits.type", "hits_type"],
        "channel": ["channelGrouping", "trafficSource.medium", "trafficSource_medium"],
        "session": ["visitId", "visitNumber"],
        "value": ["totals.transactionRevenue", "totals_transactionRevenue", "hits.transaction.transactionRevenue",
                  "hits_transaction_transactionRevenue"],
    },
    "mixpanel": {
        "customer": ["distinct_id", "$distinct_id", "properties.distinct_id"],
        "timestamp": ["time", "properties.time", "$time"],
        "touchpoint": ["event"],
        "channel": ["utm_medium", "$utm_medium", "mp_lib", "$os"],
        "session": ["$session_id", "session_id"],
    },
    "amplitude": {
        "customer": ["user_id", "amplitude_id", "device_id"],
        "timestamp": ["event_time", "client_event_time", "server_upload_time"],
        "touchpoint": ["event_type"],
        "channel": ["platform", "utm_medium"],
        "session": ["session_id"],
        "value": ["revenue", "price"],
    },
    "segment": {
        "customer": ["anonymousId", "anonymous_id", "userId", "user_id"],
        "alias": ["userId", "user_id"],  # set once the visitor identifies: stitches the anonymous events
        "timestamp": ["timestamp", "originalTimestamp", "receivedAt"],
        "touchpoint": ["event", "name", "type"],
        "channel": ["context.campaign.medium", "context_campaign_medium", "context.library.name", "channel"],
        "value": ["properties.revenue", "properties_revenue", "revenue"],
    },
    "process-mining": {
        "customer": ["case:concept:name", "case_id", "case", "CaseID", "Case ID"],
        "timestamp": ["time:timestamp", "timestamp", "Complete Timestamp", "start_timestamp"],
        "touchpoint": ["concept:name", "activity", "Activity"],
        "channel": ["org:resource", "resource", "Resource"],
    },
}
#: the aggregated path-table preset has its own columns (see :data:`PATH_TABLE_COLUMNS`)
PATH_PRESET = "paths"
PATH_TABLE_COLUMNS: dict[str, Sequence[str]] = {
    "path": ["path", "paths", "journey", "channel_path"],
    "conversions": ["total_conversions", "conversions", "conversion", "converted"],
    "nulls": ["total_null", "null", "non_conversions", "not_converted", "total_nulls"],
    "value": ["total_conversion_value", "conversion_value", "value", "revenue"],
}
PRESET_NAMES = (*PRESETS, PATH_PRESET)


def _pick(columns: Sequence[str], candidates: Sequence[str]) -> str | None:
    lowered = {c.lower(): c for c in columns}
    for cand in candidates:
        if cand in columns:
            return cand
        if cand.lower() in lowered:
            return lowered[cand.lower()]
    return None


def preset_mapping(preset: str, columns: Sequence[str]) -> ColumnMapping:
    """The preset's mapping resolved against the file's columns; a clear error when a required one is missing."""
    if preset not in PRESETS:
        raise MappingError(f"Unknown preset '{preset}'.{did_you_mean(preset, PRESET_NAMES)}",
                           hint=f"Presets: {', '.join(PRESET_NAMES)}.")
    spec = PRESETS[preset]
    found = {role: _pick(columns, cands) for role, cands in spec.items()}
    for role in ("customer", "timestamp", "touchpoint"):
        if not found.get(role):
            wanted = " or ".join(f"'{c}'" for c in spec[role][:3])
            guess = did_you_mean(spec[role][0], columns)
            raise MappingError(
                f"This file does not look like a {preset} export: no {role} column ({wanted}).{guess}",
                hint=f"Columns: {', '.join(list(columns)[:20])}.", remedy="choose_preset",
            )
    mapping = ColumnMapping(customer=found["customer"] or "", timestamp=found["timestamp"] or "",
                            touchpoint=found["touchpoint"] or "")
    extras = {r: c for r, c in found.items() if r not in ("customer", "timestamp", "touchpoint") and c}
    if extras.get("alias") == mapping.customer:  # only one id column: nothing to stitch with
        extras.pop("alias")
    return mapping.with_overrides(extras)


def path_table_columns(columns: Sequence[str]) -> dict[str, str]:
    """Resolve the aggregated path-table columns: path and at least one of conversions / nulls."""
    found = {k: _pick(columns, v) for k, v in PATH_TABLE_COLUMNS.items()}
    if not found["path"] or not (found["conversions"] or found["nulls"]):
        raise MappingError(
            "This file does not look like an aggregated path table: it needs a 'path' column (a > b > c) "
            "and 'total_conversions' and/or 'total_null' counts.",
            hint=f"Columns: {', '.join(list(columns)[:20])}.",
        )
    return {k: v for k, v in found.items() if v}


# ---- detection -------------------------------------------------------------------------------

_NAME_HINTS: dict[str, tuple[str, ...]] = {
    "customer": ("user_pseudo_id", "customer_id", "user_id", "userid", "distinct_id", "fullvisitorid", "client_id",
                 "visitor_id", "person_id", "contact_id", "account_id", "case:concept:name", "case_id", "anonymousid",
                 "amplitude_id", "customer", "user", "uid", "cid"),
    "timestamp": ("event_timestamp", "timestamp", "time:timestamp", "event_time", "event_date_time", "datetime",
                  "occurred_at", "created_at", "ts", "time", "date"),
    "touchpoint": ("event_name", "touchpoint", "event", "event_type", "concept:name", "activity", "action", "page",
                   "page_path", "step", "name"),
    "channel": ("channel", "medium", "utm_medium", "source_medium", "acquisition_channel", "traffic_source",
                "platform", "resource"),
    "session": ("session_id", "ga_session_id", "sessionid", "visit_id", "session"),
    "value": ("revenue", "value", "order_value", "amount", "purchase_revenue_usd", "price"),
    "score": ("csat", "nps", "score", "rating", "satisfaction"),
    "text": ("feedback", "comment", "text", "transcript", "message", "note", "feedback_text", "comment_text",
             "message_text", "review", "review_text", "verbatim", "free_text", "body", "email_body", "chat_text",
             "transcript_text", "notes", "comments", "remarks"),
}
_TS_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_EPOCH_SHAPE = re.compile(r"^\d{9,19}(\.\d+)?$")


def _looks_like_time(values: pd.Series) -> float:
    vals = values.dropna().astype(str).str.strip()
    vals = vals[vals != ""]
    if vals.empty:
        return 0.0
    return float(vals.map(lambda v: bool(_TS_SHAPE.match(v) or _EPOCH_SHAPE.match(v))).mean())


#: a column that only that preset's exports have; a process-mining log may spell its activity plainly
SIGNATURES: dict[str, Sequence[str]] = {
    "ga4": ["event_name"], "ga360": ["fullVisitorId"], "mixpanel": ["distinct_id"], "amplitude": ["event_type"],
    "segment": ["anonymousId"], "process-mining": ["concept:name", "activity"],
}


@dataclass(frozen=True, slots=True)
class Detection:
    """What :func:`detect_mapping` found: ``roles`` (role -> column, possibly without every required role),
    the matching ``preset`` if any, and ``notes`` saying what was found and what was not."""

    roles: dict[str, str] = field(default_factory=dict)
    preset: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def missing(self) -> tuple[str, ...]:
        """Required roles no column was found for."""
        return tuple(r for r in REQUIRED_ROLES if r not in self.roles)

    @property
    def mapping(self) -> ColumnMapping | None:
        """The mapping, when every required role was found."""
        return None if self.missing else ColumnMapping.from_dict(self.roles)


def detect_mapping(frame: pd.DataFrame) -> Detection:
    """Suggest a mapping from column names and value shapes.

    A role that cannot be found leaves the others in place (a file without a timestamp column still
    gets its customer and touchpoint), and the notes name what is missing.
    """
    columns = [str(c) for c in frame.columns]
    for preset, signature in SIGNATURES.items():
        try:
            mapping = preset_mapping(preset, columns)
        except MappingError:
            continue
        if _pick(columns, signature):
            said = [f"Columns match the {preset} preset."]
            other = _pick(columns, ["customer", "customer_id"]) if preset == "process-mining" else None
            if other and other != mapping.customer:
                said.append(f"Each case ('{mapping.customer}') is one journey; map the customer to '{other}' "
                            "to follow each customer across cases.")
            return Detection(mapping.role_columns(), preset, tuple(said))
    try:
        path_table_columns(columns)
        return Detection({}, PATH_PRESET, ("Columns look like an aggregated path table; use the 'paths' preset.",))
    except MappingError:
        pass
    chosen: dict[str, str] = {}
    notes: list[str] = []
    lowered = {c.lower().strip(): c for c in columns}
    for role, hints in _NAME_HINTS.items():
        for hint in hints:
            col = lowered.get(hint)
            if col and col not in chosen.values():
                chosen[role] = col
                break
    if "timestamp" not in chosen or _looks_like_time(frame[chosen["timestamp"]]) < 0.8:
        shaped = [c for c in columns if c not in chosen.values() and _looks_like_time(frame[c]) >= 0.8]
        if shaped:
            chosen["timestamp"] = shaped[0]
            notes.append(f"'{shaped[0]}' holds timestamps.")
    missing = [r for r in REQUIRED_ROLES if r not in chosen]
    if missing:
        notes.append(f"No column found for: {', '.join(missing)}.")
    return Detection(chosen, None, tuple(notes))
