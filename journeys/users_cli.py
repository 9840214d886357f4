"""Commands of the team server: ``journeys users``, ``journeys access``, ``journeys audit`` and what
``journeys serve --team`` checks before it serves to a network.

The command line is the server operator's: whoever can run it can read the store's files anyway, so
it acts as an admin and records itself in the audit log as ``cli:<login>``.
"""

from __future__ import annotations

import argparse
import getpass
import importlib.util
import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

from journeys.auth import access, audit, users
from journeys.auth.roles import ROLES
from journeys.errors import JourneyError, unknown

LOCAL_ADDRESS = "127.0.0.1"
TEAM_ADDRESS = "0.0.0.0"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
NOT_CONFIGURED = ("Sign-in is not configured, so the team server will not start: add an admin with "
                  "`journeys users add NAME --role admin`, or an [auth] section for your identity provider "
                  "in .streamlit/secrets.toml.")


def oidc_configured(root: Path | None = None) -> bool:
    """Whether Streamlit's OIDC sign-in (``st.login``) is configured: an [auth] section in the app's
    ``.streamlit/secrets.toml`` or the user's ``~/.streamlit/secrets.toml``."""
    folder = root or Path(__file__).resolve().parent.parent
    for path in (folder / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml"):
        try:
            if isinstance(tomllib.loads(path.read_text()).get("auth"), dict):
                return True
        except (OSError, tomllib.TOMLDecodeError):
            continue
    return False


def sign_in_configured(root: Path | None = None) -> bool:
    """OIDC, or a built-in user store with at least one admin who has a password."""
    return oidc_configured(root) or any(u.role == "admin" and u.has_password for u in users.list_users())


def serve_command(port: int, *, team: bool, address: str | None, app: Path) -> tuple[list[str], dict[str, str]]:
    """The ``streamlit run`` command line and environment for ``journeys serve`` (``--team``: to the network,
    only with sign-in configured)."""
    env = os.environ.copy()
    if team:
        if not sign_in_configured(app.parent.parent):
            raise JourneyError(NOT_CONFIGURED)
        if oidc_configured(app.parent.parent) and importlib.util.find_spec("authlib") is None:
            raise JourneyError("Sign-in through the identity provider in .streamlit/secrets.toml needs Authlib: "
                               "run `pip install -e '.[oidc]'`.")
        env["JOURNEYS_TEAM"] = "1"
    else:
        env.pop("JOURNEYS_TEAM", None)
    host = address or (TEAM_ADDRESS if team else LOCAL_ADDRESS)
    if not team and host not in LOOPBACK:
        raise JourneyError(f"Serving on {host} reaches beyond this machine: use `journeys serve --team`, which "
                           "requires sign-in.")
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port), "--server.address", host]
    return cmd, env


def _password(args: argparse.Namespace) -> str | None:
    if getattr(args, "no_password", False):
        return None
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line.strip():
            raise JourneyError("No password on standard input (one line expected).")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise JourneyError("No terminal to ask for the password: pass it on standard input with --password-stdin.")
    first = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Again: ") != first:
        raise JourneyError("The two passwords differ; nothing was changed.")
    return first


def _emit(data: Any, fmt: str, lines: list[str]) -> None:
    print(json.dumps(data, default=str) if fmt == "json" else "\n".join(lines))


def cmd_users_add(args: argparse.Namespace) -> None:
    user = users.add_user(args.name, args.role, _password(args))
    audit.record("user_added", user.name, detail={"role": user.role})
    how = "password" if user.has_password else "identity provider only"
    print(f"Added {user.name} ({user.role}, {how}).")


def cmd_users_list(args: argparse.Namespace) -> None:
    found = users.list_users()
    lines = [f"{u.name:<32} {u.role:<8} {'password' if u.has_password else 'identity provider'}  since {u.created}"
             for u in found] or ["No users yet. Add one with `journeys users add NAME --role admin`."]
    _emit({"users": [{"name": u.name, "role": u.role, "password": u.has_password, "created": u.created}
                     for u in found]}, args.format, lines)


def cmd_users_remove(args: argparse.Namespace) -> None:
    users.remove_user(args.name)
    audit.record("user_removed", args.name)
    print(f"Removed {args.name}.")


def cmd_users_role(args: argparse.Namespace) -> None:
    users.set_role(args.name, args.role)
    audit.record("user_changed", args.name, detail={"role": args.role})
    print(f"{args.name} is now {args.role}.")


