"""Personal data: find it, mask it for people who should not read it, hash it for exports, and
pseudonymise ids at ingest.

- :func:`detect_pii` flags id and text columns whose values look like e-mail addresses or phone
  numbers. It runs in the engine (any Ibis backend) over the first :data:`SAMPLE_ROWS` rows.
- :func:`mask` shows ``john@example.com`` as ``j***@example.com`` and ``+44 20 7946 0958`` as ``***58``;
  :func:`mask_text` does the same inside free text.
- :func:`salted_hash` replaces an id in an export by a keyed hash (equal ids, equal hashes, so lists
  still join; the salt lives outside the store: :mod:`journeys.auth.keys`).
- :func:`pseudonymize_sql` is HMAC-SHA256 with the pseudonymisation key, written as SQL so ingest
  stores the hash instead of the raw id inside DuckDB. It equals Python's ``hmac`` (tested): equal ids
  give equal hashes, so stitching and every analysis work unchanged.

What looks like a phone number: international (``+44 20 7946 0958``, ``0044...``), national with a
trunk 0 (``020 7946 0958``), an area code in brackets, or North American ``555-010-0199``; 7-15 digits.
Plain digit strings that do not start with 0 (order or loyalty numbers), dates and IP addresses are not.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

import ibis
import pandas as pd

from journeys.auth.keys import load_key

PiiKind = Literal["e-mail addresses", "phone numbers", "e-mail addresses in text", "phone numbers in text"]
SAMPLE_ROWS = 5_000
#: share of sampled non-empty values that must match for an id column, and for a text column
ID_SHARE = 0.5
TEXT_SHARE = 0.01
PSEUDONYM_HEX = 32
HASH_HEX = 24

EMAIL = r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_PHONE_BODY = (r"(\+|00)[1-9][0-9]{0,3}([ .-]?[0-9]{1,5}){2,6}"  # international: +44 20 7946 0958
               r"|0[1-9][0-9]{1,4}[ -]?[0-9]{3,4}[ -]?[0-9]{3,4}"  # national with trunk 0: 020 7946 0958
               r"|\([0-9]{2,5}\) ?[0-9]{3,4}[ .-]?[0-9]{3,4}"  # (020) 7946 0958, (555) 010-0199
               r"|[2-9][0-9]{2}[-. ][0-9]{3}[-. ][0-9]{4}")  # 555-010-0199
PHONE = r"(" + _PHONE_BODY + r")"
_EMAIL_RE = re.compile(EMAIL)
_PHONE_RE = re.compile(r"(?<![\w+])" + PHONE + r"(?!\w)")

_pseudonymize: ContextVar[bool] = ContextVar("journeys_pseudonymize", default=False)


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def kind_of(value: str) -> Literal["email", "phone"] | None:
    """``email`` or ``phone`` when the whole value is one, else None."""
    text = value.strip()
    if re.fullmatch(EMAIL, text):
        return "email"
    if re.fullmatch(PHONE, text) and 7 <= _digits(text) <= 15:
        return "phone"
    return None


def mask(value: Any) -> Any:
    """An e-mail address or phone number with most of it hidden; anything else unchanged.

    >>> mask("john.doe@example.com"), mask("+44 20 7946 0958"), mask("c-001")
    ('j***@example.com', '***58', 'c-001')
    """
    if not isinstance(value, str):
        return value
    kind = kind_of(value)
    text = value.strip()
    if kind == "email":
        local, _, domain = text.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if kind == "phone":
        return "***" + "".join(c for c in text if c.isdigit())[-2:]
    return value


def mask_text(text: Any) -> Any:
    """Free text with every e-mail address and phone number in it masked."""
    if not isinstance(text, str):
        return text
    out = _EMAIL_RE.sub(lambda m: str(mask(m.group(0))), text)
    return _PHONE_RE.sub(lambda m: str(mask(m.group(0))) if 7 <= _digits(m.group(0)) <= 15 else m.group(0), out)


def salted_hash(value: Any, salt: bytes | None = None) -> Any:
    """A keyed hash of ``value`` for exports (24 hex digits; None stays None)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return value
    key = salt if salt is not None else load_key("export-salt")
    return hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:HASH_HEX]


