"""Shared fixtures: a temporary store, tiny event logs, and engines (DuckDB always, Spark on request)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa
import pytest

from journeys.engine.store import Store

BASE = datetime(2025, 3, 1, 9, 0, 0)
_names = itertools.count()
CANONICAL_TYPES = {
    "customer_id": pa.string(), "ts": pa.timestamp("us"), "seq": pa.int64(), "touchpoint": pa.string(),
    "channel": pa.string(), "session_id": pa.string(), "value": pa.float64(), "score": pa.float64(), "text": pa.string(),
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "home")
    yield s
    s.close()


@pytest.fixture
def write(tmp_path: Path):
    """write(name, text_or_bytes) -> path of a file in a temp folder."""

    def _write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        p = tmp_path / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return p

    return _write


def frame(rows: list[tuple[Any, ...]], extra: dict[str, list[Any]] | None = None) -> pd.DataFrame:
    """Canonical events from ``(customer, minutes after BASE, touchpoint[, channel])``; seq = row order."""
    data = {
        "customer_id": [str(r[0]) for r in rows],
        "ts": [BASE + timedelta(minutes=float(r[1])) for r in rows],
        "seq": list(range(len(rows))),
        "touchpoint": [r[2] for r in rows],
        "channel": [r[3] if len(r) > 3 else None for r in rows],
        "session_id": [None] * len(rows),
        "value": [float(r[4]) if len(r) > 4 and r[4] is not None else None for r in rows],
        "score": [None] * len(rows),
        "text": [None] * len(rows),
    }
    df = pd.DataFrame(data)
    df["ts"] = df["ts"].astype("datetime64[us]")
    for col in ("channel", "session_id", "text"):
        df[col] = df[col].astype("object")
    df["score"] = df["score"].astype("float64")
    df["value"] = df["value"].astype("float64")
    for k, v in (extra or {}).items():
        df[k] = v
    return df


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Events as dicts for the reference implementation."""
    out = df.to_dict("records")
    for r in out:
        r["ts"] = pd.Timestamp(r["ts"]).to_pydatetime()
        for k, v in list(r.items()):
            if isinstance(v, float) and pd.isna(v):
                r[k] = None
    return out


class Engine:
    """Turns a pandas frame of canonical events into an Ibis table on one backend."""

    def __init__(self, name: str, con: Any) -> None:
        self.name = name
        self.con = con

    def table(self, df: pd.DataFrame) -> ibis.Table:
        fields = [pa.field(c, CANONICAL_TYPES.get(c) or pa.array(df[c]).type) for c in df.columns]
        data = pa.Table.from_pandas(df, schema=pa.schema(fields), preserve_index=False)
        if self.name == "spark":
            name = f"ev_{next(_names)}"
            session = self.con._session
            session.createDataFrame(data.to_pandas()).createOrReplaceTempView(name)
            return self.con.table(name)
        name = f"ev_{next(_names)}"
        raw = self.con.con  # the DuckDB connection under Ibis
        raw.register(f"{name}_src", data)
        raw.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_src")
        raw.unregister(f"{name}_src")
        return self.con.table(name)


@pytest.fixture(scope="session")
def duck() -> Engine:
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone='UTC'")
    return Engine("duckdb", con)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    pyspark = pytest.importorskip("pyspark.sql") if not os.environ.get("CI") else __import__("pyspark.sql").sql
    session = (
        pyspark.SparkSession.builder.master("local[2]").appName("journeys-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield Engine("spark", ibis.pyspark.connect(session))
    session.stop()
