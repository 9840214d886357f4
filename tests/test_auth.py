"""The team server's users, roles, sign-in rate limiting, dataset access and secrets (journeys/auth)."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from journeys.auth import access, keys, ratelimit, users, vault
from journeys.auth.roles import ROLES, AccessDenied, can, require
from journeys.errors import JourneyError

PW = "correct horse battery"


@pytest.fixture(autouse=True)
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JOURNEYS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JOURNEYS_KEY_DIR", str(tmp_path / "keys"))
    for var in ("JOURNEYS_SECRET_KEY", "JOURNEYS_PSEUDONYM_KEY", "JOURNEYS_EXPORT_SALT", "JOURNEYS_TEAM"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


# ---- roles -------------------------------------------------------------------------------------------
def test_rights_of_each_role_as_the_issue_lists_them():
    table = {r: {x for x in ("explore", "upload", "download_customers", "push_audience", "delete_any",
                             "manage_users", "configure") if can(r, x)} for r in ROLES}
    assert table == {
        "viewer": {"explore"},
        "analyst": {"explore", "upload", "download_customers", "push_audience"},
        "admin": {"explore", "upload", "download_customers", "push_audience", "delete_any", "manage_users", "configure"},
    }
    assert not can("root", "explore")
    with pytest.raises(AccessDenied, match=r"Your role \(viewer\) cannot download customer lists; an analyst or admin can"):
        require("viewer", "download_customers", "download customer lists")


# ---- users -------------------------------------------------------------------------------------------
def test_passwords_are_stored_as_argon2id_hashes_only(homes: Path):
    users.add_user("ann", "admin", PW)
    with sqlite3.connect(homes / "home" / "auth.sqlite") as con:
        (stored,) = con.execute("SELECT hash FROM users WHERE name = 'ann'").fetchone()
    assert stored.startswith("$argon2id$") and PW not in stored
    assert PasswordHasher().verify(stored, PW)  # a standard hash the library itself verifies
    raw = (homes / "home" / "auth.sqlite").read_bytes()
    assert PW.encode() not in raw
    assert oct((homes / "home" / "auth.sqlite").stat().st_mode & 0o777) == "0o600"


def test_add_list_remove_and_their_sentences():
    users.add_user("ann", "admin", PW)
    users.add_user("bob", "viewer", PW)
    users.add_user("cy@example.com", "analyst")  # identity provider only
    assert [(u.name, u.role, u.has_password) for u in users.list_users()] == [
        ("ann", "admin", True), ("bob", "viewer", True), ("cy@example.com", "analyst", False)]
    with pytest.raises(JourneyError, match="A user named 'bob' already exists"):
        users.add_user("bob", "viewer", PW)
    with pytest.raises(JourneyError, match="Unknown role 'viewr'. Did you mean 'viewer'"):
        users.add_user("dan", "viewr", PW)
    with pytest.raises(JourneyError, match="The password is 5 characters long; use at least 10"):
        users.add_user("dan", "viewer", "short")
    with pytest.raises(JourneyError, match="cannot be a user name"):
        users.add_user("a b", "viewer", PW)
    with pytest.raises(JourneyError, match="Unknown user 'bbo'. Did you mean 'bob'"):
        users.remove_user("bbo")
    with pytest.raises(JourneyError, match="'ann' is the last admin"):
        users.remove_user("ann")
    with pytest.raises(JourneyError, match="'ann' is the last admin"):
        users.set_role("ann", "viewer")
    users.set_role("bob", "admin")
    users.remove_user("ann")
    assert [u.name for u in users.list_users()] == ["bob", "cy@example.com"]


def test_sign_in_right_wrong_and_unknown():
    users.add_user("ann", "analyst", PW)
    assert users.authenticate("ann", PW).role == "analyst"
    for name, pw in (("ann", "wrong password"), ("nobody", PW)):
        with pytest.raises(users.SignInError, match=r"^Wrong user name or password\.$"):
            users.authenticate(name, pw)
    users.add_user("oidc@example.com", "viewer")
    with pytest.raises(users.SignInError):  # no password: signs in only through the identity provider
        users.authenticate("oidc@example.com", "")


def test_changed_password_applies():
    users.add_user("ann", "analyst", PW)
    users.set_password("ann", "another long secret")
    with pytest.raises(users.SignInError):
        users.authenticate("ann", PW)
    assert users.authenticate("ann", "another long secret").name == "ann"


# ---- rate limiting -----------------------------------------------------------------------------------
def test_delay_doubles_after_the_free_failures():
    assert [ratelimit.delay_after(n, "user") for n in range(8)] == [0, 0, 0, 2, 4, 8, 16, 32]
    assert ratelimit.delay_after(30, "user") == ratelimit.MAX_DELAY_S
    assert ratelimit.delay_after(9, "client") == 0 and ratelimit.delay_after(10, "client") == 2


def test_wait_counts_failures_since_the_last_success_within_the_window():
    k = ["user:ann"]
    ratelimit.note(k, False, now=1000.0)
    ratelimit.note(k, False, now=1001.0)
    assert ratelimit.wait_s(k, now=1001.0) == 0
    ratelimit.note(k, False, now=1002.0)  # third failure: wait 2 s from it
    assert ratelimit.wait_s(k, now=1002.5) == 2  # 1.5 s left, rounded up
    assert ratelimit.wait_s(k, now=1004.0) == 0
    ratelimit.note(k, False, now=1004.0)  # fourth: 4 s
    assert ratelimit.wait_s(k, now=1004.0) == 4
    ratelimit.note(k, True, now=1010.0)  # a success clears the count
    assert ratelimit.wait_s(k, now=1010.0) == 0
    for t in (2000.0, 2001.0, 2002.0):
        ratelimit.note(k, False, now=t)
    assert ratelimit.wait_s(k, now=2003.0) == 1
    assert ratelimit.wait_s(k, now=2002.0 + ratelimit.WINDOW_S + 1) == 0  # old failures fall out of the window


def test_repeated_wrong_passwords_are_refused_without_checking(monkeypatch: pytest.MonkeyPatch):
    users.add_user("ann", "analyst", PW)
    for _ in range(ratelimit.FREE_FAILURES["user"]):
        with pytest.raises(users.SignInError, match="Wrong user name or password"):
            users.authenticate("ann", "wrong password", client="10.0.0.1")
    with pytest.raises(users.TooManyAttempts, match=r"Too many wrong passwords: try again in 2 s\.") as err:
        users.authenticate("ann", PW, client="10.0.0.2")  # even the right password waits
    assert err.value.wait == 2
    with pytest.raises(users.TooManyAttempts):  # the name is limited, whatever the case or spaces
        users.authenticate(" ANN ", PW)
    now = [ratelimit.time.time() + 3]
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    assert users.authenticate("ann", PW).name == "ann"


def test_one_client_trying_many_names_is_slowed_too():
    for i in range(ratelimit.FREE_FAILURES["client"]):
        with pytest.raises(users.SignInError):
            users.authenticate(f"user{i}", "wrong password", client="10.9.9.9")
    with pytest.raises(users.TooManyAttempts):
        users.authenticate("someone-else", "wrong password", client="10.9.9.9")


# ---- dataset access ----------------------------------------------------------------------------------
class DS:
    def __init__(self, id_: str) -> None:
        self.id = id_


def test_owner_named_users_everyone_and_admins():
    items = [DS("a1"), DS("b1"), DS("free"), DS("team")]
    access.set_access("a1", owner="ann")
    access.set_access("b1", owner="bob", add=["cy"])
    access.set_access("team", owner="bob", everyone=True)
    seen = {u: [d.id for d in access.visible(u, r, items)] for u, r in
            (("ann", "analyst"), ("bob", "analyst"), ("cy", "viewer"), ("dee", "viewer"), ("root", "admin"))}
    assert seen == {"ann": ["a1", "team"], "bob": ["b1", "team"], "cy": ["b1", "team"], "dee": ["team"],
                    "root": ["a1", "b1", "free", "team"]}  # 'free' has no owner: admins only
    assert access.can_manage("bob", "analyst", "b1") and not access.can_manage("cy", "viewer", "b1")
    assert access.can_manage("root", "admin", "a1")
    after = access.set_access("b1", remove=["cy"])
    assert after.users == () and not access.can_see("cy", "viewer", "b1")
    assert access.set_access("team", everyone=False).describe() == "owner bob; shared with nobody else"
    access.forget("a1")
    assert access.access_of("a1") == access.Access("a1", None, False, ())


# ---- keys and secrets --------------------------------------------------------------------------------
def test_keys_are_made_once_outside_the_store(homes: Path, monkeypatch: pytest.MonkeyPatch):
    first = keys.load_key("secret")
    assert len(first) == 32 and keys.load_key("secret") == first
    path = homes / "keys" / "secret.key"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert keys.load_key("pseudonym") != first
    monkeypatch.setenv("JOURNEYS_KEY_DIR", str(homes / "home" / "keys"))
    with pytest.raises(JourneyError, match="is inside the dataset store"):
        keys.load_key("secret")
    monkeypatch.setenv("JOURNEYS_SECRET_KEY", base64.urlsafe_b64encode(b"k" * 32).decode())
    assert keys.load_key("secret") == b"k" * 32  # the environment wins
    monkeypatch.setenv("JOURNEYS_SECRET_KEY", "too-short")
    with pytest.raises(JourneyError, match="is not 32 bytes"):
        keys.load_key("secret")


def test_secrets_are_encrypted_and_need_the_same_key(homes: Path, monkeypatch: pytest.MonkeyPatch):
    stored = vault.encrypt("hook-secret-123")
    assert stored.startswith("fernet:") and "hook-secret-123" not in stored
    assert vault.decrypt(stored) == "hook-secret-123"
    monkeypatch.setenv("JOURNEYS_KEY_DIR", str(homes / "other-keys"))
    with pytest.raises(JourneyError, match="cannot be decrypted with this server's secrets key"):
        vault.decrypt(stored)


def test_connection_urls_keep_no_clear_password(monkeypatch: pytest.MonkeyPatch):
    url = "postgres://ann:s3cr%40t@db.example.com:5432/shop?sslmode=require"
    stored = vault.protect_url(url)
    assert "s3cr" not in stored and stored.startswith("postgres://ann:enc:") and stored.endswith(
        "@db.example.com:5432/shop?sslmode=require")
    assert vault.reveal_url(stored) == url
    assert vault.protect_url(stored) == stored  # already protected
    assert vault.redact_url(url) == "postgres://ann:***@db.example.com:5432/shop?sslmode=require"
    ref = "postgres://ann:${PGPASSWORD}@db/shop"
    assert vault.protect_url(ref) == ref and vault.redact_url(ref) == ref
    monkeypatch.setenv("PGPASSWORD", "from-env")
    assert vault.reveal_url(ref) == "postgres://ann:from-env@db/shop"
    monkeypatch.delenv("PGPASSWORD")
    with pytest.raises(JourneyError, match="The environment variable PGPASSWORD is not set"):
        vault.reveal_url(ref)
    for plain in ("duckdb:///warehouse.db", "trino://ann@host/catalog"):
        assert vault.protect_url(plain) == plain == vault.reveal_url(plain) == vault.redact_url(plain)


def test_error_messages_lose_the_password():
    url = "postgres://ann:s3cret-pw@db/shop"
    stored = vault.protect_url(url)
    said = "could not connect to postgres://ann:s3cret-pw@db/shop (password s3cret-pw rejected)"
    assert vault.scrub(said, url) == vault.scrub(said, stored) == (
        "could not connect to postgres://ann:***@db/shop (password *** rejected)")
    assert vault.scrub("no password here", "duckdb:///x.db") == "no password here"


def test_a_failed_connection_names_the_host_only(monkeypatch: pytest.MonkeyPatch):
    from journeys.engine import connect

    def refuse(url: str) -> None:
        raise RuntimeError(f"connection to {url} failed")

    monkeypatch.setattr(connect.ibis, "connect", refuse)
    with pytest.raises(JourneyError) as err:
        connect.connect_url(vault.protect_url("postgres://ann:Very-Secret-1@db.example.com/shop"))
    assert "Very-Secret-1" not in str(err.value) and "db.example.com/shop" in str(err.value)