def pseudonym(value: str, key: bytes | None = None) -> str:
    """The pseudonym ingest stores for ``value``: HMAC-SHA256 with the pseudonymisation key (32 hex)."""
    k = key if key is not None else load_key("pseudonym")
    return hmac.new(k, value.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]


def pseudonymize_sql(column_sql: str, key: bytes | None = None) -> str:
    """DuckDB SQL computing :func:`pseudonym` of a VARCHAR expression (NULL stays NULL).

    HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)), with the padded keys as blob literals and
    DuckDB's ``sha256``; tested equal to :func:`pseudonym`.
    """
    k = (key if key is not None else load_key("pseudonym")).ljust(64, b"\0")
    ipad = "".join(f"\\x{b ^ 0x36:02x}" for b in k)
    opad = "".join(f"\\x{b ^ 0x5C:02x}" for b in k)
    inner = f"sha256('{ipad}'::BLOB || encode(CAST({column_sql} AS VARCHAR)))"
    return f"substr(sha256('{opad}'::BLOB || unhex({inner})), 1, {PSEUDONYM_HEX})"


@contextmanager
def pseudonymizing(on: bool = True) -> Iterator[None]:
    """Within this block, loads store pseudonyms instead of raw customer ids (``--pseudonymize``)."""
    token = _pseudonymize.set(on)
    try:
        yield
    finally:
        _pseudonymize.reset(token)


def pseudonymize_on() -> bool:
    import os

    return _pseudonymize.get() or os.environ.get("JOURNEYS_PSEUDONYMIZE", "") in ("1", "true", "yes")


def detect_pii(table: ibis.Table, columns: Sequence[str], *, text_columns: Sequence[str] = (),
               sample: int = SAMPLE_ROWS) -> dict[str, PiiKind]:
    """Columns among ``columns`` (ids, attributes) whose values mostly are e-mail addresses or phone
    numbers, and ``text_columns`` where some values contain one. One aggregate query in the engine."""
    wanted = [c for c in dict.fromkeys([*columns, *text_columns]) if c in table.columns]
    if not wanted:
        return {}
    head = table.select(*wanted).limit(sample)
    aggs: dict[str, Any] = {}
    for i, col in enumerate(wanted):
        value = head[col].cast("string").strip()
        value = ibis.ifelse(value == "", ibis.null("string"), value)
        if col in text_columns:
            aggs[f"e{i}"] = value.re_search(EMAIL).cast("int64").mean()
            aggs[f"p{i}"] = value.re_search(r"(^|[^0-9A-Za-z+])" + PHONE + r"($|[^0-9A-Za-z])").cast("int64").mean()
        else:
            aggs[f"e{i}"] = value.re_search("^" + EMAIL + "$").cast("int64").mean()
            aggs[f"p{i}"] = value.re_search("^" + PHONE + "$").cast("int64").mean()
    shares = head.aggregate(**aggs).to_pandas().iloc[0]
    found: dict[str, PiiKind] = {}
    for i, col in enumerate(wanted):
        email, phone = (float(shares[f"{k}{i}"]) if pd.notna(shares[f"{k}{i}"]) else 0.0 for k in ("e", "p"))
        if col in text_columns:
            if email >= TEXT_SHARE:
                found[col] = "e-mail addresses in text"
            elif phone >= TEXT_SHARE:
                found[col] = "phone numbers in text"
        elif email >= ID_SHARE:
            found[col] = "e-mail addresses"
        elif phone >= ID_SHARE:
            found[col] = "phone numbers"
    return found


def describe(found: dict[str, PiiKind]) -> str:
    """The load report's sentence naming personal-data columns ('' when there are none)."""
    if not found:
        return ""
    listed = "; ".join(f"'{c}' ({k})" for c, k in found.items())
    return (f"Personal data: {listed}. Viewers see these masked, and exports by roles without the "
            "download right carry salted hashes.")


