"""The sign-in gate in the dashboard (AppTest): anonymous visitors see no data, people see only the datasets
shared with them, a link to any other dataset gets one sentence, viewers get no customer lists and see
personal data masked. Without sign-in configured, on 127.0.0.1, the dashboard is unchanged (tests/app)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from journeys.auth import access, audit, ratelimit, users
from journeys.auth.access import NO_ACCESS
from journeys.engine.store import Store

ROOT = Path(__file__).resolve().parents[1]
MAIN = str(ROOT / "app" / "main.py")
PW = "correct horse battery"
LOG = "customer,timestamp,touchpoint,email\n" + "".join(
    f"{c}@example.com,2026-01-0{d} 10:0{i},{t},{c}@example.com\n"
    for d, c in enumerate(("ann", "bob", "cy", "dee"), start=1) for i, t in enumerate(("view", "cart", "buy")))


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A team server's store: A's dataset, B's dataset, users ann (analyst), bob (viewer), root (admin)."""
    home = tmp_path_factory.mktemp("teamhome")
    saved = {k: os.environ.get(k) for k in ("JOURNEYS_HOME", "JOURNEYS_KEY_DIR", "JOURNEYS_TEAM")}
    os.environ.update(JOURNEYS_HOME=str(home), JOURNEYS_KEY_DIR=str(home.parent / "teamkeys"), JOURNEYS_TEAM="1")
    st.cache_resource.clear()
    st.cache_data.clear()
    log = home.parent / "log.csv"
    log.write_text(LOG)
    store = Store()
    ids = {"a": store.ingest(log, name="A data").dataset_id, "b": store.ingest(log, name="B data").dataset_id}
    store.close()
    users.add_user("ann", "analyst", PW)
    users.add_user("bob", "viewer", PW)
    users.add_user("root", "admin", PW)
    access.set_access(ids["a"], owner="ann")
    access.set_access(ids["b"], owner="ann", add=["bob"])
    yield ids
    st.cache_resource.clear()
    st.cache_data.clear()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def visit(signed_in: str | None = None, page: str | None = None, **params: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    if signed_in:
        at.session_state["signed_in"] = signed_in
    if page:
        at.switch_page(page)
    return at.run()


def plain(at: AppTest, kind: str) -> list[str]:
    """As shown: Markdown escapes and the word joiners that keep addresses from becoming links removed."""
    return [str(e.value).replace("\\", "").replace("\u2060", "") for e in getattr(at, kind)]


def test_anonymous_visitors_get_the_sign_in_and_no_data(team):
    at = visit(ds=team["a"])
    assert not at.exception
    assert plain(at, "title") == ["Sign in to journeys"]
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert not at.selectbox and not at.dataframe and not at.get("plotly_chart")
    assert not any("A data" in str(e.value) for kind in ("markdown", "caption", "text") for e in getattr(at, kind))


def test_signing_in_with_the_form(team):
    at = visit()
    at.text_input(key="sign_in_name").input("ann")
    at.text_input(key="sign_in_password").input("wrong password")
    at.button[0].click().run()
    assert plain(at, "error") == ["Wrong user name or password."]
    at.text_input(key="sign_in_password").input(PW)
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["signed_in"] == "ann"
    assert at.selectbox(key="sb_dataset").options == ["A data · 12 events", "B data · 12 events"]
    assert "Signed in as ann (analyst)" in plain(at, "caption")
    assert [e.action for e in audit.entries(user="ann")][:2] == ["sign_in", "sign_in_failed"]
    ratelimit.note(ratelimit.keys("ann", None), True)  # leave no failures behind for the other tests


def test_repeated_wrong_passwords_are_slowed(team):
    at = visit()
    for _ in range(ratelimit.FREE_FAILURES["user"] + 1):
        at.text_input(key="sign_in_name").input("root")
        at.text_input(key="sign_in_password").input("not the password")
        at.button[0].click().run()
    assert plain(at, "error") == ["Too many wrong passwords: try again in 2 s."]
    assert audit.entries(user="root", limit=1)[0].action == "sign_in_refused"


def test_a_dataset_not_shared_is_invisible_and_its_link_says_so(team):
    at = visit("bob")
    assert at.selectbox(key="sb_dataset").options == ["B data · 12 events"]
    for link in (team["a"], "0123456789abcdef"):  # not shared, and not existing: the same sentence
        at = visit("bob", ds=link)
        assert not at.exception
        banner = plain(at, "text")
        assert f"• {NO_ACCESS} Showing 'B data' instead." in banner, banner
        assert at.query_params["ds"] == team["b"]
    at = visit("bob", page="screens/data.py")
    assert list(at.dataframe[0].value.name) == ["B data"]
    assert "Your role (viewer) cannot load data; an analyst or admin can." in plain(at, "caption")
    assert not at.get("file_uploader")


def test_a_shared_link_reopens_the_view_for_someone_with_access(team):
    at = visit("bob", ds=team["b"], goal="buy")
    assert not at.exception and not plain(at, "warning")
    assert at.selectbox(key="sb_goal").value == "buy"


def test_viewers_get_no_customer_list_and_see_ids_masked(team):
    at = visit("bob", ds=team["b"])
    assert not at.exception
    downloads = [b.proto.label for b in at.get("download_button")]
    assert not any("customer ids" in label for label in downloads), downloads
    assert any("Your role (viewer) cannot download customer lists." in c for c in plain(at, "caption"))
    at = visit("ann", ds=team["a"])
    assert any("customer ids" in b.proto.label for b in at.get("download_button"))


def test_admin_page_only_for_admins(team):
    at = visit("root", page="screens/admin.py")
    assert not at.exception
    assert list(at.dataframe[0].value.name) == ["ann", "bob", "root"]
    assert "Audit log" in plain(at, "subheader")
    at = visit("bob", page="screens/admin.py")  # not in a viewer's navigation: the default page opens
    assert not at.exception and "Admin" not in plain(at, "title")


def test_viewers_see_personal_data_in_a_shared_segment_masked(team):
    from journeys.segments import Filter, Segment

    seg = Segment((Filter("attribute", ("ann@example.com",), column="email"),)).to_param()
    captions = plain(visit("bob", ds=team["b"], seg=seg), "caption")
    assert any("a***@example.com" in c for c in captions) and not any("ann@example.com" in c for c in captions)
    captions = plain(visit("ann", ds=team["b"], seg=seg), "caption")  # an analyst reads them as they are
    assert any("ann@example.com" in c for c in captions)


def test_sharing_on_the_data_page_makes_a_dataset_visible(team):
    assert not access.can_see("dee", "viewer", team["a"])
    users.add_user("dee", "viewer", PW)
    at = visit("ann", page="screens/data.py")
    at.selectbox(key="manage_ds").select(team["a"]).run()
    at.multiselect(key=f"share_{team['a']}_users").select("dee").run()
    at.button(key=f"share_{team['a']}_save").click().run()
    assert not at.exception
    assert plain(at, "success") == ["Saved: owner ann; shared with dee"]
    assert visit("dee").selectbox(key="sb_dataset").options == ["A data · 12 events"]
    assert audit.entries(action="access_changed", limit=1)[0].user == "ann"
    access.set_access(team["a"], remove=["dee"])


def test_served_beyond_this_machine_without_sign_in_shows_nothing(team, monkeypatch: pytest.MonkeyPatch):
    from streamlit import config

    monkeypatch.delenv("JOURNEYS_TEAM")
    old = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        at = visit()
    finally:
        config.set_option("server.address", old)
    assert plain(at, "error") == [("This dashboard listens on 0.0.0.0 without sign-in, so it shows no data: serve it "
                                  "on 127.0.0.1, or add an admin (`journeys users add NAME --role admin`) and start it "
                                  "with `journeys serve --team`.")]
    assert not at.selectbox and not at.get("plotly_chart")


OIDC = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32, "client_id": "id",
        "client_secret": "secret", "server_metadata_url": "https://idp.example.com/.well-known/openid-configuration"}


