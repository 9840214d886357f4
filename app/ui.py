"""Small page helpers: guarded calls, widget seeding, downloads, the copy-link box."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from journeys import charts
from journeys.errors import JourneyError, did_you_mean
from journeys.export import TABLE_ROWS, safe_csv
from journeys.views import ViewState

T = TypeVar("T")
PERCENT_COLUMNS = {"conversion_from_start", "conversion_from_previous", "share", "probability", "entry_rate",
                   "exit_rate", "p_goal", "reach", "conversion_onward", "drop_off_rate", "conversion_rate",
                   "pct_of_start", "pct_of_prev"}


def view() -> ViewState:
    return st.session_state["view"]


def set_view(new: ViewState) -> None:
    st.session_state["view"] = new


def seed(key: str, value: Any, options: list[Any] | None = None, *, what: str = "") -> None:
    """Give a keyed widget its starting value from the view, once (never with ``value=`` as well).

    With ``options``, a remembered value that is no longer offered (another dataset) is replaced too;
    for multiselects the stale choices are dropped. With ``what``, a value from the link that is not
    offered is explained on screen.
    """
    if key not in st.session_state:
        st.session_state[key] = value
        if what and options is not None:
            for v in value if isinstance(value, list | tuple) else [value]:
                if v is not None and v != "" and v not in options:
                    st.warning(md(f"The {what} '{v}' from the link is not in this dataset and was replaced."
                                  f"{did_you_mean(str(v), [str(o) for o in options])}"), icon="🔗")
    if options is None:
        return
    current = st.session_state[key]
    if isinstance(current, list):
        st.session_state[key] = [x for x in current if x in options]
    elif current not in options:
        st.session_state[key] = value if value in options else (options[0] if options else None)


@contextmanager
def explained() -> Iterator[None]:
    """Turn a user error into a sentence with a hint, and stop the page; anything else propagates."""
    try:
        yield
    except JourneyError as err:
        st.error(md(err.message), icon="⚠️")
        if err.hint:
            st.caption(md(err.hint))
        st.stop()


def run(label: str, fn: Callable[[], T]) -> T:
    """Work with a visible sign of progress; cached results come back without one."""
    with explained(), st.spinner(label, show_time=True):
        return fn()


def table(frame: pd.DataFrame, *, name: str, key: str, **kw: Any) -> None:
    """A table (first 400 rows on screen) with a CSV download of up to 50,000 rows."""
    if len(frame) > TABLE_ROWS:
        st.caption(f"Showing the first {TABLE_ROWS:,} of {len(frame):,} rows; the download has up to 50,000.")
    percent = {c: st.column_config.NumberColumn(format="percent") for c in frame.columns if c in PERCENT_COLUMNS}
    kw["column_config"] = {**percent, **kw.get("column_config", {})}
    st.dataframe(frame.head(TABLE_ROWS), hide_index=True, key=f"df_{key}", **kw)
    st.download_button("Download CSV", data=lambda: safe_csv(frame), file_name=f"{name}.csv", mime="text/csv",
                       key=f"dl_{key}", icon=":material/download:")


def chart(fig: Any, *, name: str, key: str, **kw: Any) -> Any:
    """A Plotly chart with PNG and standalone HTML downloads (rendered only when clicked)."""
    event = st.plotly_chart(fig, key=f"chart_{key}", **kw)
    row = st.container(horizontal=True)
    row.download_button("PNG", data=lambda: charts.to_png(fig), file_name=f"{name}.png", mime="image/png",
                         key=f"png_{key}", icon=":material/image:")
    row.download_button("HTML", data=lambda: charts.to_html(fig), file_name=f"{name}.html", mime="text/html",
                          key=f"html_{key}", icon=":material/code:")
    return event


def customer_list(ids: list[str], *, name: str, key: str) -> None:
    frame = pd.DataFrame({"customer_id": ids})
    st.download_button(f"Download {len(ids):,} customer ids", data=lambda: safe_csv(frame), file_name=f"{name}.csv",
                       mime="text/csv", key=f"cust_{key}", icon=":material/group:")


def share_link(v: ViewState) -> str:
    """The URL that reopens this exact view (page path + every non-default setting)."""
    base = str(st.context.url or "").split("?")[0]
    params = v.to_params()
    return base + ("?" + urlencode(params, doseq=True) if params else "")


_MD = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>~$:"})


def md(text: str) -> str:
    """Escape user text (touchpoints, values) for Streamlit's Markdown, so it shows literally."""
    return text.translate(_MD)


def empty_state(reason: str) -> None:
    """An explicit empty state; ``reason`` may contain user text, so it is shown literally."""
    st.info(md(reason), icon="ℹ️")


COMMON_FUNNEL = ("product_view", "add_to_cart", "checkout", "purchase")


def default_funnel_steps(v: ViewState, touchpoints: list[str]) -> tuple[tuple[str, ...], ...]:
    """The view's funnel, else the classic shop funnel where those touchpoints exist, else the first three."""
    if v.funnel_steps:
        return v.funnel_steps
    steps = tuple((t,) for t in COMMON_FUNNEL if t in touchpoints)
    return steps if len(steps) >= 2 else tuple((t,) for t in touchpoints[:3])
