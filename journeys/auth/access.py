"""Who sees which dataset: each dataset has an owner and is shared with named users or with everyone
signed in. Admins see every dataset. A dataset nobody owns yet (loaded from the command line or before
the team server) is seen by admins only, until an admin gives it an owner or shares it.

Everything that lists datasets filters through :func:`visible`; a dataset one cannot see is answered
with the same sentence whether or not it exists (:data:`NO_ACCESS`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from journeys.auth.db import connect

NO_ACCESS = "You do not have access to this dataset."
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Access:
    dataset: str
    owner: str | None
    everyone: bool
    users: tuple[str, ...]

    def describe(self) -> str:
        shared = ["everyone signed in"] if self.everyone else list(self.users)
        if not self.owner and not shared:
            return "no owner; admins only"
        return f"owner {self.owner or '(none)'}; shared with {', '.join(shared) if shared else 'nobody else'}"


def access_of(dataset: str, *, home: str | Path | None = None) -> Access:
    with connect(home) as con:
        row = con.execute("SELECT owner, everyone FROM access WHERE dataset = ?", [dataset]).fetchone()
        users = tuple(r[0] for r in con.execute("SELECT user FROM shares WHERE dataset = ? ORDER BY user", [dataset]))
    return Access(dataset, row[0] if row else None, bool(row[1]) if row else False, users)


def set_access(dataset: str, *, owner: str | None = None, everyone: bool | None = None,
               add: Iterable[str] = (), remove: Iterable[str] = (), home: str | Path | None = None) -> Access:
    """Change a dataset's owner, its everyone-signed-in flag, or its named users (only what is given)."""
    with connect(home) as con:
        con.execute("INSERT OR IGNORE INTO access (dataset, owner, everyone) VALUES (?, NULL, 0)", [dataset])
        if owner is not None:
            con.execute("UPDATE access SET owner = ? WHERE dataset = ?", [owner, dataset])
        if everyone is not None:
            con.execute("UPDATE access SET everyone = ? WHERE dataset = ?", [int(everyone), dataset])
        con.executemany("INSERT OR IGNORE INTO shares VALUES (?, ?)", [(dataset, u) for u in add])
        con.executemany("DELETE FROM shares WHERE dataset = ? AND user = ?", [(dataset, u) for u in remove])
    return access_of(dataset, home=home)


def forget(dataset: str, *, home: str | Path | None = None) -> None:
    """Drop a deleted dataset's access rows."""
    with connect(home) as con:
        con.execute("DELETE FROM access WHERE dataset = ?", [dataset])
        con.execute("DELETE FROM shares WHERE dataset = ?", [dataset])


def visible_ids(user: str, role: str, ids: Sequence[str], *, home: str | Path | None = None) -> set[str]:
    """The ids among ``ids`` that ``user`` may see."""
    if role == "admin":
        return set(ids)
    with connect(home) as con:
        owned = {r[0] for r in con.execute("SELECT dataset FROM access WHERE owner = ? OR everyone = 1", [user])}
        shared = {r[0] for r in con.execute("SELECT dataset FROM shares WHERE user = ?", [user])}
    return set(ids) & (owned | shared)


def can_see(user: str, role: str, dataset: str, *, home: str | Path | None = None) -> bool:
    return dataset in visible_ids(user, role, [dataset], home=home)


def can_manage(user: str, role: str, dataset: str, *, home: str | Path | None = None) -> bool:
    """Owner or admin: may share, rename or delete the dataset."""
    return role == "admin" or access_of(dataset, home=home).owner == user


def visible(user: str, role: str, items: Sequence[T], *, home: str | Path | None = None) -> list[T]:
    """``items`` (anything with an ``id``, such as DatasetInfo) that ``user`` may see, in order."""
    ids = visible_ids(user, role, [getattr(i, "id") for i in items], home=home)  # noqa: B009
    return [i for i in items if getattr(i, "id") in ids]  # noqa: B009
