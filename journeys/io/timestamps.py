"""Timestamp parsing as DuckDB SQL, so 10M rows are parsed inside the engine.

Accepted: ISO 8601 with or without offset (each value keeps its own offset, so a file spanning a
DST change is right), ``Z``, date-only values, a few common day-first forms, epoch seconds /
milliseconds / microseconds / nanoseconds told apart by magnitude, and native timestamp or date
columns. Naive values are read in the stated time zone (default UTC). Output: naive UTC TIMESTAMP.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from journeys.errors import InputError, did_you_mean

_NAIVE_FORMATS = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d",
                  "%Y%m%d%H%M%S", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y")
_UNIT_US = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0.001}


def check_timezone(tz: str) -> str:
    """Return ``tz`` if it is a known IANA zone, else raise with the closest name."""
    if tz.upper() == "UTC":
        return "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise InputError(f"Unknown time zone '{tz}'.{did_you_mean(tz, available_timezones())}",
                         hint="Use an IANA name such as 'Europe/Berlin' or 'UTC'.") from err
    return tz


def _localize(naive_sql: str, tz: str) -> str:
    if tz == "UTC":
        return naive_sql
    zone = tz.replace("'", "''")
    return f"CAST(timezone('{zone}', {naive_sql}) AS TIMESTAMP)"


def _epoch_sql(num: str, unit: str | None) -> str:
    """Epoch number -> TIMESTAMP; the unit comes from the magnitude unless stated."""
    if unit:
        factor = _UNIT_US[unit]
        return f"make_timestamp(CAST(round({num} * {factor}) AS BIGINT))"
    return (
        f"make_timestamp(CAST(round({num} * CASE WHEN abs({num}) < 1e11 THEN 1000000 "
        f"WHEN abs({num}) < 1e14 THEN 1000 WHEN abs({num}) < 1e17 THEN 1 ELSE 0.001 END) AS BIGINT))"
    )


def timestamp_sql(col: str, duck_type: str, *, tz: str = "UTC", unit: str | None = None) -> str:
    """SQL turning column ``col`` (already quoted) of DuckDB type ``duck_type`` into a UTC TIMESTAMP or NULL."""
    t = duck_type.upper()
    if t.startswith("TIMESTAMP WITH TIME ZONE") or t == "TIMESTAMPTZ":
        return f"CAST({col} AS TIMESTAMP)"
    if t.startswith("TIMESTAMP") or t == "DATE":
        return _localize(f"CAST({col} AS TIMESTAMP)", tz)
    if t in {"BIGINT", "INTEGER", "HUGEINT", "UBIGINT", "DOUBLE", "FLOAT", "SMALLINT"} or t.startswith("DECIMAL"):
        return _epoch_sql(f"CAST({col} AS DOUBLE)", unit)
    s = f"trim(CAST({col} AS VARCHAR))"
    naive = "coalesce(try_cast({s} AS TIMESTAMP), {alts})".format(
        s=s, alts=", ".join(f"try_strptime({s}, '{f}')" for f in _NAIVE_FORMATS)
    )
    compact_date = f"try_strptime({s}, '%Y%m%d')"
    full = (
        f"CASE WHEN {col} IS NULL OR {s} = '' THEN NULL "
        f"WHEN regexp_full_match({s}, '(19|20)[0-9][0-9](0[1-9]|1[0-2])[0-3][0-9]') "
        f"THEN {_localize(compact_date, tz)} "
        f"WHEN regexp_full_match({s}, '-?[0-9]+(\\.[0-9]+)?') THEN {_epoch_sql(f'CAST({s} AS DOUBLE)', unit)} "
        f"WHEN regexp_matches({s}, '[0-9](Z|z|[+-][0-9][0-9](:?[0-9][0-9])?)$') "
        f"AND regexp_matches({s}, '[0-9][T ][0-9]') THEN CAST(try_cast({s} AS TIMESTAMPTZ) AS TIMESTAMP) "
        f"ELSE {_localize(naive, tz)} END"
    )
    if tz != "UTC" or unit:
        return full
    # fast path: DuckDB's own ISO parser (offsets honoured, naive read as UTC); the rest falls through
    return f"coalesce(CAST(try_cast({s} AS TIMESTAMPTZ) AS TIMESTAMP), {full})"
