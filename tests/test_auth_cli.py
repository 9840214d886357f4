"""The team server's command line: users, access, audit, serve's safe defaults, connect without clear passwords."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import duckdb
import pytest

from journeys import cli, users_cli
from journeys.auth import access, audit, users

PW = "correct horse battery"
ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app" / "main.py"
OIDC_CONFIGURED = users_cli.oidc_configured  # the real one (the fixture replaces it: no repo secrets count)


@pytest.fixture(autouse=True)
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JOURNEYS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JOURNEYS_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.delenv("JOURNEYS_TEAM", raising=False)
    monkeypatch.setattr(users_cli, "oidc_configured", lambda root=None: False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        code = cli.run(list(argv))
    finally:
        sys.stdin = sys.__stdin__
    out, err = capsys.readouterr()
    return code, out, err


def test_users_add_list_remove(capsys):
    assert run(capsys, "users", "add", "ann", "--role", "admin", "--password-stdin", stdin=PW + "\n") == (
        0, "Added ann (admin, password).\n", "")
    assert run(capsys, "users", "add", "cy@example.com", "--role", "viewer", "--no-password")[1] == (
        "Added cy@example.com (viewer, identity provider only).\n")
    code, out, _ = run(capsys, "users", "list", "--format", "json")
    assert code == 0
    assert [(u["name"], u["role"], u["password"]) for u in json.loads(out)["users"]] == [
        ("ann", "admin", True), ("cy@example.com", "viewer", False)]
    assert users.authenticate("ann", PW).role == "admin"  # the line's newline is not part of the password
    assert run(capsys, "users", "remove", "cy@example.com")[:2] == (0, "Removed cy@example.com.\n")
    code, _, err = run(capsys, "users", "remove", "ann")
    assert code == 2 and err == "journeys: error: 'ann' is the last admin; add another admin before removing this one.\n"
    code, _, err = run(capsys, "users", "add", "bob", "--role", "viewer", "--password-stdin", stdin="short\n")
    assert code == 2 and "use at least 10" in err
    assert [e.action for e in audit.entries()] == ["user_removed", "user_added", "user_added"]


def test_users_add_without_a_terminal_or_stdin_says_how(capsys):
    code, _, err = run(capsys, "users", "add", "ann", "--role", "admin", stdin="")
    assert code == 2 and err == ("journeys: error: No terminal to ask for the password: pass it on standard input "
                                 "with --password-stdin.\n")


def test_serve_stays_local_and_team_needs_sign_in(capsys):
    cmd, env = users_cli.serve_command(8501, team=False, address=None, app=APP)
    assert cmd[-2:] == ["--server.address", "127.0.0.1"] and "JOURNEYS_TEAM" not in env
    with pytest.raises(cli.JourneyError, match=r"Serving on 0\.0\.0\.0 reaches beyond this machine"):
        users_cli.serve_command(8501, team=False, address="0.0.0.0", app=APP)
    code, _, err = run(capsys, "serve", "--team", "--port", "1")
    assert code == 2
    assert err == ("journeys: error: Sign-in is not configured, so the team server will not start: add an admin with "
                   "`journeys users add NAME --role admin`, or an [auth] section for your identity provider in "
                   ".streamlit/secrets.toml.\n")
    users.add_user("viewer1", "viewer", PW)
    with pytest.raises(cli.JourneyError, match="Sign-in is not configured"):  # a viewer cannot manage the server
        users_cli.serve_command(8501, team=True, address=None, app=APP)
    users.add_user("ann", "admin", PW)
    cmd, env = users_cli.serve_command(8502, team=True, address=None, app=APP)
    assert cmd[-4:] == ["--server.port", "8502", "--server.address", "0.0.0.0"] and env["JOURNEYS_TEAM"] == "1"


def test_oidc_configuration_is_read_from_secrets_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOME", str(tmp_path / "nohome"))
    root = tmp_path / "repo"
    (root / ".streamlit").mkdir(parents=True)
    assert not OIDC_CONFIGURED(root)
    (root / ".streamlit" / "secrets.toml").write_text('[auth]\nredirect_uri = "http://x/oauth2callback"\n'
                                                      'cookie_secret = "s"\n')
    assert OIDC_CONFIGURED(root)
    (root / ".streamlit" / "secrets.toml").write_text("not = [valid")
    assert not OIDC_CONFIGURED(root)


def test_access_command_shares_and_lists(capsys, homes: Path):
    from journeys.engine.store import Store

    csv = homes / "e.csv"
    csv.write_text("customer,timestamp,touchpoint\nc1,2026-01-01 10:00,view\nc1,2026-01-01 10:05,buy\n")
    store = Store()
    ds = store.ingest(csv, name="shop").dataset_id
    store.close()
    users.add_user("ann", "analyst", PW)
    users.add_user("bob", "viewer", PW)
    code, out, _ = run(capsys, "access", "shop", "--owner", "ann", "--share", "bob")
    assert (code, out) == (0, "shop: owner ann; shared with bob\n")
    assert access.can_see("bob", "viewer", ds)
    code, _, err = run(capsys, "access", "shop", "--share", "bbo")
    assert code == 2 and "Unknown user 'bbo'. Did you mean 'bob'?" in err
    code, out, _ = run(capsys, "access", "--format", "json")
    assert json.loads(out) == {"datasets": [{"id": ds, "name": "shop", "owner": "ann", "everyone": False, "users": ["bob"]}]}
    assert json.loads(run(capsys, "access", "--as", "bob", "--format", "json")[1])["datasets"][0]["name"] == "shop"
    users.add_user("dee", "viewer", PW)
    assert run(capsys, "access", "--as", "dee")[1] == "No datasets.\n"
    assert run(capsys, "access", "--as", "nobody")[0] == 2
    assert run(capsys, "access", "shop", "--unshare", "bob", "--everyone")[1] == (
        "shop: owner ann; shared with everyone signed in\n")
    code, out, _ = run(capsys, "audit", "--action", "access_changed", "--format", "csv")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0] == "ts,user,action,target,detail" and len(lines) == 3


def test_connect_keeps_no_clear_password_in_the_catalogue(capsys, homes: Path):
    warehouse = homes / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).execute(
        f"CREATE TABLE clicks AS FROM '{ROOT / 'tests' / 'data' / 'ecom_slice.csv'}'").close()
    secret = "Sup3rSecretPassw0rd"
    url = f"duckdb://ann:{secret}@localhost/{warehouse}"
    code, out, err = run(capsys, "connect", url, "clicks", "--map", "customer=user_id", "--map", "timestamp=timestamp",
                         "--map", "touchpoint=event", "--name", "wh", "--format", "json")
    assert code == 0, err
    assert secret not in out
    files = [p for p in (homes / "home").rglob("*") if p.is_file()]
    assert files and not any(secret.encode() in p.read_bytes() for p in files)
    assert not any(secret.encode() in p.read_bytes() for p in (homes / "keys").rglob("*") if p.is_file())
    from journeys.engine.store import Store

    store = Store(read_only=True)
    stored = store.get("wh").connection
    assert stored is not None and stored["url"].startswith("duckdb://ann:enc:")
    assert store.table("wh").count().execute() == 300  # the encrypted password still connects
    code, out, _ = run(capsys, "datasets")
    assert code == 0 and secret not in out


def test_make_run_stays_local_and_serve_team_is_the_explicit_way_out():
    text = (ROOT / "Makefile").read_text()
    recipe = lambda target: text.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
    assert "--server.address 127.0.0.1" in recipe("run") and "0.0.0.0" not in recipe("run")
    assert "journeys serve --team" in recipe("serve-team")


def test_identity_provider_sign_in_needs_authlib(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(users_cli, "oidc_configured", lambda root=None: True)
    monkeypatch.setattr(users_cli.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(cli.JourneyError, match=r"needs Authlib: run `pip install -e '\.\[oidc\]'`"):
        users_cli.serve_command(8501, team=True, address=None, app=APP)
