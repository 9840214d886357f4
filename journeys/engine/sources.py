"""A dataset made of several sources: add, append to, and remove a source, keeping persons up to date.

A *source* is one export (a web analytics file, an e-mail platform export, a call-centre log) with its own
mapping and load reports. Every event carries its ``source`` name and ``raw_id`` (the id as loaded);
``customer_id`` is the person the raw id belongs to after stitching (itself when nothing links it).

Ties break on ``(ts, source order, seq)``: ``seq`` is stored as ``source_no * 2**40 + position in the
source``, so ordering by ``(ts, seq)`` everywhere gives the rule, and a single-source dataset keeps plain
positions. Appending to a source continues its positions, so appending a file equals loading the
concatenation.

Changes touch only the persons they affect: the new events' persons and the persons whose membership
changed are deleted and re-inserted with fresh ``step`` / ``next_*`` columns; nothing else is rewritten.
All of it runs inside the caller's transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from journeys.engine import identities as idt
from journeys.engine.ingest import CORE_COLUMNS, Staged, one, q
from journeys.errors import InputError, unknown

SEQ_STRIDE = 1 << 40
CATALOGUE_DDL = """
CREATE TABLE IF NOT EXISTS sources (
    dataset_id VARCHAR, source_no INTEGER, name VARCHAR, kind VARCHAR, channel VARCHAR, added TIMESTAMP,
    mapping VARCHAR, reports VARCHAR, next_pos BIGINT, rows BIGINT, customers BIGINT, start VARCHAR, "end" VARCHAR);
CREATE TABLE IF NOT EXISTS loaded_files (dataset_id VARCHAR, fingerprint VARCHAR, file VARCHAR, source_no INTEGER,
    added TIMESTAMP);
CREATE TABLE IF NOT EXISTS stitching (dataset_id VARCHAR, exclusions VARCHAR, report VARCHAR);
"""
DERIVED = ("step", "next_touchpoint", "next_ts")
#: the reason a --dedupe'd event is counted under in the load report
ALREADY_STORED = "already stored"


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """One source of a dataset: ``kind`` is ``events`` or ``identities``; ``reports`` one dict per load."""

    dataset_id: str
    source_no: int
    name: str
    kind: str
    channel: str | None
    added: datetime
    mapping: str | None
    reports: tuple[dict[str, Any], ...]
    rows: int
    customers: int
    start: str | None
    end: str | None


def columns_of(cur: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """column -> type of a stored table, in order."""
    rows = cur.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? AND database_name <> 'temp' "
                       "ORDER BY column_index", [table]).fetchall()
    return {r[0]: r[1] for r in rows}


def list_sources(cur: duckdb.DuckDBPyConnection, dataset_id: str) -> list[SourceInfo]:
    """The dataset's sources in the order they were added (a dataset from before sources lists none)."""
    if not idt.has_table(cur, "sources"):
        return []
    rows = cur.execute('SELECT dataset_id, source_no, name, kind, channel, added, mapping, reports, rows, customers, '
                       'start, "end" FROM sources WHERE dataset_id = ? ORDER BY source_no', [dataset_id]).fetchall()
    return [SourceInfo(r[0], int(r[1]), r[2], r[3], r[4], r[5], r[6], tuple(json.loads(r[7] or "[]")), int(r[8] or 0),
                       int(r[9] or 0), r[10], r[11]) for r in rows]


def upgrade_events(cur: duckdb.DuckDBPyConnection, table: str, first_source: str) -> None:
    """Give an events table from before sources its ``source`` and ``raw_id`` columns."""
    cols = columns_of(cur, table)
    if "source" not in cols:
        cur.execute(f"ALTER TABLE {q(table)} ADD COLUMN source VARCHAR")
        cur.execute(f"UPDATE {q(table)} SET source = ?", [first_source])
    if "raw_id" not in cols:
        cur.execute(f"ALTER TABLE {q(table)} ADD COLUMN raw_id VARCHAR")
        cur.execute(f"UPDATE {q(table)} SET raw_id = customer_id")


