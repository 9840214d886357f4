"""`make run` warms the server before the first visitor: Streamlit's script health check runs the
default page once, which needs ``scriptHealthCheckEnabled`` from ``.streamlit/config.toml``."""

from __future__ import annotations

from journeys.bootstrap import warm


def test_the_server_runs_its_default_page_when_asked(base_url: str):
    assert warm(base_url, timeout=30).startswith("Warmed the dashboard's default page in ")


def test_warming_a_server_that_is_not_there_says_so():
    said = warm("http://127.0.0.1:9", timeout=0.5)
    assert said == "The dashboard at http://127.0.0.1:9 did not answer within 0 s; nothing was warmed."
