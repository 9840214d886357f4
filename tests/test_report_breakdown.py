"""The report's funnel breakdown is an attribute of customers, never the sentiment of one text."""

from __future__ import annotations

from journeys.report.build import build_report
from journeys.shaping import Shaping
from journeys.views import ViewState


def test_sentiment_columns_are_no_breakdown(store, write):
    # 80 customers view and add to cart; the 40 with a positive text all buy, 10 of the 40 with a negative one do
    rows = ["customer,ts,touchpoint,comment"]
    for i in range(80):
        rows.append(f"c{i},2025-01-01T00:00:00Z,product_view,{'Great service' if i % 2 == 0 else 'Still not resolved'}")
        rows.append(f"c{i},2025-01-01T00:01:00Z,add_to_cart,")
        if i % 2 == 0 or i % 8 == 1:
            rows.append(f"c{i},2025-01-01T00:02:00Z,purchase,")
    path = write("shop.csv", "\n".join(rows) + "\n")
    info = store.get(store.ingest(path, overrides={"customer": "customer", "timestamp": "ts", "touchpoint": "touchpoint",
                                                   "text": "comment"}).dataset_id)
    assert {"sentiment", "sentiment_band", "language"} <= set(info.attributes)
    f = build_report(store.table(info.id), info, ViewState(dataset=info.id, shaping=Shaping(goal="purchase"))).figures()
    assert (f["funnel.entered"], f["funnel.completed"], f["funnel.worst_step"], f["funnel.worst_step_lost"]) == (
        80, 50, 3, 30)
    # the sentiment score split the funnel into '-0.4215' and '0.6249' before: no attribute of customers is left
    assert not [k for k in f if k.startswith(("funnel.breakdown", "funnel.gap"))]