def claim_source(cur: duckdb.DuckDBPyConnection, dataset_id: str, wanted: str, *, kind: str, explicit: bool,
                 channel: str | None, mapping: str | None) -> tuple[int, int, str]:
    """``(source_no, next position, name)``: an existing source of that name when asked by name (an append to
    it), else a new source with the next number (a default name that is taken gets `` (2)``)."""
    existing = {s.name: s for s in list_sources(cur, dataset_id)}
    if explicit and wanted in existing:
        s = existing[wanted]
        if s.kind != kind:
            raise InputError(f"The source '{wanted}' holds {s.kind}, not {kind}: pick another --source name.")
        (pos,) = one(cur.execute("SELECT next_pos FROM sources WHERE dataset_id = ? AND source_no = ?",
                             [dataset_id, s.source_no])) or (0,)
        return s.source_no, int(pos), wanted
    name, n = wanted, 2
    while name in existing:
        name, n = f"{wanted} ({n})", n + 1
    (no,) = one(cur.execute("SELECT coalesce(max(source_no) + 1, 0) FROM sources WHERE dataset_id = ?",
                        [dataset_id])) or (0,)
    cur.execute("INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, '[]', 0, 0, 0, NULL, NULL)",
                [dataset_id, int(no), name, kind, channel, datetime.now(UTC).replace(tzinfo=None), mapping])
    return int(no), 0, name


def stage_new_rows(cur: duckdb.DuckDBPyConnection, staged: Staged, *, source_no: int, next_pos: int, source: str,
                   channel: str | None, view: bool = False) -> int:
    """Temp table ``_new`` (a view for a new dataset: no copy of a big file): the accepted staged rows with
    their source, raw id and dataset-wide seq. Returns the positions the file used (the next load of the
    same source continues after them)."""
    cols = columns_of_temp(cur, "_staged")
    alias = "alias_id" if "alias_id" in cols else "CAST(NULL AS VARCHAR)"
    attrs = "".join(f", {q(a)}" for a in staged.attributes)
    cur.execute(f"""
        CREATE OR REPLACE TEMP {"VIEW" if view else "TABLE"} _new AS
        SELECT customer_id AS raw_id, ts, CAST(seq + {source_no * SEQ_STRIDE + next_pos} AS BIGINT) AS seq, touchpoint,
               coalesce(channel, {_literal(channel)}) AS channel, session_id, value, score, text, CAST({_literal(source)} AS VARCHAR) AS source,
               {alias} AS alias_id{attrs}
        FROM _staged WHERE _reject IS NULL""")
    (used,) = one(cur.execute("SELECT coalesce(max(seq) + 1, 0) FROM _staged")) or (0,)
    return int(used)


def _literal(text: str | None) -> str:
    """A SQL string literal (views take no parameters)."""
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


def columns_of_temp(cur: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in cur.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND database_name = 'temp' "
                                      "ORDER BY column_index", [table]).fetchall()]


def dedupe_new_rows(cur: duckdb.DuckDBPyConnection, table: str, keys: list[str], offset: int) -> tuple[int, list[int]]:
    """Drop rows of ``_new`` that the events table already holds (equal on ``keys``); returns how many, and
    the first few as 1-based row numbers of the file (``offset`` = the seq of its first row)."""
    present = set(columns_of(cur, table))
    missing = [k for k in keys if k not in present]
    if missing:
        raise unknown("--dedupe column", missing[0], sorted(present - set(DERIVED)), error=InputError)
    cond = " AND ".join(f"e.{q(k)} IS NOT DISTINCT FROM n.{q(k)}" for k in keys)
    cur.execute(f"CREATE OR REPLACE TEMP TABLE _dups AS SELECT n.seq FROM _new n WHERE EXISTS "
                f"(SELECT 1 FROM {q(table)} e WHERE {cond})")
    (count, first) = one(cur.execute(f"SELECT count(*), list(seq - {offset} + 1 ORDER BY seq)[1:5] FROM _dups")) or (0, [])
    cur.execute("DELETE FROM _new WHERE seq IN (SELECT seq FROM _dups)")
    cur.execute("DROP TABLE _dups")
    return int(count), [int(x) for x in first or []]


