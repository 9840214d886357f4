"""Who is looking: the sign-in gate, roles, dataset visibility and audited downloads for the pages.

Three modes, decided once per run by :func:`gate` (main.py calls it before anything reads data):
- *oidc*: ``.streamlit/secrets.toml`` has an ``[auth]`` section: Streamlit's ``st.login``; the person's
  e-mail must be a user of the built-in store (``journeys users add EMAIL --role R --no-password``),
  which gives the role;
- *team*: ``journeys serve --team`` (``JOURNEYS_TEAM=1``): the built-in user store's sign-in form,
  rate-limited;
- *local*: neither, on 127.0.0.1: one person at their own machine, with every right (as before).
A server reachable from the network without sign-in shows nothing but how to configure it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, TypeVar

import pandas as pd
import streamlit as st

from journeys import privacy
from journeys.auth import access, audit, users
from journeys.auth.acting import act_as
from journeys.auth.roles import Right, can
from journeys.users_cli import LOOPBACK, oidc_configured

T = TypeVar("T")
Mode = Literal["local", "team", "oidc"]


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str
    mode: Mode


def _auth_secrets() -> dict[str, object]:
    """The ``[auth]`` section of Streamlit's secrets (any file Streamlit reads), or nothing."""
    try:
        found = st.secrets.get("auth")
    except Exception:  # no secrets file at all: Streamlit raises its own not-found error
        return {}
    return {str(k): v for k, v in found.items()} if found is not None and hasattr(found, "keys") else {}


def mode() -> Mode:
    if _auth_secrets() or oidc_configured():
        return "oidc"
    return "team" if os.environ.get("JOURNEYS_TEAM") == "1" else "local"


def current() -> Principal:
    """The person this run is for (set by :func:`gate`)."""
    found = st.session_state.get("principal")
    if isinstance(found, Principal):
        return found
    how = mode()  # before the gate has run: every right locally, none on a team server
    return Principal("local", "admin", "local") if how == "local" else Principal("", "", how)


def allowed(right: Right) -> bool:
    return can(current().role, right)


def gate(on_halt: Callable[[], None] | None = None) -> Principal:
    """Let the run go on only for a signed-in person (or locally); otherwise draw the sign-in and stop,
    calling ``on_halt`` first (it clears what the page drew before the gate)."""
    token = _ON_HALT.set(on_halt)
    try:
        return _gate()
    finally:
        _ON_HALT.reset(token)


#: what to call before the gate stops a run (each session's run is its own thread, so its own context)
_ON_HALT: ContextVar[Callable[[], None] | None] = ContextVar("journeys_on_halt", default=None)


def _gate() -> Principal:
    how = mode()
    if how == "local":
        address = str(st.get_option("server.address") or "127.0.0.1")
        if address not in LOOPBACK:
            st.error(f"This dashboard listens on {address} without sign-in, so it shows no data: serve it on 127.0.0.1, "
                     "or add an admin (`journeys users add NAME --role admin`) and start it with `journeys serve --team`.")
            _halt()
        who = Principal("local", "admin", "local")
    else:
        who = _oidc() if how == "oidc" else _team()
    st.session_state["principal"] = who
    act_as(who.name)
    if how != "local":
        box = st.sidebar.container(horizontal=True, vertical_alignment="center")
        from app.ui import md  # app.ui imports this module; by now both are loaded

        box.caption(md(f"Signed in as {who.name} ({who.role})"))  # a name is user text
        if box.button("Sign out", key="sign_out", icon=":material/logout:"):
            _sign_out(how)
    return who


def _sign_out(how: Mode) -> None:
    st.session_state.clear()
    if how == "oidc":
        st.logout()
    st.rerun()


def _team() -> Principal:
    name = st.session_state.get("signed_in")
    user = users.get_user(name) if isinstance(name, str) else None
    if user is not None:  # re-read every run: a removed user is out, a changed role applies at once
        return Principal(user.name, user.role, "team")
    st.session_state.pop("signed_in", None)
    st.title("Sign in to journeys")
    with st.form("sign_in"):
        name_in = st.text_input("User name", key="sign_in_name")
        password = st.text_input("Password", type="password", key="sign_in_password")
        sent = st.form_submit_button("Sign in", type="primary")
    if sent:
        client = st.context.ip_address
        try:
            user = users.authenticate(name_in, password, client=client)
        except users.TooManyAttempts as err:
            audit.record("sign_in_refused", name_in.strip()[:64], user=name_in.strip()[:64] or "?",
                         detail={"client": client, "wait_s": err.wait})
            st.error(err.message, icon="⏳")
        except users.SignInError as err:
            audit.record("sign_in_failed", name_in.strip()[:64], user=name_in.strip()[:64] or "?",
                         detail={"client": client})
            st.error(err.message, icon="🔒")
        else:
            audit.record("sign_in", user.name, user=user.name, detail={"client": client})
            st.session_state["signed_in"] = user.name
            st.rerun()
    st.caption("No account? Ask an admin of this server (`journeys users add NAME --role viewer`).")
    return _halt()


def _halt() -> NoReturn:
    """End this run here: nothing below the sign-in is drawn."""
    hook = _ON_HALT.get()
    if hook is not None:
        hook()  # before st.stop(): what a stopped run draws is dropped
    st.stop()
    raise AssertionError("st.stop() returned")


