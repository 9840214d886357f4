"""Get the dashboard ready before the first person arrives (``make run`` calls both before serving):

- ``python -m journeys.bootstrap`` puts the bundled sample dataset in the store;
- ``python -m journeys.bootstrap --warm URL`` waits for the dashboard at URL to answer, then has it run its
  default page once, so its imports, the opened store and the default Paths results are in memory and
  the first browser gets its chart as quickly as later ones.
"""

from __future__ import annotations

import argparse
import time
import urllib.error
import urllib.request
from pathlib import Path

from journeys.engine.store import DatasetInfo, Store

SAMPLE_FILE = Path(__file__).resolve().parent.parent / "sample_data" / "shop_events.csv"
SAMPLE_SOURCES = SAMPLE_FILE.parent / "sources"
SAMPLE_NAME = "Sample shop"
#: the sample's exports (the same events as shop_events.csv, split by system) and their id columns
SAMPLE_PARTS = (
    ("web_analytics.csv", "web analytics", {"customer": "cookie_id", "alias": "user_id"}),
    ("email_platform.csv", "e-mail platform", {"customer": "email"}),
    ("call_centre.csv", "call centre", {"customer": "phone"}),
    ("store_purchases.csv", "store", {"customer": "loyalty_card"}),
)
SAMPLE_IDENTITIES = ("crm_identities.csv", "CRM", ["user_id", "email", "phone", "loyalty_card"])
#: Streamlit runs the app's script once in a throw-away session when this is asked for (it needs
#: ``[server] scriptHealthCheckEnabled = true``; results land in the same caches real sessions read)
SCRIPT_RUN_PATH = "/_stcore/script-health-check"
WARM_TIMEOUT_S = 120.0


def ensure_sample(store: Store, path: Path = SAMPLE_FILE) -> DatasetInfo | None:
    """The sample dataset, loading it first if the store has none by that name; None without the files.

    With the bundled multi-system exports next to ``path`` (``sources/``), the sample is one dataset of
    four sources stitched by the CRM extract; otherwise the single file.
    """
    for info in store.datasets():
        if info.name == SAMPLE_NAME:
            return info
    folder = path.parent / "sources"
    if (folder / SAMPLE_IDENTITIES[0]).exists():
        return load_sample_sources(store, folder)
    if not path.exists():
        return None
    report = store.ingest(path, name=SAMPLE_NAME)
    return store.get(report.dataset_id)


def load_sample_sources(store: Store, folder: Path = SAMPLE_SOURCES, *, name: str = SAMPLE_NAME) -> DatasetInfo:
    """Load the sample's four exports as one dataset and stitch them with the CRM extract."""
    roles = {"timestamp": "timestamp", "touchpoint": "touchpoint", "channel": "channel", "session": "session_id",
             "value": "revenue", "score": "csat", "text": "feedback"}
    dataset: str | None = None
    for file, source, ids in SAMPLE_PARTS:
        report = store.ingest(folder / file, overrides=roles | ids, name=name, into=dataset, as_source=source)
        dataset = report.dataset_id
    assert dataset is not None
    file, source, columns = SAMPLE_IDENTITIES
    store.add_identities(dataset, folder / file, list(columns), as_source=source)
    return store.get(dataset)


def warm(url: str, *, timeout: float = WARM_TIMEOUT_S) -> str:
    """Wait for the dashboard at ``url`` to be up, then have it run its default page once.

    Returns a sentence saying what happened; never raises for a server that is down, slow or broken
    (warming is an optimisation, and the first visitor would meet the same error on screen).
    """
    base = url.rstrip("/")
    deadline = time.monotonic() + timeout
    while _get(f"{base}/_stcore/health", 2) != b"ok":
        if time.monotonic() > deadline:
            return f"The dashboard at {base} did not answer within {timeout:.0f} s; nothing was warmed."
        time.sleep(0.2)
    start = time.monotonic()
    answer = _get(base + SCRIPT_RUN_PATH, max(deadline - start, 1.0))
    took = time.monotonic() - start
    if answer == b"ok":
        return f"Warmed the dashboard's default page in {took:.1f} s."
    if answer is not None and answer.lstrip().startswith(b"<"):  # the app's HTML: the check is switched off
        return ("Not warmed: start streamlit from the repository root, so .streamlit/config.toml "
                "(scriptHealthCheckEnabled) is read.")
    return f"The dashboard's default page did not run cleanly ({(answer or b'no answer').decode(errors='replace')})."


def _get(url: str, timeout: float) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as err:  # 503: the script raised, or timed out
        return bytes(err.read() or b"error")
    except OSError:
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m journeys.bootstrap", description=__doc__.split("\n\n")[0])
    parser.add_argument("--warm", metavar="URL", help="wait for the dashboard at URL, then run its default page once")
    args = parser.parse_args(argv)
    if args.warm:
        print(warm(args.warm), flush=True)
        return
    store = Store()
    info = ensure_sample(store)
    if info is None:
        print(f"No sample files at {SAMPLE_FILE.parent}; the dashboard starts with an empty store.")
    else:
        print(f"Sample dataset '{info.name}' ({info.id}): {info.rows:,} events, {info.report.customers:,} customers "
              f"in {store.path}")
    store.close()


if __name__ == "__main__":
    main()