def oidc_visit(user: dict[str, object], **params: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.secrets["auth"] = OIDC
    at.user = user
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def test_identity_provider_sign_in(team):
    at = oidc_visit({"is_logged_in": False}, ds=team["b"])
    assert plain(at, "title") == ["Sign in to journeys"] and [b.label for b in at.button] == ["Sign in"]
    assert not at.selectbox and not at.text_input  # no password form with a provider
    users.add_user("eve@example.com", "viewer")
    access.set_access(team["b"], add=["eve@example.com"])
    at = oidc_visit({"is_logged_in": True, "email": "eve@example.com", "name": "Eve"}, ds=team["b"])
    assert not at.exception
    assert at.selectbox(key="sb_dataset").options == ["B data · 12 events"]
    assert "Signed in as eve@example.com (viewer)" in plain(at, "caption")
    at = oidc_visit({"is_logged_in": True, "email": "mallory@example.com"})
    assert plain(at, "error") == [("You are signed in as mallory@example.com, but this server has given you no role: "
                                  "ask an admin to run `journeys users add EMAIL --role viewer --no-password`.")]
    assert not at.selectbox


def test_an_upload_belongs_to_its_loader_and_a_deletion_is_audited(team):
    at = visit("ann", page="screens/data.py")
    at.file_uploader(key="upload_0").set_value(("mine.csv", LOG.encode(), "text/csv")).run()
    at.button(key="up_load").click().run()
    assert not at.exception
    mine = next(d for d in Store(read_only=True).datasets() if d.name.startswith("mine"))
    assert access.access_of(mine.id).owner == "ann"
    assert visit("bob").selectbox(key="sb_dataset").options == ["B data · 12 events"]  # not shared with bob
    at = visit("ann", page="screens/data.py")
    at.selectbox(key="manage_ds").select(mine.id).run()
    at.checkbox(key="manage_confirm").check().run()
    at.button(key="manage_delete").click().run()
    assert not at.exception
    entry = audit.entries(action="delete_dataset", limit=1)[0]
    assert (entry.user, entry.target, entry.detail) == ("ann", mine.id, {"name": mine.name})
    assert access.access_of(mine.id).owner is None