def dedupe_keys(spec: str, mapping_roles: dict[str, str], attributes: list[str]) -> list[str]:
    """``exact`` -> every canonical column and attribute; else the listed file columns as stored columns."""
    if spec == "exact":
        return ["raw_id", "ts", "touchpoint", "channel", "session_id", "value", "score", "text", *attributes]
    canonical = {"customer": "raw_id", "timestamp": "ts", "session": "session_id"}
    by_column = {col: canonical.get(role, role) for role, col in mapping_roles.items()}
    out = []
    for col in (c.strip() for c in spec.split(",") if c.strip()):
        out.append(by_column.get(col, col if col in attributes else f"attr_{col.lstrip('_')}"
                                 if f"attr_{col.lstrip('_')}" in attributes else col))
    return out


def refresh(cur: duckdb.DuckDBPyConnection, dataset_id: str, table: str, *, new_rows: bool, drop_source: str | None,
            persons_changed: bool) -> int:
    """Re-insert the affected persons' events (with ``_new`` if ``new_rows``, without ``drop_source``'s)
    under their current person ids, with fresh step and next-event columns. Returns the change in the
    number of persons (so the dataset's count needs no pass over every event)."""
    pt = q(idt.persons_table(dataset_id))
    idt.ensure_links(cur, dataset_id)
    if not persons_changed:
        cur.execute(f"CREATE OR REPLACE TEMP TABLE _old_persons AS SELECT * FROM {pt} LIMIT 0")
        cur.execute("CREATE OR REPLACE TEMP TABLE _changed (id VARCHAR)")
    parts = ["SELECT id FROM _changed"]
    if new_rows:
        parts.append("SELECT raw_id FROM _new")
    if drop_source is not None:
        parts.append(f"SELECT raw_id FROM {q(table)} WHERE source = $drop")
    params = {"drop": drop_source} if drop_source is not None else {}
    cur.execute(f"CREATE OR REPLACE TEMP TABLE _touched AS {' UNION '.join(parts)}", params)
    old_lookup = f"(SELECT * FROM {pt} WHERE NOT {persons_changed}) UNION ALL (SELECT * FROM _old_persons)"
    cur.execute(f"""
        CREATE OR REPLACE TEMP TABLE _affected AS
        WITH np AS (SELECT DISTINCT coalesce(p.person, t.id) AS person FROM _touched t LEFT JOIN {pt} p ON p.id = t.id),
             members AS (SELECT id FROM {pt} WHERE person IN (SELECT person FROM np)
                         UNION SELECT id FROM _touched UNION SELECT person FROM np)
        SELECT DISTINCT coalesce(o.person, m.id) AS customer_id FROM members m LEFT JOIN ({old_lookup}) o ON o.id = m.id""")
    stored = columns_of(cur, table)
    keep = [c for c in stored if c not in DERIVED and c != "customer_id"]
    new_cols = set(columns_of_temp(cur, "_new")) if new_rows else set()
    sel_old = ", ".join(q(c) for c in keep)
    union = ""
    if new_rows:
        sel_new = ", ".join(f"TRY_CAST({q(c)} AS {stored[c]}) AS {q(c)}" if c in new_cols else f"NULL AS {q(c)}"
                            for c in keep)
        union = f"UNION ALL SELECT {sel_new}, NULL, false FROM _new"
    dropped = "source IS NOT DISTINCT FROM $drop" if drop_source is not None else "false"
    cur.execute(f"""CREATE OR REPLACE TEMP TABLE _redo AS
        SELECT {sel_old}, customer_id AS _old_cid, {dropped} AS _dropped FROM {q(table)}
        SEMI JOIN _affected USING (customer_id)
        {union}""", params)
    cur.execute(f"DELETE FROM {q(table)} WHERE customer_id IN (SELECT customer_id FROM _affected)")
    cur.execute(f"""INSERT INTO {q(table)} BY NAME
        SELECT r.* EXCLUDE (_old_cid, _dropped), coalesce(p.person, r.raw_id) AS customer_id,
               CAST(row_number() OVER w AS BIGINT) AS step,
               lead(r.touchpoint) OVER w AS next_touchpoint, lead(r.ts) OVER w AS next_ts
        FROM _redo r LEFT JOIN {pt} p ON p.id = r.raw_id WHERE NOT r._dropped
        WINDOW w AS (PARTITION BY coalesce(p.person, r.raw_id) ORDER BY r.ts, r.seq)""")
    (before, after) = one(cur.execute(f"""SELECT count(DISTINCT _old_cid),
        count(DISTINCT coalesce(p.person, r.raw_id)) FILTER (WHERE NOT r._dropped)
        FROM _redo r LEFT JOIN {pt} p ON p.id = r.raw_id""")) or (0, 0)
    for tmp in ("_redo", "_affected", "_touched", "_changed", "_old_persons"):
        cur.execute(f"DROP TABLE IF EXISTS {tmp}")
    return int(after) - int(before)


