"""The dashboard notices new data under an open view, says how much, and refreshes on click."""

from __future__ import annotations

from tests.app.conftest import _store, app, texts


def test_new_events_are_announced_and_refresh_clears_the_notice(sample_id, write):
    store = _store()
    ds = store.ingest(write("fresh.csv", "c,t,e\nu1,2024-01-01 10:00,home\nu1,2024-01-01 10:05,cart\n"),
                      overrides={"customer": "c", "timestamp": "t", "touchpoint": "e"}, name="fresh").dataset_id
    try:
        at = app("screens/paths.py", ds=ds)
        assert not at.exception and not [t for t in texts(at.sidebar, "info") if t.startswith("New data")]
        store.ingest(write("more.csv", "c,t,e\nu2,2024-01-02 10:00,home\nu1,2024-01-02 11:00,buy\n"), into=ds,
                     overrides={"customer": "c", "timestamp": "t", "touchpoint": "e"})
        at.run()
        assert "New data: +2 events since you opened this view." in texts(at.sidebar, "info")
        assert at.session_state["view"].dataset == ds  # the view is kept
        at.button(key="fresh_refresh").click().run()
        assert not [t for t in texts(at.sidebar, "info") if t.startswith("New data")]
    finally:
        store.delete(ds)