def _oidc() -> Principal:
    if not st.user.is_logged_in:
        st.title("Sign in to journeys")
        providers: list[str | None] = [k for k, v in _auth_secrets().items() if hasattr(v, "keys")] or [None]
        for provider in providers:
            st.button(f"Sign in with {provider}" if provider else "Sign in", type="primary", key=f"login_{provider}",
                      on_click=st.login, args=(provider,) if provider else ())
        _halt()
    email = str(st.user.get("email") or st.user.get("name") or "")
    user = users.get_user(email) if email else None
    if user is None:
        from app.ui import md

        st.error(md(f"You are signed in as {email or 'someone without an e-mail address'}, but this server has given "
                    "you no role: ask an admin to run ") + "`journeys users add EMAIL --role viewer --no-password`.")
        st.button("Sign out", on_click=st.logout, key="oidc_out")
        _halt()
    if st.session_state.get("oidc_recorded") != user.name:
        audit.record("sign_in", user.name, user=user.name, detail={"via": "oidc"})
        st.session_state["oidc_recorded"] = user.name
    return Principal(user.name, user.role, "oidc")


# ---- datasets ----------------------------------------------------------------------------------------
def visible(items: Sequence[T]) -> list[T]:
    """The datasets (anything with an ``id``) this person may see; everything when local."""
    who = current()
    return list(items) if who.mode == "local" else access.visible(who.name, who.role, items)


def missing_dataset(key: str, fallback: str) -> str:
    """The link-banner sentence for a dataset in a link that is not shown. On a team server it is the same
    whether the dataset does not exist or is not shared with this person."""
    if current().mode == "local":
        return f"The dataset '{key}' in this link does not exist (it may have been deleted). Showing {fallback} instead."
    return access.NO_ACCESS + (f" Showing {fallback} instead." if fallback != "no dataset" else "")


def no_datasets() -> str:
    if current().mode == "local" or allowed("upload"):
        return "There is no dataset yet. Open the Data page to load a CSV, Parquet or JSON Lines export."
    return "No dataset is shared with you yet: ask its owner or an admin to share one."


def can_manage(dataset: str) -> bool:
    who = current()
    return who.mode == "local" or access.can_manage(who.name, who.role, dataset)


def loaded(dataset: str) -> None:
    """A new dataset belongs to whoever loaded it (on a team server), shared with nobody yet."""
    who = current()
    if who.mode != "local":
        access.set_access(dataset, owner=who.name)


def deleted(dataset: str, name: str) -> None:
    audit.record("delete_dataset", dataset, user=current().name, detail={"name": name})
    access.forget(dataset)


# ---- downloads and personal data ---------------------------------------------------------------------
def shown(frame: pd.DataFrame) -> pd.DataFrame:
    """A table as this person may read it: personal data masked for viewers."""
    return frame if allowed("download_customers") else privacy.mask_frame(frame, privacy.pii_in_frame(frame))


def shown_text(text: str) -> str:
    """A value or sentence as this person may read it: e-mail addresses and phone numbers masked for viewers."""
    if allowed("download_customers"):
        return text
    return str(privacy.mask(text) if privacy.kind_of(text) else privacy.mask_text(text))


def exported(frame: pd.DataFrame, restricted: bool) -> pd.DataFrame:
    """A table as it may be exported: personal data as salted hashes for a ``restricted`` person (one
    without the download right; decided during the run, since the click is handled outside it)."""
    return privacy.hash_frame(frame, privacy.pii_in_frame(frame)) if restricted else frame


def no_upload() -> None:
    """Instead of the uploader, for a role that cannot load data."""
    st.caption(f"Your role ({current().role}) cannot load data; an analyst or admin can.")


def sharing(dataset: str) -> None:
    """Who sees the dataset (team server): everyone signed in, or named users. Owner or admin only."""
    who = current()
    if who.mode == "local" or not can_manage(dataset):
        return
    now = access.access_of(dataset)
    st.subheader("Sharing")
    st.caption(f"Owner: {now.owner or '(none: admins only)'}. A link to this dataset works for everyone it is shared with.")
    others = [u.name for u in users.list_users() if u.name != now.owner]
    key = f"share_{dataset}"
    everyone = st.checkbox("Everyone signed in", value=now.everyone, key=f"{key}_all")
    names = st.multiselect("Shared with", others, default=[u for u in now.users if u in others], key=f"{key}_users",
                           disabled=everyone)
    if st.button("Save sharing", key=f"{key}_save"):
        after = access.set_access(dataset, everyone=everyone, add=names,
                                  remove=[u for u in now.users if u not in names])
        audit.record("access_changed", dataset, user=who.name,
                     detail={"everyone": after.everyone, "users": list(after.users)})
        st.success("Saved: " + after.describe())


def customer_download(where: Any, label: str, data: bytes | str | Callable[[], bytes], *, file_name: str, key: str,
                      mime: str = "text/csv", rows: int | None = None, **kw: Any) -> None:
    """A download button for anything that lists customers (member lists, scored customers), for the pages
    that build their own files: viewers get a sentence instead, and each click is in the audit log.

    ``where`` is ``st`` or a container. ``data`` is the file, or a function that makes it when clicked (for
    files too costly to build on every run). A made file has a content address that survives reruns, so a
    click that lands while the page reruns still downloads; a deferred one's address is new on every run,
    and such a click is lost. Example::

        auth.customer_download(row, "CSV", lambda: safe_csv(members), file_name="a.csv", key="act_csv", rows=len(members))
    """
    if not allowed("download_customers"):
        where.caption(f"Your role ({current().role}) cannot download customer lists.")
        return
    who, dataset = current(), st.session_state.get("view") and getattr(st.session_state["view"], "dataset", None)

    def record() -> None:
        audit.record("download_customers", file_name, user=who.name, detail={"rows": rows, "dataset": dataset})

    if not callable(data):
        where.download_button(label, data=data, file_name=file_name, mime=mime, key=key, on_click=record, **kw)
        return

    def audited() -> bytes:
        record()
        return data()

    where.download_button(label, data=audited, file_name=file_name, mime=mime, key=key, **kw)