def create_events(cur: duckdb.DuckDBPyConnection, dataset_id: str, table: str, attributes: list[str]) -> None:
    """A new dataset's events table from ``_new``, persons applied (alias links may join ids already)."""
    pt = q(idt.persons_table(dataset_id))
    attrs = "".join(f", r.{q(a)}" for a in attributes)
    core = ", ".join(f"r.{c}" if c != "customer_id" else "coalesce(p.person, r.raw_id) AS customer_id"
                     for c in CORE_COLUMNS)
    cur.execute(f"""
        CREATE TABLE {q(table)} AS
        SELECT {core}, CAST(row_number() OVER w AS BIGINT) AS step, lead(r.touchpoint) OVER w AS next_touchpoint,
               lead(r.ts) OVER w AS next_ts, r.source, r.raw_id{attrs}
        FROM _new r LEFT JOIN {pt} p ON p.id = r.raw_id
        WINDOW w AS (PARTITION BY coalesce(p.person, r.raw_id) ORDER BY r.ts, r.seq)""")


def add_attribute_columns(cur: duckdb.DuckDBPyConnection, table: str, attributes: list[str]) -> list[str]:
    """Add the new source's attribute columns the events table lacks; returns them."""
    stored = columns_of(cur, table)
    types = {r[0]: r[1] for r in cur.execute("SELECT column_name, data_type FROM duckdb_columns() "
                                             "WHERE table_name = '_new' AND database_name = 'temp'").fetchall()}
    added = [a for a in attributes if a not in stored]
    for a in added:
        cur.execute(f"ALTER TABLE {q(table)} ADD COLUMN {q(a)} {types[a]}")
    return added


def source_summary(cur: duckdb.DuckDBPyConnection, attributes: list[str]) -> dict[str, object]:
    """The load report's counts for the rows of ``_new`` alone (one source's share of the dataset)."""
    keys = ", ".join(["raw_id", "ts", "touchpoint", "channel", "session_id", "value", "score", "text",
                      *[q(a) for a in attributes]])
    row = one(cur.execute(f"""SELECT count(*), count(DISTINCT raw_id), count(DISTINCT touchpoint), min(ts), max(ts),
        count(*) - count(DISTINCT (raw_id, ts)), count(*) - count(DISTINCT ({keys})) FROM _new"""))
    stored, customers, touchpoints, start, end, ties, dups = row or (0, 0, 0, None, None, 0, 0)
    return {"rows_stored": int(stored), "customers": int(customers), "touchpoints": int(touchpoints),
            "start": start.isoformat(sep=" ") if start else None, "end": end.isoformat(sep=" ") if end else None,
            "tied_timestamps": int(ties), "duplicates": int(dups)}


