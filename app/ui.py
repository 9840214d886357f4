"""Small page helpers: guarded calls, widget seeding, downloads, the copy-link box."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from app import auth, tables
from journeys import charts
from journeys.errors import JourneyError, closest, did_you_mean
from journeys.export import TABLE_ROWS, safe_csv
from journeys.report.context import suggest_funnel
from journeys.segments import Segment
from journeys.views import ViewState

T = TypeVar("T")


def view() -> ViewState:
    return st.session_state["view"]


def set_view(new: ViewState) -> None:
    st.session_state["view"] = new


ECHO_MAX = 60


def echo(value: object) -> str:
    """A value from a link as it may be quoted back: one line, at most 60 characters."""
    text = " ".join(str(value).split())
    return text if len(text) <= ECHO_MAX else text[: ECHO_MAX - 1] + "…"


def link_problem(sentence: str) -> None:
    """Report a link value that could not be used; the banner at the top of the page lists them all."""
    problems: list[str] = st.session_state.setdefault("link_problems", [])
    if sentence not in problems:
        problems.append(sentence)


def link_banner(where: Any) -> None:
    """One visible banner (in ``where``, a container at the top) for everything the link got wrong."""
    problems = st.session_state.get("link_problems") or []
    if not problems:
        return
    box = where.container(border=True)
    count = "" if len(problems) == 1 else f" ({len(problems)} problems)"
    box.warning(f"This link could not be used exactly as it is{count}:", icon="🔗")
    for problem in problems:
        box.text("• " + problem)  # user values inside: plain text
    if box.button("Dismiss", key="link_dismiss", icon=":material/close:"):
        st.session_state["link_problems"] = []
        st.rerun()


def seed(key: str, value: Any, options: list[Any] | None = None, *, what: str = "", fallback: Any = None) -> None:
    """Give a keyed widget its starting value from the view, once (never with ``value=`` as well).

    With ``options``, a remembered value that is no longer offered (another dataset) is replaced too;
    for multiselects the stale choices are dropped (and ``fallback`` used when none is left). With
    ``what``, a value from the link that is not offered goes to the link banner, with what replaced it.
    """
    if key not in st.session_state:
        st.session_state[key] = value
        if options is not None:
            pool = [str(o) for o in options]
            given = list(value) if isinstance(value, list | tuple) else [value]
            bad = [v for v in given if v is not None and v != "" and v not in options]
            # a near miss ('chekout') becomes its closest match; what has none falls back
            fixed = [v if v in options else closest(str(v), pool) for v in given]
            kept = [v for v in fixed if v is not None and v in options]
            if isinstance(value, list):
                kept = kept or (list(fallback) if fallback is not None else [])
                st.session_state[key] = kept
            elif value not in options:
                kept = kept or [fallback if fallback in options else (options[0] if options else None)]
                st.session_state[key] = kept[0]
            if what and bad:
                instead = ", ".join(f"'{k}'" for k in kept if k not in (None, "")) or "none"
                link_problem(f"The {what} '{echo(bad[0])}' is not in this dataset."
                             f"{did_you_mean(str(bad[0]), pool)} Using {instead} instead.")
    if options is None:
        return
    current = st.session_state[key]
    if isinstance(current, list):
        st.session_state[key] = [x for x in current if x in options]
    elif current not in options:
        st.session_state[key] = value if value in options else (options[0] if options else None)


class PageDone(Exception):
    """A page has said all it can (an empty state or a user error): main.py still draws the link banner,
    updates the URL and offers Copy link, which ``st.stop()`` would skip."""


def pick(label: str, names: list[str], shown: list[str], *, key: str) -> int:
    """A selectbox over ``shown`` (one line per item named in ``names``) returning the picked index. A keyed
    selectbox keeps its state when its options change (another outcome, window or dataset): it is reseeded
    whenever they change, on the same item if it is still there, else the first."""
    if st.session_state.get(key + "_for") != shown:
        before = st.session_state.get(key + "_name")
        st.session_state[key] = names.index(before) if before in names else 0
        st.session_state[key + "_for"] = shown
    chosen = int(st.selectbox(label, list(range(len(shown))), key=key, format_func=shown.__getitem__) or 0)
    st.session_state[key + "_name"] = names[chosen]
    return chosen


def stop() -> NoReturn:
    raise PageDone


@contextmanager
def told(*, then_stop: bool = False) -> Iterator[None]:
    """Turn a user error into a sentence with a hint (an action's: saving, sending), and go on with the page, or
    with ``then_stop`` stop it; anything else propagates."""
    try:
        yield
    except JourneyError as err:
        st.error(md(err.message), icon="⚠️")
        if err.hint:
            st.caption(md(err.hint))
        if then_stop:
            stop()


def explained() -> AbstractContextManager[None]:
    """Turn a user error into a sentence with a hint, and stop the page; anything else propagates."""
    return told(then_stop=True)


def run(label: str, fn: Callable[[], T]) -> T:
    """Work with a visible sign of progress; cached results come back without one."""
    with explained(), st.spinner(label, show_time=True):
        return fn()


#: tables up to this many rows carry their CSV; longer ones build it when clicked
EAGER_ROWS = 5_000


def table(frame: pd.DataFrame, *, name: str, key: str, columns: list[str] | None = None,
          names: dict[str, str] | None = None, rows_shown: int | None = None) -> None:
    """A table for people (first 400 rows, human names and durations, only ``columns`` when given) with a CSV
    download of up to 50,000 rows that keeps every machine column. ``rows_shown``: tall enough for that many
    rows without scrolling (up to 30)."""
    if len(frame) > TABLE_ROWS:
        st.caption(f"Showing the first {TABLE_ROWS:,} of {len(frame):,} rows; the download has up to 50,000.")
    shown = frame[[c for c in columns if c in frame.columns]] if columns else frame
    screen, config = tables.display(auth.shown(shown.head(TABLE_ROWS)), names)  # personal data masked for viewers
    height = 38 + 35 * min(rows_shown, 30) if rows_shown else "auto"
    st.dataframe(screen, hide_index=True, key=f"df_{key}", column_config=config, height=height)
    restricted = not auth.allowed("download_customers")  # then personal data leaves as salted hashes

    def csv() -> bytes:
        return safe_csv(tables.for_csv(auth.exported(frame, restricted)))

    # a small table's file travels with the page: its address survives reruns, so a click that lands while the
    # page reruns still downloads (a file made on click gets a new address each run, and such a click is lost)
    st.download_button("Download CSV", data=csv() if len(frame) <= EAGER_ROWS else csv, file_name=f"{name}.csv",
                       mime="text/csv", key=f"dl_{key}", icon=":material/download:", on_click="ignore")


def chart(fig: Any, *, name: str, key: str, title: str = "", **kw: Any) -> Any:
    """A Plotly chart with PNG and standalone HTML downloads (rendered only when clicked)."""
    event = st.plotly_chart(fig, key=f"chart_{key}", **kw)
    row = st.container(horizontal=True)
    png = charts.png_available()
    row.download_button("PNG", data=lambda: charts.to_png(fig, title or name.replace("_", " ").capitalize()), file_name=f"{name}.png", mime="image/png",
                        key=f"png_{key}", icon=":material/image:", disabled=not png,
                        help=None if png else "PNG needs Chromium on the server (Debian: apt-get install chromium).")
    row.download_button("HTML", data=lambda: charts.to_html(fig, title or name.replace("_", " ").capitalize()), file_name=f"{name}.html", mime="text/html",
                          key=f"html_{key}", icon=":material/code:")
    return event


def customer_list(ids: list[str] | Callable[[], list[str]], *, name: str, key: str, count: int | None = None) -> None:
    """A CSV of customer ids. ``ids`` may be a function, called when the button is clicked (the list costs a
    query), with ``count`` the number it will return, known beforehand."""
    # viewers get a sentence instead; every download is in the audit log (app/auth.py)
    def csv() -> bytes:
        return safe_csv(pd.DataFrame({"customer_id": ids() if callable(ids) else ids}))

    if not callable(ids):
        count = len(ids)
    assert count is not None, "a deferred customer list needs its count"
    auth.customer_download(st, f"Download {count:,} customer ids", csv if callable(ids) else csv(), file_name=f"{name}.csv",
                           key=f"cust_{key}", rows=count, icon=":material/group:")


def share_link(v: ViewState) -> str:
    """The URL that reopens this exact view (page path + every non-default setting)."""
    base = str(st.context.url or "").split("?")[0]
    params = v.to_params()
    return base + ("?" + urlencode(params, doseq=True) if params else "")


_MD = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>~$:"})


#: web and mail addresses are made links by Markdown even when escaped: an invisible word joiner breaks them
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|www)(?=\\[:.])|(@)")


def md(text: str) -> str:
    """Escape user text (touchpoints, values) for Streamlit's Markdown, so it shows literally (addresses in it
    are not made links)."""
    return _AUTOLINK.sub(lambda m: (m.group(1) or m.group(2)) + "\u2060", text.translate(_MD))


def empty_state(reason: str) -> None:
    """An explicit empty state; ``reason`` may contain user text, so it is shown literally."""
    st.info(md(reason), icon="ℹ️")


def default_funnel_steps(v: ViewState, touchpoints: list[str]) -> tuple[tuple[str, ...], ...]:
    """The funnel the page opens with (see :func:`journeys.report.context.suggest_funnel`; the report uses it too)."""
    from app import state  # the pages' cache; imported here because state does not need ui

    return suggest_funnel(v, touchpoints, lambda pv: [str(p) for p in state.paths(pv, Segment()).variants.path])
