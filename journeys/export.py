"""Hand-off formats: CSV that spreadsheets cannot execute, capped at the export limit."""

from __future__ import annotations

import re

import pandas as pd

EXPORT_ROWS = 50_000
TABLE_ROWS = 400
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: a signed number or phone number ("+44 20 7946 0000", "-12.5"): a spreadsheet reads it as a value, never a
#: formula, so it stays as it is (a stitched person id is often a phone number)
_PLAIN_NUMBER = re.compile(r"[+-][0-9][0-9 ().-]*")


def neutralise(value: object) -> object:
    """Prefix a text cell that a spreadsheet would read as a formula with a single quote (OWASP advice); a
    signed number or phone number is left alone."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_csv(frame: pd.DataFrame, *, limit: int = EXPORT_ROWS) -> bytes:
    """UTF-8 CSV of at most ``limit`` rows with formula-looking text cells neutralised."""
    out = frame.head(limit).copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    out.columns = [str(neutralise(str(c))) for c in out.columns]
    return out.to_csv(index=False).encode("utf-8")
