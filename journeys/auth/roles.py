"""Roles and what each may do. A role is a set of rights; pages and commands ask :func:`can`.

- *viewer*: opens shared links and explores; no customer-list downloads, no audience pushes;
- *analyst*: also uploads data, builds and pushes audiences, downloads customer lists;
- *admin*: also manages users, deletes any dataset, configures webhooks and connections.
"""

from __future__ import annotations

from typing import Literal

from journeys.errors import JourneyError, unknown

Role = Literal["viewer", "analyst", "admin"]
Right = Literal["explore", "upload", "download_customers", "build_audience", "push_audience",
                "delete_any", "manage_users", "configure"]
ROLES: tuple[Role, ...] = ("viewer", "analyst", "admin")
RIGHTS: dict[Role, frozenset[Right]] = {
    "viewer": frozenset({"explore"}),
    "analyst": frozenset({"explore", "upload", "download_customers", "build_audience", "push_audience"}),
    "admin": frozenset({"explore", "upload", "download_customers", "build_audience", "push_audience",
                        "delete_any", "manage_users", "configure"}),
}


class AccessDenied(JourneyError):
    """The signed-in person's role or the dataset's access list does not allow this."""

    code = "access_denied"


def check_role(role: str) -> Role:
    """``role`` if it is one of viewer, analyst, admin; else a sentence with the closest match."""
    if role not in ROLES:
        raise unknown("role", role, ROLES, error=JourneyError)
    return role


def can(role: str, right: Right) -> bool:
    """Whether ``role`` has ``right`` (an unknown role has none)."""
    return any(r == role and right in rights for r, rights in RIGHTS.items())


def require(role: str, right: Right, what: str) -> None:
    """Raise :class:`AccessDenied` saying which roles may do ``what`` when ``role`` may not."""
    if not can(role, right):
        allowed = " or ".join(r for r in ROLES if can(r, right))
        raise AccessDenied(f"Your role ({role}) cannot {what}; an {allowed} can.")