def record_load(cur: duckdb.DuckDBPyConnection, dataset_id: str, source_no: int, *, used: int,
                report: dict[str, Any], ids_added: int, fingerprint: str | None, file: str) -> None:
    """Append the load's report to its source and add its rows, new ids and time span to the source's."""
    (reports, start, end) = one(cur.execute('SELECT reports, start, "end" FROM sources WHERE dataset_id = ? '
                                            "AND source_no = ?", [dataset_id, source_no])) or ("[]", None, None)
    spans = [x for x in (start, report.get("start")) if x], [x for x in (end, report.get("end")) if x]
    cur.execute('UPDATE sources SET reports = ?, next_pos = next_pos + ?, rows = rows + ?, customers = customers + ?, '
                'start = ?, "end" = ? WHERE dataset_id = ? AND source_no = ?',
                [json.dumps([*json.loads(reports), report]), used, report["rows_stored"], ids_added,
                 min(spans[0]) if spans[0] else None, max(spans[1]) if spans[1] else None, dataset_id, source_no])
    if fingerprint:
        cur.execute("INSERT INTO loaded_files VALUES (?, ?, ?, ?, ?)",
                    [dataset_id, fingerprint, file, source_no, datetime.now(UTC).replace(tzinfo=None)])


def dataset_summary(cur: duckdb.DuckDBPyConnection, table: str, customers: int | None = None) -> dict[str, object]:
    """The whole dataset's counts after a change (customers are persons; pass them when known, since
    counting distinct ids is the one expensive pass over a big table)."""
    persons = "count(DISTINCT customer_id)" if customers is None else str(int(customers))
    row = one(cur.execute(f"SELECT count(*), {persons}, count(DISTINCT touchpoint), min(ts), max(ts), "
                          f"count(*) FILTER (WHERE next_ts = ts) FROM {q(table)}"))
    stored, customers, touchpoints, start, end, ties = row or (0, 0, 0, None, None, 0)
    return {"rows_stored": int(stored), "customers": int(customers), "touchpoints": int(touchpoints),
            "start": start.isoformat(sep=" ") if start else None, "end": end.isoformat(sep=" ") if end else None,
            "tied_timestamps": int(ties)}




@dataclass(frozen=True, slots=True)
class Loaded:
    """What :func:`load_events` did: the source it wrote to and what it dropped, linked and added."""

    source_no: int
    source: str
    used_positions: int
    deduplicated: int
    links_added: int
    attributes_added: tuple[str, ...]
    persons_delta: int = 0
    source_ids_added: int = 0
    dedupe_examples: list[int] = field(default_factory=list)


def load_events(cur: duckdb.DuckDBPyConnection, dataset_id: str, table: str, staged: Staged, *, new: bool,
                source: str, explicit: bool, channel: str | None, dedupe: str | None, mapping_json: str | None,
                first_source: str | None = None) -> Loaded:
    """Write the staged rows (temp ``_staged``) into the dataset as a new source or an append to one.

    A new dataset gets its table built in one pass; an existing one gets only its affected persons
    rewritten (see :func:`refresh`). ``first_source`` names the one source of a dataset from before sources.
    """
    if not new:
        upgrade_events(cur, table, first_source or "source 1")
        if first_source is not None and not list_sources(cur, dataset_id):
            claim_source(cur, dataset_id, first_source, kind="events", explicit=False, channel=None, mapping=None)
            (rows, pos, ids, lo, hi) = one(cur.execute(
                f"SELECT count(*), coalesce(max(seq) + 1, 0), count(DISTINCT raw_id), min(ts), max(ts) FROM {q(table)}"
            )) or (0, 0, 0, None, None)
            cur.execute('UPDATE sources SET rows = ?, next_pos = ?, customers = ?, start = ?, "end" = ? WHERE dataset_id = ?',
                        [rows, pos, ids, lo.isoformat(sep=" ") if lo else None, hi.isoformat(sep=" ") if hi else None,
                         dataset_id])
    no, pos, name = claim_source(cur, dataset_id, source, kind="events", explicit=explicit, channel=channel,
                                 mapping=mapping_json)
    used = stage_new_rows(cur, staged, source_no=no, next_pos=pos, source=name, channel=channel, view=new)
    dropped, examples = 0, list[int]()
    if dedupe and not new:
        roles = json.loads(mapping_json).items() if mapping_json else []
        keys = dedupe_keys(dedupe, {r: c for r, c in roles if isinstance(c, str)}, staged.attributes)
        dropped, examples = dedupe_new_rows(cur, table, keys, no * SEQ_STRIDE + pos)
    links = idt.add_alias_links(cur, dataset_id, no)
    if links:
        idt.recompute_persons(cur, dataset_id)
    added: list[str] = []
    delta, ids_added = 0, 0
    if new:
        create_events(cur, dataset_id, table, staged.attributes)
    else:
        # ids this load adds to its source (counted before the rows go in; a new source has only these)
        known = "" if pos == 0 else (f"WHERE NOT EXISTS (SELECT 1 FROM {q(table)} e WHERE e.source = "
                                     f"{_literal(name)} AND e.raw_id = n.raw_id)")
        (ids_added,) = one(cur.execute(f"SELECT count(DISTINCT raw_id) FROM _new n {known}")) or (0,)
        added = add_attribute_columns(cur, table, staged.attributes)
        delta = refresh(cur, dataset_id, table, new_rows=True, drop_source=None, persons_changed=bool(links))
    return Loaded(no, name, used, dropped, links, tuple(added), delta, int(ids_added), examples)


