"""Hand-written DuckDB SQL straight on the Parquet file: the honest "no tool" baseline.

Each run opens a fresh in-memory connection, builds the journeys once in a temp table (parse, order by
``(ts, seq)`` with ``seq`` = row in the file, segment, sessions, collapse, steps and next events), then
runs the job's aggregates. Returns counts in the shape of :func:`benchmarks.jobs.counts_of`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from benchmarks.jobs import (
    ARROW,
    DEPTH,
    END_NO,
    END_YES,
    FUNNEL_STEPS,
    GAP_S,
    GOAL,
    MORE,
    SEGMENT_DEVICE,
    SEGMENT_DID,
    START,
    TIME_CAP_S,
    VARIANTS,
    WINDOW_S,
    sankey_counts,
)

EVENTS = """SELECT customer_id, CAST("timestamp" AS TIMESTAMPTZ) AS ts, file_row_number AS seq, touchpoint, device
            FROM read_parquet('{path}', file_row_number = true)"""
SEGMENT = f"""SEMI JOIN (SELECT customer_id FROM ev GROUP BY 1
              HAVING bool_or(device = '{SEGMENT_DEVICE}') AND bool_or(touchpoint = '{SEGMENT_DID}')) USING (customer_id)"""
SESSIONS = f"""
    s1 AS (SELECT *, lag(ts) OVER w AS prev_ts, lag(touchpoint) OVER w AS prev_tp FROM ev
           WINDOW w AS (PARTITION BY customer_id ORDER BY ts, seq)),
    s2 AS (SELECT *, prev_ts IS NULL OR epoch(ts) - epoch(prev_ts) > {GAP_S} AS new FROM s1),
    s3 AS (SELECT *, sum(new::INT) OVER (PARTITION BY customer_id ORDER BY ts, seq ROWS UNBOUNDED PRECEDING) AS sess
           FROM s2),
    ev2 AS (SELECT customer_id || '#' || sess AS journey_id, customer_id, ts, seq, touchpoint FROM s3
            WHERE new OR touchpoint IS DISTINCT FROM prev_tp)"""
JOURNEYS = """
    SELECT journey_id, customer_id, ts, touchpoint, row_number() OVER w AS step,
           lead(touchpoint) OVER w AS next_tp, lead(ts) OVER w AS next_ts
    FROM {source} WINDOW w AS (PARTITION BY journey_id ORDER BY ts, seq)"""


def journeys_sql(path: Path, setting: str) -> str:
    ev = f"ev AS ({EVENTS.format(path=str(path).replace(chr(39), chr(39) * 2))})"
    if setting == "sessions":
        return f"WITH {ev}, {SESSIONS} {JOURNEYS.format(source='ev2')}"
    where = SEGMENT if setting == "segment" else ""
    return f"WITH {ev}, ev2 AS (SELECT customer_id AS journey_id, * FROM ev {where}) {JOURNEYS.format(source='ev2')}"


TRANSITIONS = f"""
    WITH conv AS (SELECT journey_id, bool_or(touchpoint = '{GOAL}') AS c FROM j GROUP BY 1)
    SELECT touchpoint, next_tp, count(*), count(DISTINCT customer_id), median(epoch(next_ts) - epoch(ts))
    FROM j WHERE next_tp IS NOT NULL GROUP BY 1, 2
    UNION ALL SELECT '{START}', touchpoint, count(*), count(DISTINCT customer_id), NULL FROM j WHERE step = 1 GROUP BY 2
    UNION ALL SELECT touchpoint, CASE WHEN c THEN '{END_YES}' ELSE '{END_NO}' END, count(*),
                     count(DISTINCT customer_id), NULL
    FROM j JOIN conv USING (journey_id) WHERE next_tp IS NULL GROUP BY 1, 2"""
FLOWS = f"SELECT step, touchpoint, next_tp, count(*) FROM j WHERE step <= {DEPTH} GROUP BY ALL"
_PATH = ", ".join(f"max(CASE WHEN step = {k} THEN touchpoint END)" for k in range(1, DEPTH + 1))
PATH_VARIANTS = f"""
    WITH per AS (SELECT concat_ws('{ARROW}', {_PATH}) || CASE WHEN max(step) > {DEPTH} THEN '{ARROW}{MORE}' ELSE '' END
                        AS path, max(step) AS len FROM j GROUP BY journey_id),
    floor AS (SELECT CASE WHEN count(*) FILTER (len = 1) >= 0.2 * count(*) THEN 2 ELSE 1 END AS m FROM per)
    SELECT path, count(*) AS n FROM per, floor WHERE len >= m GROUP BY path ORDER BY n DESC, path LIMIT {VARIANTS}"""
_tps = ", ".join(f"'{t}'" for t in FUNNEL_STEPS)
_next = ",\n".join(f"min(CASE WHEN touchpoint = '{t}' THEN step END) OVER nx AS n{k}"
                   for k, t in enumerate(FUNNEL_STEPS[1:], start=2))
FUNNEL = f"""
    WITH f AS (SELECT journey_id, step, epoch(ts) AS t, touchpoint, {_next} FROM j WHERE touchpoint IN ({_tps})
               WINDOW nx AS (PARTITION BY journey_id ORDER BY step ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)),
    a AS (SELECT s1.journey_id, s1.t AS t1, s2.t AS t2, s3.t AS t3, s4.t AS t4 FROM f s1
          LEFT JOIN f s2 ON s2.journey_id = s1.journey_id AND s2.step = s1.n2
          LEFT JOIN f s3 ON s3.journey_id = s1.journey_id AND s3.step = s2.n3
          LEFT JOIN f s4 ON s4.journey_id = s1.journey_id AND s4.step = s3.n4
          WHERE s1.touchpoint = '{FUNNEL_STEPS[0]}'),
    r AS (SELECT max(CASE WHEN t2 IS NULL OR t2 - t1 > {WINDOW_S} THEN 1 WHEN t3 IS NULL OR t3 - t1 > {WINDOW_S} THEN 2
                          WHEN t4 IS NULL OR t4 - t1 > {WINDOW_S} THEN 3 ELSE 4 END) AS reached FROM a GROUP BY journey_id)
    SELECT {", ".join(f"count(*) FILTER (reached >= {k})" for k in range(1, len(FUNNEL_STEPS) + 1))} FROM r"""
MAP_TOUCHPOINTS = f"""
    WITH g AS (SELECT journey_id, max(CASE WHEN touchpoint = '{GOAL}' THEN step END) AS goal_last FROM j GROUP BY 1),
    firsts AS (SELECT journey_id, touchpoint, min(step) AS first, bool_or(next_tp IS NULL) AS ended, count(*) AS events
               FROM j GROUP BY 1, 2)
    SELECT touchpoint, sum(events), count(*), count(*) FILTER (goal_last > first),
           count(*) FILTER (ended AND goal_last IS NULL) FROM firsts JOIN g USING (journey_id) GROUP BY 1"""
MAP_EXTRAS = f"""
    SELECT touchpoint, next_tp, count(*), median(epoch(next_ts) - epoch(ts))
        FILTER (epoch(next_ts) - epoch(ts) <= {TIME_CAP_S}) FROM j GROUP BY 1, 2"""
MAP_STAGES = """SELECT stage, count(DISTINCT journey_id) FROM j JOIN stages USING (touchpoint) GROUP BY 1
                UNION ALL SELECT NULL, count(*) FROM j WHERE step = 1"""


def run(job: str, setting: str, path: Path, stages: tuple[tuple[str, str], ...]) -> Any:
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TEMP TABLE j AS {journeys_sql(path, setting)}")
        if job == "transitions":
            return {(s, t): (n, c) for s, t, n, c, _ in con.execute(TRANSITIONS).fetchall()}
        if job == "sankey":
            flows = [(int(s), tp, nx, int(n)) for s, tp, nx, n in con.execute(FLOWS).fetchall()]
            return sankey_counts(flows, [(p, int(n)) for p, n in con.execute(PATH_VARIANTS).fetchall()])
        if job == "funnel":
            return [int(n) for n in con.execute(FUNNEL).fetchone() or ()]
        con.execute("CREATE TEMP TABLE stages (touchpoint VARCHAR, stage VARCHAR)")
        con.executemany("INSERT INTO stages VALUES (?, ?)", list(stages))
        tps = {tp: (int(e), int(n), int(c), int(d)) for tp, e, n, c, d in con.execute(MAP_TOUCHPOINTS).fetchall()}
        con.execute(MAP_EXTRAS).fetchall()  # next touchpoints and time spent: computed, not compared
        reach = dict(con.execute(MAP_STAGES).fetchall())
        total = int(reach.pop(None))
        return {"journeys": total, "touchpoints": tps, "stages": {s: int(n) for s, n in reach.items()}}
    finally:
        con.close()
