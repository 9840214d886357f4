"""The built-in user store for teams without an identity provider: names, roles and argon2 hashes.

Passwords are hashed with argon2id (argon2-cffi's defaults, the library's recommended parameters);
hashes are upgraded on sign-in when those defaults change. A user without a password signs in only
through the identity provider (OIDC) under that name (an e-mail address).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from journeys.auth import ratelimit
from journeys.auth.db import connect
from journeys.auth.roles import Role, check_role
from journeys.errors import JourneyError, unknown

MIN_PASSWORD = 10
_NAME = re.compile(r"^[\w.@+-]{1,64}$")


@functools.cache
def _hasher() -> Any:
    """argon2's hasher, made when a password is first set or checked (not with every page of the dashboard)."""
    from argon2 import PasswordHasher

    return PasswordHasher()


@functools.cache
def _dummy() -> str:
    """Checked when the name is unknown, so a wrong name takes as long as a wrong password."""
    return str(_hasher().hash("journeys-dummy-password"))


class SignInError(JourneyError):
    code = "sign_in_failed"


class TooManyAttempts(SignInError):
    code = "too_many_attempts"

    def __init__(self, wait: int) -> None:
        super().__init__(f"Too many wrong passwords: try again in {wait} s.")
        self.wait = wait


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    created: str
    has_password: bool


def _check_name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise JourneyError(f"'{name[:64]}' cannot be a user name: use 1-64 letters, digits and . _ @ + -.")
    return name


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise JourneyError(f"The password is {len(password)} characters long; use at least {MIN_PASSWORD}.")
    return password


def list_users(*, home: str | Path | None = None) -> list[User]:
    with connect(home) as con:
        rows = con.execute("SELECT name, role, created, hash IS NOT NULL FROM users ORDER BY name").fetchall()
    return [User(n, r, c, bool(h)) for n, r, c, h in rows]


def get_user(name: str, *, home: str | Path | None = None) -> User | None:
    return next((u for u in list_users(home=home) if u.name == name.strip()), None)


def add_user(name: str, role: str, password: str | None = None, *, home: str | Path | None = None) -> User:
    """Add a user; ``password`` None makes an identity-provider-only user."""
    name, role = _check_name(name), check_role(role)
    hashed = _hasher().hash(_check_password(password)) if password is not None else None
    with connect(home) as con:
        if con.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
            raise JourneyError(f"A user named '{name}' already exists.",
                               hint="Change the role with `journeys users role`, the password with `journeys users passwd`.")
        created = datetime.now(UTC).isoformat(timespec="seconds")
        con.execute("INSERT INTO users VALUES (?, ?, ?, ?)", [name, role, hashed, created])
    return User(name, role, created, hashed is not None)


def _existing(con: object, name: str) -> None:
    known = [r[0] for r in con.execute("SELECT name FROM users").fetchall()]  # type: ignore[attr-defined]
    if name not in known:
        raise unknown("user", name, known, error=JourneyError)


def _admins_left(con: object, without: str) -> int:
    row = con.execute("SELECT count(*) FROM users WHERE role = 'admin' AND name <> ?", [without]).fetchone()  # type: ignore[attr-defined]
    return int(row[0])


def remove_user(name: str, *, home: str | Path | None = None) -> None:
    """Remove a user; the last admin cannot be removed (nobody could manage users any more)."""
    name = name.strip()
    with connect(home) as con:
        _existing(con, name)
        role = con.execute("SELECT role FROM users WHERE name = ?", [name]).fetchone()[0]
        if role == "admin" and _admins_left(con, name) == 0:
            raise JourneyError(f"'{name}' is the last admin; add another admin before removing this one.")
        con.execute("DELETE FROM users WHERE name = ?", [name])
        con.execute("DELETE FROM shares WHERE user = ?", [name])


def set_role(name: str, role: str, *, home: str | Path | None = None) -> None:
    name, role = name.strip(), check_role(role)
    with connect(home) as con:
        _existing(con, name)
        if role != "admin" and _admins_left(con, name) == 0 and \
                con.execute("SELECT role FROM users WHERE name = ?", [name]).fetchone()[0] == "admin":
            raise JourneyError(f"'{name}' is the last admin; make another user admin first.")
        con.execute("UPDATE users SET role = ? WHERE name = ?", [role, name])


def set_password(name: str, password: str, *, home: str | Path | None = None) -> None:
    name = name.strip()
    hashed = _hasher().hash(_check_password(password))
    with connect(home) as con:
        _existing(con, name)
        con.execute("UPDATE users SET hash = ? WHERE name = ?", [hashed, name])


def authenticate(name: str, password: str, *, client: str | None = None, home: str | Path | None = None) -> User:
    """The user if the password is right. Wrong name or password: one sentence that does not say which.
    Too many recent failures (for the name or the client address): :class:`TooManyAttempts`."""
    name = name.strip()
    keys = ratelimit.keys(name, client)
    wait = ratelimit.wait_s(keys, home=home)
    if wait:
        raise TooManyAttempts(wait)
    with connect(home) as con:
        row = con.execute("SELECT role, created, hash FROM users WHERE name = ?", [name]).fetchone()
    stored = row[2] if row and row[2] else _dummy()
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        ok = _hasher().verify(stored, password) and row is not None and bool(row[2])
    except (VerificationError, InvalidHashError):
        ok = False
    ratelimit.note(keys, ok, home=home)
    if not ok or row is None:
        raise SignInError("Wrong user name or password.")
    if _hasher().check_needs_rehash(stored):
        set_password(name, password, home=home)
    return User(name, row[0], row[1], True)
