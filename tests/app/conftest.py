"""AppTest fixtures: a store with the bundled sample, shared by the page tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("apphome")
    old = os.environ.get("JOURNEYS_HOME")
    os.environ["JOURNEYS_HOME"] = str(path)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield path
    if old is None:
        os.environ.pop("JOURNEYS_HOME", None)
    else:
        os.environ["JOURNEYS_HOME"] = old


@pytest.fixture(scope="session")
def sample_id(home: Path) -> str:

    at = AppTest.from_file(MAIN, default_timeout=60).run()  # creates the store and loads the sample
    assert not at.exception
    del at
    return next(d.id for d in _store().datasets() if d.name == "Sample shop")


def _store():
    from app import state

    return state.store()


def app(page: str | None = None, **params: str | list[str]) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    if page:
        at.switch_page(page)
    return at.run()


def texts(at: AppTest, kind: str) -> list[str]:
    """Element texts as shown: Markdown escapes and the invisible word joiners that keep addresses from
    becoming links removed (user text is escaped before display)."""
    return [str(e.value).replace("\\", "").replace("\u2060", "") for e in getattr(at, kind)]
