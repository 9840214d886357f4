"""Personal-data detection gives the same answer on Spark as on DuckDB (it runs in the engine)."""

from __future__ import annotations

import pandas as pd
import pytest

from journeys import privacy

pytestmark = pytest.mark.spark

FRAME = pd.DataFrame({
    "customer_id": ["ann@example.com", "bob@example.org", "c-3", None, "dee@example.net"],
    "phone": ["+44 20 7946 0958", "020 7946 0958", "", "555-010-0199", "(020) 7946 0958"],
    "loyalty": ["12345678", "87654321", "2026-11-25", "192.168.1.1", "01.02.2026"],
    "text": ["hello", "write to jo@example.org", "fine", None, "ok"],
    "notes": ["call 020 7946 0958 please", "b", "c", "d", "e"],
})
EXPECTED = {"customer_id": "e-mail addresses", "phone": "phone numbers", "text": "e-mail addresses in text",
            "notes": "phone numbers in text"}


def test_detection_is_the_same_on_duckdb_and_spark(duck, spark):
    for engine in (duck, spark):
        t = engine.table(FRAME)
        assert privacy.detect_pii(t, ["customer_id", "phone", "loyalty"], text_columns=["text", "notes"]) == EXPECTED, \
            engine.name