def mask_frame(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A copy with ``columns`` masked value by value (ids) or inside the text (anything longer)."""
    out = frame.copy()
    for col in columns:
        if col in out.columns:
            out[col] = out[col].map(lambda v: mask(v) if kind_of(str(v)) else mask_text(v))
    return out


def hash_frame(frame: pd.DataFrame, columns: Sequence[str], salt: bytes | None = None) -> pd.DataFrame:
    """A copy with ``columns`` replaced by their salted hashes (for exports)."""
    key = salt if salt is not None else load_key("export-salt")
    out = frame.copy()
    for col in columns:
        if col in out.columns:
            out[col] = out[col].map(lambda v: salted_hash(v, key))
    return out


def at_ingest(con: Any, table: str, attributes: Sequence[str], *, names: dict[str, str] | None = None) -> list[str]:
    """The ingest hook, on the staged canonical table: name the personal-data columns (a load report
    line) and, when pseudonymising (``--pseudonymize`` or ``JOURNEYS_PSEUDONYMIZE=1``), replace the
    customer id and every attribute of e-mail addresses or phone numbers by its keyed hash."""
    staged = ibis.duckdb.from_connection(con).table(table)
    names = names or {}  # canonical column -> the file's column, for the report
    found = detect_pii(staged, ["customer_id", *attributes], text_columns=["text"])
    notes = [describe({names.get(c, c): k for c, k in found.items()})] if found else []
    if pseudonymize_on():
        key = load_key("pseudonym")
        aliases = ["alias_id"] if "alias_id" in names else []  # stitching links hash alike
        ids = ["customer_id", *aliases, *[c for c, k in found.items() if c != "customer_id" and "text" not in k]]
        _hash_columns(con, table, ids, key)
        hashed = ", ".join(f"'{names.get(c, c)}'" for c in ids)
        notes.append(f"Pseudonymised: {hashed} stored as keyed hashes (HMAC-SHA256; the key is kept outside the store, "
                     "so equal ids still give equal hashes).")
    return notes


def pii_in_frame(frame: pd.DataFrame, *, sample: int = 200) -> list[str]:
    """Text columns of an in-memory table (a page's table, an export) holding personal data: mostly
    whole e-mail addresses or phone numbers (ids), or some inside longer text."""
    found = []
    for col in frame.columns:
        series = frame[col]
        if not (series.dtype == object or pd.api.types.is_string_dtype(series)):
            continue
        values = [v for v in series.dropna().head(sample) if isinstance(v, str) and v.strip()]
        if not values:
            continue
        whole = sum(kind_of(v) is not None for v in values) / len(values)
        inside = sum(mask_text(v) != v for v in values) / len(values)
        if whole >= ID_SHARE or inside >= TEXT_SHARE:
            found.append(str(col))
    return found


def transform(con: Any, staged: Any) -> None:
    """:func:`at_ingest` as an ingest transform (journeys.engine.ingest.transform_staged): its sentences
    go to the load report's warnings."""
    mapping = staged.mapping
    names = {} if mapping is None else {
        canonical: str(getattr(mapping, role)) for role, canonical in
        (("customer", "customer_id"), ("text", "text"), ("alias", "alias_id")) if getattr(mapping, role, None)}
    staged.warnings.extend(at_ingest(con, "_staged", staged.attributes, names=names))


def pseudonymize_columns(con: Any, table: str, columns: Sequence[str]) -> bool:
    """When pseudonymising, replace ``columns`` of ``table`` (an identity file's ids) by their keyed
    hashes, as ingest does for customer ids, so links still meet the events. Returns whether it did."""
    if not pseudonymize_on() or not columns:
        return False
    _hash_columns(con, table, columns, load_key("pseudonym"))
    return True


def _hash_columns(con: Any, table: str, columns: Sequence[str], key: bytes) -> None:
    """Replace each column's values by their pseudonyms, hashing each distinct value once (a person has
    many events: on 1M events with 320k customers this takes about half the time of hashing every row)."""
    for col in columns:
        c = '"' + col.replace('"', '""') + '"'
        con.execute(f"CREATE OR REPLACE TEMP TABLE _pseudonyms AS SELECT v, {pseudonymize_sql('v', key)} AS h "
                    f'FROM (SELECT DISTINCT CAST({c} AS VARCHAR) AS v FROM "{table}" WHERE {c} IS NOT NULL)')
        con.execute(f'UPDATE "{table}" SET {c} = _pseudonyms.h FROM _pseudonyms WHERE CAST("{table}".{c} AS VARCHAR) = _pseudonyms.v')
    con.execute("DROP TABLE IF EXISTS _pseudonyms")
