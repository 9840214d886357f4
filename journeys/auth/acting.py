"""Who is acting in this thread: the signed-in person in the dashboard, ``cli:<login>`` in a command."""

from __future__ import annotations

import getpass
from contextvars import ContextVar, Token

_actor: ContextVar[str | None] = ContextVar("journeys_actor", default=None)


def actor() -> str:
    """The name recorded for what happens now."""
    found = _actor.get()
    if found:
        return found
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (some containers)
        return "cli"


def act_as(name: str) -> Token[str | None]:
    """Make ``name`` the actor of this thread's context (the dashboard calls it on every run); the token
    undoes it (:func:`stop_acting`)."""
    return _actor.set(name)


def stop_acting(token: Token[str | None]) -> None:
    _actor.reset(token)
