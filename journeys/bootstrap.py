"""Make sure the bundled sample dataset is in the store (``make run`` calls this before serving)."""

from __future__ import annotations

from pathlib import Path

from journeys.engine.store import DatasetInfo, Store

SAMPLE_FILE = Path(__file__).resolve().parent.parent / "sample_data" / "shop_events.csv"
SAMPLE_NAME = "Sample shop"


def ensure_sample(store: Store, path: Path = SAMPLE_FILE) -> DatasetInfo | None:
    """The sample dataset, loading it first if the store has none by that name; None without the file."""
    for info in store.datasets():
        if info.name == SAMPLE_NAME:
            return info
    if not path.exists():
        return None
    report = store.ingest(path, name=SAMPLE_NAME)
    return store.get(report.dataset_id)


def main() -> None:
    store = Store()
    info = ensure_sample(store)
    if info is None:
        print(f"No sample file at {SAMPLE_FILE}; the dashboard starts with an empty store.")
    else:
        print(f"Sample dataset '{info.name}' ({info.id}): {info.rows:,} events, {info.report.customers:,} customers "
              f"in {store.path}")
    store.close()


if __name__ == "__main__":
    main()
