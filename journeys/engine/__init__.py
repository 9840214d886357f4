"""The engine: the DuckDB dataset store, ingest, and canonical tables from any Ibis backend."""

from __future__ import annotations

from journeys.engine.store import DatasetInfo, Store, default_home

__all__ = ["DatasetInfo", "Store", "default_home"]