def cmd_users_passwd(args: argparse.Namespace) -> None:
    password = _password(args)
    assert password is not None
    users.set_password(args.name, password)
    audit.record("user_changed", args.name, detail={"password": "changed"})
    print(f"Changed the password of {args.name}.")


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def cmd_access(args: argparse.Namespace) -> None:
    from journeys.engine.store import Store

    infos = Store(read_only=True).datasets()
    if args.as_user:  # what one person sees on the team server
        who = users.get_user(args.as_user)
        if who is None:
            raise unknown("user", args.as_user, [u.name for u in users.list_users()], error=JourneyError)
        infos = access.visible(who.name, who.role, infos)
    if args.dataset is None:
        rows = [{"id": d.id, "name": d.name, **_access_dict(access.access_of(d.id))} for d in infos]
        lines = [f"{r['id']}  {r['name']:<24} {access.access_of(r['id']).describe()}" for r in rows] or ["No datasets."]
        _emit({"datasets": rows}, args.format, lines)
        return
    info = next((d for d in infos if args.dataset in (d.id, d.name)), None)
    if info is None:
        raise unknown("dataset", args.dataset, [d.name for d in infos], error=JourneyError)
    known = {u.name for u in users.list_users()}
    for name in [*_names(args.share), *([args.owner] if args.owner else [])]:
        if name not in known:
                raise unknown("user", name, known, error=JourneyError)
    everyone = True if args.everyone else (False if args.private else None)
    if args.owner or args.share or args.unshare or everyone is not None:
        now = access.set_access(info.id, owner=args.owner, everyone=everyone, add=_names(args.share),
                                remove=_names(args.unshare))
        audit.record("access_changed", info.id, detail={"name": info.name, **_access_dict(now)})
    else:
        now = access.access_of(info.id)
    _emit({"id": info.id, "name": info.name, **_access_dict(now)}, args.format, [f"{info.name}: {now.describe()}"])


def _access_dict(a: access.Access) -> dict[str, Any]:
    return {"owner": a.owner, "everyone": a.everyone, "users": list(a.users)}


def cmd_audit(args: argparse.Namespace) -> None:
    found = audit.entries(user=args.user, action=args.action, since=args.since, limit=args.limit)
    if args.format == "csv":
        sys.stdout.write(audit.to_csv(found).decode("utf-8"))
        return
    lines = [f"{e.ts}  {e.user:<20} {e.action:<20} {e.target}  {json.dumps(e.detail, sort_keys=True)}"
             for e in found] or ["The audit log has no entries" + (" matching these options." if args.user or args.action
                                                                    or args.since else " yet.")]
    _emit({"entries": [audit.frame([e]).iloc[0].to_dict() | {"detail": e.detail} for e in found]}, args.format, lines)


def _with_pseudonymize(parser: argparse.ArgumentParser | None) -> None:
    """Give a loading command (``ingest``, ``identities``) the ``--pseudonymize`` option around its own
    function, so the loading code stays the sources module's own."""
    if parser is None:
        return
    parser.add_argument("--pseudonymize", action="store_true",
                        help="store keyed hashes (HMAC-SHA256) instead of raw customer ids; the key stays outside "
                             "the store (JOURNEYS_KEY_DIR); JOURNEYS_PSEUDONYMIZE=1 makes it the default")
    inner = parser.get_default("func")

    def run(args: argparse.Namespace) -> None:
        from journeys.privacy import pseudonymize_on, pseudonymizing

        with pseudonymizing(args.pseudonymize or pseudonymize_on()):
            inner(args)

    parser.set_defaults(func=run)


def add_commands(sub: Any) -> None:
    """Register ``users``, ``access`` and ``audit`` on the main parser's subcommands, and ``--pseudonymize``
    on the loading commands registered before them."""
    for name in ("ingest", "identities"):
        _with_pseudonymize(sub.choices.get(name))
    p = sub.add_parser("users", help="the team server's users: add, list, remove, role, passwd")
    us = p.add_subparsers(dest="users_command", required=True)
    q = us.add_parser("add", help="add a user (asks for the password, or reads it with --password-stdin)")
    q.add_argument("name")
    q.add_argument("--role", choices=ROLES, required=True)
    how = q.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from one line of standard input")
    how.add_argument("--no-password", action="store_true", help="signs in only through the identity provider (OIDC)")
    q.set_defaults(func=cmd_users_add)
    q = us.add_parser("list", help="list users and roles")
    q.add_argument("--format", choices=("text", "json"), default="text")
    q.set_defaults(func=cmd_users_list)
    q = us.add_parser("remove", help="remove a user")
    q.add_argument("name")
    q.set_defaults(func=cmd_users_remove)
    q = us.add_parser("role", help="change a user's role")
    q.add_argument("name")
    q.add_argument("role", choices=ROLES)
    q.set_defaults(func=cmd_users_role)
    q = us.add_parser("passwd", help="change a user's password")
    q.add_argument("name")
    q.add_argument("--password-stdin", action="store_true")
    q.set_defaults(func=cmd_users_passwd)

    p = sub.add_parser("access", help="who sees a dataset: owner, named users, everyone signed in")
    p.add_argument("dataset", nargs="?", help="name or id; without it, list every dataset's access")
    p.add_argument("--as", dest="as_user", metavar="USER", help="only the datasets this user sees")
    p.add_argument("--owner")
    p.add_argument("--share", metavar="USER,USER", help="share with these users")
    p.add_argument("--unshare", metavar="USER,USER")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--everyone", action="store_true", help="share with everyone signed in")
    scope.add_argument("--private", action="store_true", help="no longer shared with everyone signed in")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_access)

    p = sub.add_parser("audit", help="the audit log: downloads, pushes, deletions, sign-ins, user changes")
    p.add_argument("--user")
    p.add_argument("--action", help=f"one of {', '.join(audit.ACTIONS)}")
    p.add_argument("--since", metavar="DATE", help="ISO date or time (UTC)")
    p.add_argument("--limit", type=int)
    p.add_argument("--format", choices=("text", "json", "csv"), default="text")
    p.set_defaults(func=cmd_audit)