def remove_source(cur: duckdb.DuckDBPyConnection, dataset_id: str, table: str, name: str) -> tuple[SourceInfo, int]:
    """Delete a source's events (or identity links) and re-stitch the persons it touched; returns the source
    and the change in the number of persons."""
    found = {s.name: s for s in list_sources(cur, dataset_id)}
    if name not in found:
        raise unknown("source", name, found, error=InputError)
    src = found[name]
    if src.kind == "events" and sum(s.kind == "events" for s in found.values()) == 1:
        raise InputError(f"'{name}' is the dataset's only event source: delete the dataset instead.")
    idt.ensure_links(cur, dataset_id)
    lt = q(idt.links_table(dataset_id))
    (links,) = one(cur.execute(f"SELECT count(*) FROM {lt} WHERE source_no = ?", [src.source_no])) or (0,)
    if links:
        cur.execute(f"DELETE FROM {lt} WHERE source_no = ?", [src.source_no])
        idt.recompute_persons(cur, dataset_id)
    delta = refresh(cur, dataset_id, table, new_rows=False, drop_source=name if src.kind == "events" else None,
                    persons_changed=bool(links))
    cur.execute("DELETE FROM sources WHERE dataset_id = ? AND source_no = ?", [dataset_id, src.source_no])
    cur.execute("DELETE FROM loaded_files WHERE dataset_id = ? AND source_no = ?", [dataset_id, src.source_no])
    return src, delta


def drop_new_rows(cur: duckdb.DuckDBPyConnection) -> None:
    """Remove ``_new`` (before the staged rows it reads from)."""
    for (kind,) in cur.execute("SELECT table_type FROM information_schema.tables WHERE table_name = '_new'").fetchall():
        cur.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS _new")


def already_loaded(cur: duckdb.DuckDBPyConnection, dataset_id: str, fingerprint: str) -> bool:
    """Whether a file with this content fingerprint was loaded into the dataset before (for ``watch``)."""
    if not idt.has_table(cur, "loaded_files"):
        return False
    row = one(cur.execute("SELECT count(*) FROM loaded_files WHERE dataset_id = ? AND fingerprint = ?",
                      [dataset_id, fingerprint]))
    return bool(row and row[0])


def merged_report(old: dict[str, Any], new: dict[str, Any], summary: dict[str, object], *,
                  sources: int) -> dict[str, Any]:
    """The dataset's report after a change: counts over every source, the latest load's timing."""
    rejected = dict(old.get("rejected") or {})
    for reason, n in (new.get("rejected") or {}).items():
        rejected[reason] = rejected.get(reason, 0) + n
    coerced = dict(old.get("coerced") or {})
    for what, n in (new.get("coerced") or {}).items():
        coerced[what] = coerced.get(what, 0) + n
    warnings = list(dict.fromkeys([*(old.get("warnings") or []), *(new.get("warnings") or [])]))
    out = dict(old) | summary | {
        "rows_read": old["rows_read"] + new.get("rows_read", 0), "rejected": rejected, "coerced": coerced,
        "duplicates": old.get("duplicates", 0) + new.get("duplicates", 0), "warnings": warnings,
        "elapsed_s": new.get("elapsed_s", 0.0), "source": f"{sources} sources" if sources > 1 else old["source"],
    }
    out.pop("rows_rejected", None)
    return out
