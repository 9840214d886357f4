"""Identity stitching: ids from different systems joined into persons, computed inside the engine.

A *link* says two ids (a cookie and a user id, an e-mail address and a phone number) belong to the same
person. Persons are the connected components of the link graph; a person's id is the smallest member id
(string order), so it never depends on the order links were read in. Components come from iterative
label propagation with pointer jumping, written as Ibis expressions: it runs unchanged on DuckDB and on
Spark, and only one count per round reaches Python.

Only linked ids get a row in the persons table; an id that no link mentions is its own person.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import ibis
import ibis.expr.types as ir

from journeys.engine.ingest import one, q
from journeys.errors import InputError

#: a person with more ids than this is probably an over-merge (a shared device, a test account, a
#: call-centre number typed into every record): the stitching report warns and names it
OVERMERGE_IDS = 50
#: label propagation with pointer jumping halves long chains every round; this bounds a runaway graph
MAX_ROUNDS = 200
#: how many over-merged persons and hub ids the warning names
WORST_SHOWN = 5


def connected_components(links: ir.Table, *, max_rounds: int = MAX_ROUNDS) -> ir.Table:
    """``(id, person)`` for every id in ``links`` (columns ``a``, ``b``); ``person`` = smallest id of its component.

    Each round every id takes the smallest label among itself and its neighbours, then the label of its
    label (pointer jumping). Each round's labels are materialised in the engine; only the count of
    changed labels comes to Python. The returned table lives in the engine too.
    """
    backend = links._find_backend()
    clean = links.filter(links.a.notnull() & links.b.notnull() & (links.a != links.b))
    edges = clean.select(u=clean.a.cast("string"), v=clean.b.cast("string"))
    edges, drop_edges = _materialize(backend, edges.union(edges.select(u=edges.v, v=edges.u), distinct=True))
    label = edges.group_by(id=edges.u).aggregate(p=edges.v.min())
    label, drop_label = _materialize(backend, label.mutate(p=ibis.least(label.id, label.p)))
    try:
        for _ in range(max_rounds):
            nxt, drop_nxt = _materialize(backend, _round(edges, label))
            changed = nxt.join(label, nxt.id == label.id).filter(lambda t: t.p != t.p_right).count().execute()
            drop_label()
            label, drop_label = nxt, drop_nxt
            if int(changed) == 0:
                return label.select("id", person=label.p)
    finally:
        drop_edges()
    raise InputError(f"Identity links did not settle into persons within {max_rounds} rounds.")


_names = itertools.count()


def _materialize(backend: Any, expr: ir.Table) -> tuple[ir.Table, Callable[[], object]]:
    """Compute ``expr`` into a temporary table of its engine; returns it and a function that drops it.

    DuckDB gets a plain temp table (Ibis 12's cache cannot drop its tables on DuckDB 2.0); other engines
    use Ibis' cache (Spark: a persisted DataFrame behind a temp view).
    """
    if getattr(backend, "name", "") == "duckdb":
        name = f"_stitch_{os.getpid()}_{next(_names)}"
        backend.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {ibis.to_sql(expr, dialect='duckdb')}")
        return backend.table(name), lambda: backend.con.execute(f"DROP TABLE IF EXISTS {name}")
    cached = expr.cache()
    return cached, cached.release


def _round(edges: ir.Table, label: ir.Table) -> ir.Table:
    """One propagation round: smallest label among self and neighbours, then the label of that label."""
    seen = edges.join(label, edges.v == label.id).select(id=edges.u, p=label.p)
    hooked = seen.union(label.select("id", "p")).group_by("id").aggregate(p=ibis._.p.min())
    hop = label.select(hid=label.id, hp=label.p)
    jumped = hooked.left_join(hop, hooked.p == hop.hid)
    return jumped.select(id=jumped.id, p=ibis.least(jumped.p, jumped.hp.fill_null(jumped.p)))


def links_from_columns(table: ir.Table, columns: Iterable[str]) -> ir.Table:
    """Links ``(a, b)`` from each row of an identity table: its first non-empty id to each other non-empty id."""
    cols = list(columns)

    def clean(c: str) -> ir.StringValue:
        value = table[c].cast("string").strip()
        return ibis.ifelse(value == "", ibis.null("string"), value)

    first = ibis.coalesce(*[clean(c) for c in cols])
    parts = [table.select(a=first, b=clean(c)) for c in cols[1:]] + [table.select(a=first, b=clean(cols[0]))]
    out = parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]
    return out.filter(out.a.notnull() & out.b.notnull() & (out.a != out.b))


def stitch(events: ir.Table, persons: ir.Table) -> ir.Table:
    """Events with ``customer_id`` = person id and ``raw_id`` = the id as loaded; step and next event per
    person, ordered by ``(ts, seq)`` (``seq`` already carries the source order)."""
    raw = events.raw_id if "raw_id" in events.columns else events.customer_id
    base = events.mutate(raw_id=raw).drop(*[c for c in ("step", "next_touchpoint", "next_ts") if c in events.columns])
    p = persons.select(_pid=persons.id, _person=persons.person)
    joined = base.left_join(p, base.raw_id == p._pid)
    t = joined.mutate(customer_id=joined._person.fill_null(joined.raw_id)).drop("_pid", "_person")
    w = ibis.window(group_by=t.customer_id, order_by=[t.ts, t.seq])
    return t.mutate(step=ibis.row_number().over(w) + 1, next_touchpoint=t.touchpoint.lead().over(w),
                    next_ts=t.ts.lead().over(w))


def unstitched(events: ir.Table) -> ir.Table:
    """The same events with each loaded id as its own customer (for the stitched-vs-unstitched comparison)."""
    if "raw_id" not in events.columns:
        return events
    t = events.mutate(customer_id=events.raw_id).drop(
        *[c for c in ("step", "next_touchpoint", "next_ts") if c in events.columns])
    w = ibis.window(group_by=t.customer_id, order_by=[t.ts, t.seq])
    return t.mutate(step=ibis.row_number().over(w) + 1, next_touchpoint=t.touchpoint.lead().over(w),
                    next_ts=t.ts.lead().over(w))


@dataclass(frozen=True, slots=True)
class StitchReport:
    """What stitching found. ``sizes`` maps ids per person (as text: "1", "2", ..., "11-50", "51+") -> persons."""

    ids_read: int
    links_read: int
    ids_unmatched: int
    persons_before: int
    persons_after: int
    share_multi_channel_before: float
    share_multi_channel_after: float
    share_multi_source_before: float
    share_multi_source_after: float
    sizes: dict[str, int]
    oversized: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    threshold: int = OVERMERGE_IDS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StitchReport:
        return cls(**data)

    @property
    def warnings(self) -> list[str]:
        out = []
        if self.oversized:
            worst = "; ".join(f"{o['person']} ({o['ids']} ids, e.g. {', '.join(o['hubs'])})" for o in self.oversized)
            out.append(f"{len(self.oversized)} person(s) join more than {self.threshold} ids, which usually means a "
                       f"shared device, a test account or a shared phone number: {worst}. Exclude such ids so they "
                       "link nothing.")
        if self.ids_unmatched:
            out.append(f"{self.ids_unmatched:,} id(s) of the identity links match no event in the dataset.")
        return out

    def lines(self) -> list[str]:
        out = [
            f"Ids read: {self.ids_read:,}; links read: {self.links_read:,}; ids matching no event: {self.ids_unmatched:,}",
            f"Persons: {self.persons_before:,} before stitching, {self.persons_after:,} after",
            (f"Journeys spanning 2+ channels: {self.share_multi_channel_before:.1%} unstitched, "
             f"{self.share_multi_channel_after:.1%} stitched"),
            (f"Journeys spanning 2+ sources: {self.share_multi_source_before:.1%} unstitched, "
             f"{self.share_multi_source_after:.1%} stitched"),
            "Ids per person: " + ", ".join(f"{k}: {v:,}" for k, v in self.sizes.items()),
        ]
        if self.excluded:
            out.append(f"Excluded from linking: {', '.join(self.excluded)}")
        return out + [f"Warning: {w}" for w in self.warnings]


SIZE_BUCKETS = ((1, 1, "1"), (2, 2, "2"), (3, 3, "3"), (4, 5, "4-5"), (6, 10, "6-10"), (11, OVERMERGE_IDS, f"11-{OVERMERGE_IDS}"),
                (OVERMERGE_IDS + 1, 1 << 62, f"{OVERMERGE_IDS + 1}+"))


def spans(events: ir.Table, who: ir.Value) -> tuple[int, float, float]:
    """(persons, share spanning 2+ channels, share spanning 2+ sources) when ``who`` identifies a person."""
    src = events.source if "source" in events.columns else ibis.literal("")
    t = events.select(w=who, c=events.channel, s=src)
    per = t.group_by("w").aggregate(c=t.c.nunique(), s=t.s.nunique())
    row = per.aggregate(n=per.count(), mc=(per.c >= 2).cast("int64").sum(), ms=(per.s >= 2).cast("int64").sum()).execute()
    n = int(row.n.iloc[0])
    return n, (int(row.mc.iloc[0] or 0) / n if n else 0.0), (int(row.ms.iloc[0] or 0) / n if n else 0.0)


def build_report(events: ir.Table, persons: ir.Table, links: ir.Table, *, excluded: Iterable[str] = (),
                 threshold: int = OVERMERGE_IDS, event_links: ir.Table | None = None) -> StitchReport:
    """The stitching report over stitched ``events`` (``customer_id`` = person, ``raw_id`` = loaded id).

    An id "matches" when an event carries it, as its id or as its alias (``event_links``: the alias links).
    """
    n_before, mc_before, ms_before = spans(events, events.raw_id)
    n_after, mc_after, ms_after = spans(events, events.customer_id)
    ends = links.select(i=links.a).union(links.select(i=links.b), distinct=True)
    known = events.select(i=events.raw_id)
    if event_links is not None:
        known = known.union(event_links.select(i=event_links.b))
    known = known.distinct()
    ids_read = int(ends.count().execute())
    unmatched = int(ends.anti_join(known, ends.i == known.i).count().execute())
    per = events.group_by("customer_id").aggregate(n=events.raw_id.nunique())
    dist = per.group_by("n").aggregate(k=per.count()).execute()
    counts = {int(r.n): int(r.k) for r in dist.itertuples()}
    sizes = {label: sum(k for n, k in counts.items() if lo <= n <= hi) for lo, hi, label in SIZE_BUCKETS}
    sizes_q = persons.group_by("person").aggregate(n=persons.count())
    oversized = []
    big = sizes_q.filter(sizes_q.n > threshold).order_by([ibis.desc("n"), "person"]).limit(WORST_SHOWN).execute()
    if len(big):
        degree = links.select(i=links.a).union(links.select(i=links.b), distinct=False)
        deg = degree.group_by("i").aggregate(d=degree.count())
        pj = persons.join(deg, persons.id == deg.i).filter(persons.person.isin(list(big.person)))
        hubs = pj.order_by([ibis.desc("d"), "id"]).execute()
        for row in big.itertuples():
            top = [str(x) for x in hubs[hubs.person == row.person].id.head(3)]
            oversized.append({"person": str(row.person), "ids": int(row.n), "hubs": top})
    return StitchReport(ids_read=ids_read, links_read=int(links.count().execute()), ids_unmatched=unmatched,
                        persons_before=n_before, persons_after=n_after,
                        share_multi_channel_before=round(mc_before, 6), share_multi_channel_after=round(mc_after, 6),
                        share_multi_source_before=round(ms_before, 6), share_multi_source_after=round(ms_after, 6),
                        sizes={k: v for k, v in sizes.items() if v}, oversized=oversized, excluded=sorted(excluded),
                        threshold=threshold)


# ---- persons kept in the store (DuckDB, inside the caller's transaction) ----------------------------

def links_table(dataset_id: str) -> str:
    return f"links_{dataset_id}"


def persons_table(dataset_id: str) -> str:
    return f"persons_{dataset_id}"


def has_table(cur: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = one(cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [name]))
    return bool(row and row[0])


def add_alias_links(cur: duckdb.DuckDBPyConnection, dataset_id: str, source_no: int) -> int:
    """Links from events that carry a second id (the ``alias`` role); returns how many new links."""
    ensure_links(cur, dataset_id)
    lt = q(links_table(dataset_id))
    (before,) = one(cur.execute(f"SELECT count(*) FROM {lt}")) or (0,)
    cur.execute(f"""INSERT INTO {lt} SELECT DISTINCT raw_id, alias_id, {int(source_no)} FROM _new
                    WHERE alias_id IS NOT NULL AND alias_id <> raw_id""")
    (after,) = one(cur.execute(f"SELECT count(*) FROM {lt}")) or (0,)
    return int(after) - int(before)


def ensure_links(cur: duckdb.DuckDBPyConnection, dataset_id: str) -> None:
    cur.execute(f"CREATE TABLE IF NOT EXISTS {q(links_table(dataset_id))} (a VARCHAR, b VARCHAR, source_no INTEGER)")
    cur.execute(f"CREATE TABLE IF NOT EXISTS {q(persons_table(dataset_id))} (id VARCHAR, person VARCHAR)")


def exclusions(cur: duckdb.DuckDBPyConnection, dataset_id: str) -> list[str]:
    if not has_table(cur, "stitching"):
        return []
    row = one(cur.execute("SELECT exclusions FROM stitching WHERE dataset_id = ?", [dataset_id]))
    return list(json.loads(row[0] or "[]")) if row else []


def recompute_persons(cur: duckdb.DuckDBPyConnection, dataset_id: str) -> None:
    """Persons from the links (minus excluded ids), in the engine; ``_changed`` = ids whose person changed."""
    ensure_links(cur, dataset_id)
    pt = q(persons_table(dataset_id))
    cur.execute(f"CREATE OR REPLACE TEMP TABLE _old_persons AS SELECT * FROM {pt}")
    cur.execute("CREATE OR REPLACE TEMP TABLE _excluded (id VARCHAR)")
    if ex := exclusions(cur, dataset_id):
        cur.executemany("INSERT INTO _excluded VALUES (?)", [[i] for i in ex])
    be = ibis.duckdb.from_connection(cur)
    links = be.table(links_table(dataset_id))
    banned = be.table("_excluded")
    usable = links.filter(~links.a.isin(banned.id) & ~links.b.isin(banned.id))
    comps = connected_components(usable)
    cur.execute(f"DELETE FROM {pt}")
    cur.execute(f"INSERT INTO {pt} {ibis.to_sql(comps, dialect='duckdb')}")
    cur.execute(f"""CREATE OR REPLACE TEMP TABLE _changed AS
        SELECT coalesce(o.id, n.id) AS id FROM _old_persons o FULL JOIN {pt} n ON o.id = n.id
        WHERE coalesce(o.person, o.id) IS DISTINCT FROM coalesce(n.person, n.id)""")


def stitch_report(cur: duckdb.DuckDBPyConnection, dataset_id: str, table: str) -> StitchReport:
    """Build and keep the stitching report (after the links or the events changed)."""
    be = ibis.duckdb.from_connection(cur)
    ex = exclusions(cur, dataset_id)
    links = be.table(links_table(dataset_id))
    sources = be.table("sources")
    alias_sources = sources.filter((sources.dataset_id == dataset_id) & (sources.kind == "events")).source_no
    report = build_report(be.table(table), be.table(persons_table(dataset_id)), links, excluded=ex,
                          event_links=links.filter(links.source_no.isin(alias_sources)))
    cur.execute("DELETE FROM stitching WHERE dataset_id = ?", [dataset_id])
    cur.execute("INSERT INTO stitching VALUES (?, ?, ?)", [dataset_id, json.dumps(ex), json.dumps(report.to_dict())])
    return report


def stored_stitch_report(cur: duckdb.DuckDBPyConnection, dataset_id: str) -> StitchReport | None:
    if not has_table(cur, "stitching"):
        return None
    row = one(cur.execute("SELECT report FROM stitching WHERE dataset_id = ?", [dataset_id]))
    return StitchReport.from_dict(json.loads(row[0])) if row and row[0] else None


def add_identity_links(cur: duckdb.DuckDBPyConnection, dataset_id: str, source_no: int, table: str, file: str,
                       reader_sql: str, columns: list[str], ids: list[str]) -> tuple[int, int, int]:
    """Links from an identity file (each row links its non-empty id columns); ``(rows, links, ids matching an
    event)``. Refuses, with a sentence, a file that links nothing or whose ids match no event."""
    from journeys.errors import MappingError, did_you_mean

    if len(ids) < 2:
        raise MappingError(f"An identity file needs at least two id columns to link (got {', '.join(ids) or 'none'}).",
                           hint=f"Columns: {', '.join(columns[:30])}.")
    for col in ids:
        if col not in columns:
            raise MappingError(f"Column '{col}' is not in the identity file '{file}'.{did_you_mean(col, columns)}",
                               hint=f"Columns: {', '.join(columns[:30])}.")
    cur.execute(f"CREATE OR REPLACE TEMP TABLE _idraw AS SELECT {', '.join(q(c) for c in ids)} FROM {reader_sql}")
    from journeys.privacy import pseudonymize_columns

    pseudonymize_columns(cur, "_idraw", ids)  # --pseudonymize: ids hashed as the events' are (issue 14)
    be = ibis.duckdb.from_connection(cur)
    links = links_from_columns(be.table("_idraw"), ids)
    cur.execute(f"CREATE OR REPLACE TEMP TABLE _idlinks AS SELECT DISTINCT a, b FROM ({ibis.to_sql(links, dialect='duckdb')})")
    ensure_links(cur, dataset_id)
    lt = q(links_table(dataset_id))
    (rows,) = one(cur.execute("SELECT count(*) FROM _idraw")) or (0,)
    (n_links,) = one(cur.execute("SELECT count(*) FROM _idlinks")) or (0,)
    if not n_links:
        raise InputError(f"The identity file '{file}' has no usable id columns: no row has two non-empty ids among "
                         f"{', '.join(ids)}.")
    (matched,) = one(cur.execute(f"""SELECT count(*) FROM (SELECT a AS i FROM _idlinks UNION SELECT b FROM _idlinks)
                                WHERE i IN (SELECT raw_id FROM {q(table)}) OR i IN (SELECT b FROM {lt} WHERE source_no IN
                                (SELECT source_no FROM sources WHERE dataset_id = ? AND kind = 'events'))""",
                                [dataset_id])) or (0,)
    if not matched:
        raise InputError(f"No id in the identity file '{file}' matches a customer id of the dataset, so it would "
                         "link nothing.", hint="Check that the file's id columns hold the ids the events were loaded with.")
    cur.execute(f"INSERT INTO {lt} SELECT a, b, {int(source_no)} FROM _idlinks")
    cur.execute("DROP TABLE IF EXISTS _idraw; DROP TABLE IF EXISTS _idlinks")
    return int(rows), int(n_links), int(matched)


def set_exclusions(cur: duckdb.DuckDBPyConnection, dataset_id: str, ids: Iterable[str]) -> None:
    """Ids that must link nothing (a shared device, a test account); persons are recomputed by the caller."""
    row = one(cur.execute("SELECT report FROM stitching WHERE dataset_id = ?", [dataset_id]))
    cur.execute("DELETE FROM stitching WHERE dataset_id = ?", [dataset_id])
    cur.execute("INSERT INTO stitching VALUES (?, ?, ?)",
                [dataset_id, json.dumps(sorted({i.strip() for i in ids if i.strip()})), row[0] if row else None])
