"""Audiences: named member lists with their definition, kept beside the store, exported and pushed.

An audience is a definition (what to recompute: a segment, a score band or a next-best-action list, as
plain JSON) plus its members (``MEMBER_COLUMNS``) and, per push destination, the ids of the last successful
push. Everything lives in ``$JOURNEYS_HOME/audiences/<id>/`` as small JSON and Parquet files, written
atomically (a new file replaces the old in one rename), so a failed refresh or push leaves the previous state.

Every audience carries a seeded random control group (10% by default), flagged per member: the flag is a
hash of the seed and the customer id, so a customer stays in or out of the control group across refreshes.
Control members are exported (flagged) but never pushed: the tools that act must not reach them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from journeys.errors import JourneyError, QueryError, unknown
from journeys.export import safe_csv
from journeys.webhook import SECRET_ENV, PushResult, check_url, destination_key, destination_label, push

Kind = Literal["segment", "score_band", "nba"]
MEMBER_COLUMNS = ["customer_id", "score", "reason", "action", "control"]
CONTROL_SHARE = 0.10
CONTROL_SEED = 1
SECRETS_FILE = "secrets.json"
_NAME = re.compile(r"^[\w .\-]{1,80}$")


class AudienceError(JourneyError):
    code = "bad_audience"


def control_flags(ids: pd.Series | list[str], *, share: float = CONTROL_SHARE, seed: int = CONTROL_SEED) -> np.ndarray:
    """True for the members in the control group: a uniform number from SHA-256 of ``seed:id`` below ``share``.
    Stable per customer across runs and refreshes, independent of the list's order and size."""
    if not 0 <= share < 1:
        raise QueryError(f"The control group share must be at least 0 and below 1, not {share}.")
    values = [int.from_bytes(hashlib.sha256(f"{seed}:{i}".encode()).digest()[:8], "big") / 2**64 for i in ids]
    return np.asarray(values, dtype="float64") < share if values else np.zeros(0, dtype=bool)


def empty_members() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": pd.Series([], dtype="str"), "score": pd.Series([], dtype="float64"),
                         "reason": pd.Series([], dtype="str"), "action": pd.Series([], dtype="str"),
                         "control": pd.Series([], dtype="bool")})


def members_frame(ids: Any, *, score: Any = None, reason: Any = None, action: Any = None,
                  share: float = CONTROL_SHARE, seed: int = CONTROL_SEED) -> pd.DataFrame:
    """Members in ``MEMBER_COLUMNS`` order, sorted by id, with the control flag drawn from the seed."""
    ids = pd.Series(list(ids), dtype="str")
    n = len(ids)
    # by position, never by index: a band cut out of a sorted frame keeps its old row labels, and pandas would
    # line a score up with another customer's id
    frame = pd.DataFrame({
        "customer_id": ids,
        "score": pd.Series(list(score) if score is not None else [np.nan] * n, dtype="float64"),
        "reason": pd.Series(list(reason) if reason is not None else [""] * n, dtype="str"),
        "action": pd.Series(list(action) if action is not None else [""] * n, dtype="str"),
    })
    frame["control"] = control_flags(frame["customer_id"], share=share, seed=seed)
    return frame.sort_values("customer_id").reset_index(drop=True) if n else empty_members()


@dataclass(frozen=True, slots=True)
class Destination:
    """The sync state of one push destination: its shown label (no query string), when and how many were pushed."""

    label: str
    pushed_at: str
    members: int


@dataclass(frozen=True, slots=True)
class Audience:
    id: str
    name: str
    dataset: str
    kind: Kind
    definition: dict[str, Any]
    control_share: float = CONTROL_SHARE
    seed: int = CONTROL_SEED
    created: str = ""
    refreshed: str = ""
    size: int = 0
    control: int = 0
    destinations: dict[str, Destination] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Audience:
        data = json.loads(text)
        data["destinations"] = {k: Destination(**v) for k, v in data.get("destinations", {}).items()}
        return cls(**data)

    @property
    def last_push(self) -> str:
        return max((d.pushed_at for d in self.destinations.values()), default="")

    @property
    def handed_over(self) -> str:
        """When the list left for the tools that act (its last push, else its last refresh): where measuring
        its effect starts by default."""
        return self.last_push or self.refreshed


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


#: how each kind of audience is recomputed: (store, dataset, definition, share, seed) -> members
Builder = Callable[[Any, str, dict[str, Any], float, int], pd.DataFrame]


def segment_members(store: Any, dataset: str, definition: dict[str, Any], share: float, seed: int) -> pd.DataFrame:
    """The customers of a segment (``definition["seg"]``: the segment as in the URL) in the dataset."""
    from journeys.analyses.base import to_frame
    from journeys.segments import Segment, matching_customers

    segment = Segment.from_param(definition["seg"]) if definition.get("seg") else Segment()
    events = store.table(dataset)
    ids = (to_frame(matching_customers(events, segment, goal=definition.get("goal")).select("customer_id"))
           if not segment.is_empty else to_frame(events.select("customer_id").distinct()))
    return members_frame(ids["customer_id"].astype(str), share=share, seed=seed)


def _builders() -> dict[str, Builder]:
    from journeys.analyses.nba import nba_members
    from journeys.analyses.predict import score_band_members

    return {"segment": segment_members, "score_band": score_band_members, "nba": nba_members}


class Audiences:
    """The audiences of one store home (``$JOURNEYS_HOME`` by default)."""

    def __init__(self, home: str | Path | None = None) -> None:
        from journeys.engine.store import default_home

        self.root = Path(home if home is not None else default_home()) / "audiences"
        self.root.mkdir(parents=True, exist_ok=True)

    # ---- listing and lookup -----------------------------------------------------------------------
    def list(self) -> list[Audience]:
        out = [Audience.from_json(p.read_text("utf-8")) for p in sorted(self.root.glob("*/audience.json"))]
        return sorted(out, key=lambda a: a.name.lower())

    def get(self, name: str) -> Audience:
        every = self.list()
        for a in every:
            if a.name == name or a.id == name:
                return a
        raise unknown("audience", name, [a.name for a in every], error=AudienceError)

    def members(self, audience: Audience | str) -> pd.DataFrame:
        a = self.get(audience) if isinstance(audience, str) else audience
        path = self.root / a.id / "members.parquet"
        return pd.read_parquet(path) if path.exists() else empty_members()

    # ---- saving and refreshing --------------------------------------------------------------------
    def save(self, name: str, dataset: str, kind: Kind, definition: dict[str, Any], members: pd.DataFrame, *,
             share: float = CONTROL_SHARE, seed: int = CONTROL_SEED, replace_existing: bool = True) -> Audience:
        """Store ``members`` under ``name`` (an existing audience of that name is redefined, keeping its id
        and push state, unless ``replace_existing`` is false: then it is an error)."""
        name, old = self.check_name(name, replace_existing=replace_existing)
        now = _now()
        base = old or Audience(id=uuid.uuid4().hex[:12], name=name, dataset=dataset, kind=kind, definition=definition,
                               created=now)
        a = replace(base, dataset=dataset, kind=kind, definition=definition, control_share=share, seed=seed,
                    refreshed=now, size=len(members), control=int(members["control"].sum()) if len(members) else 0)
        folder = self.root / a.id
        folder.mkdir(exist_ok=True)
        _write_parquet(folder / "members.parquet", members[MEMBER_COLUMNS])
        _write(folder / "audience.json", a.to_json().encode("utf-8"))
        return a

    def check_name(self, name: str, *, replace_existing: bool = False) -> tuple[str, Audience | None]:
        """The cleaned ``name`` and the audience it names now, if any; a sentence if it cannot name one, or if it
        names one and ``replace_existing`` is false. Call it before computing members, to fail fast."""
        name = name.strip()
        if not _NAME.match(name):
            raise AudienceError(f"'{name[:40]}' cannot name an audience." if name else "Give the audience a name.",
                                hint="Use 1 to 80 letters, digits, spaces, dots, dashes or underscores.")
        old = next((a for a in self.list() if a.name == name), None)
        if old is not None and not replace_existing:
            raise AudienceError(f"An audience named '{name}' exists already ({old.size:,} members, "
                                f"{old.kind.replace('_', ' ')}, refreshed {old.refreshed[:10]}).",
                                hint="Pick another name, or replace it (dashboard: tick 'Replace an audience of "
                                     "this name'; CLI: --replace).")
        return name, old

    def refresh(self, name: str, store: Any, *, builders: dict[str, Builder] | None = None) -> Audience:
        """Recompute the members from the stored definition (for cron: ``journeys audience refresh NAME``)."""
        a = self.get(name)
        build = (builders or _builders()).get(a.kind)
        if build is None:
            raise AudienceError(f"Audience '{a.name}' has an unknown kind '{a.kind}'.")
        members = build(store, a.dataset, a.definition, a.control_share, a.seed)
        return self.save(a.name, a.dataset, a.kind, a.definition, members, share=a.control_share, seed=a.seed)

    def delete(self, name: str) -> None:
        a = self.get(name)
        folder = self.root / a.id
        for p in folder.rglob("*"):
            if p.is_file():
                p.unlink()
        for p in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
            p.rmdir()
        folder.rmdir()

    # ---- export and push --------------------------------------------------------------------------
    def export(self, name: str, fmt: Literal["csv", "parquet"], out: str | Path) -> int:
        """Write every member (control rows flagged) to ``out``; CSV text cells are formula-safe. Returns rows."""
        frame = self.members(name)
        out = Path(out)
        if fmt == "csv":
            _write(out, safe_csv(frame, limit=max(1, len(frame))))
        elif fmt == "parquet":
            _write_parquet(out, frame)
        else:
            raise AudienceError(f"Unknown export format '{fmt}'.", hint="Use csv or parquet.")
        return len(frame)

    def push(self, name: str, url: str, *, secret: str | None = None, **options: Any) -> PushResult:
        """Push the non-control members to ``url`` (first all, then differences). The sync state is written
        only after every request succeeded."""
        check_url(url)
        a = self.get(name)
        frame = self.members(a)
        treated = frame[~frame["control"].astype(bool)]
        members = [{"customer_id": str(r.customer_id),
                    **({"score": round(float(r.score), 6)} if pd.notna(r.score) else {}),
                    **({"reason": str(r.reason)} if r.reason else {}),
                    **({"action": str(r.action)} if r.action else {})}
                   for r in treated.itertuples(index=False)]
        key = destination_key(url)
        state_file = self.root / a.id / f"sync_{key}.parquet"
        previous = set(pd.read_parquet(state_file)["customer_id"].astype(str)) if state_file.exists() else None
        result = push(url, a.id, a.name, members, previous, secret=secret or self.secret_for(url), **options)
        _write_parquet(state_file, pd.DataFrame({"customer_id": pd.Series([m["customer_id"] for m in members], dtype="str")}))
        current = self.get(a.id)  # re-read: a refresh may have happened meanwhile
        dest = Destination(label=destination_label(url), pushed_at=_now(), members=len(members))
        _write(self.root / a.id / "audience.json",
               replace(current, destinations={**current.destinations, key: dest}).to_json().encode("utf-8"))
        return result

    # ---- secrets: from the environment or the store, never from links or logs ---------------------------
    def secret_for(self, url: str) -> str | None:
        """The secret for ``url``: ``$JOURNEYS_WEBHOOK_SECRET``, else one remembered in the store's home."""
        env = os.environ.get(SECRET_ENV)
        if env:
            return env
        path = self.root / SECRETS_FILE
        if not path.exists():
            return None
        stored = json.loads(path.read_text("utf-8")).get(destination_key(url))
        if not stored:
            return None
        from journeys.auth import vault

        return vault.decrypt(str(stored))

    def remember_secret(self, url: str, secret: str) -> None:
        """Keep ``secret`` for ``url`` encrypted (with the secrets key outside the store, see
        :mod:`journeys.auth.vault`) in a file only its owner can read; a ``${VAR}`` reference is kept as is."""
        from journeys.auth import vault

        path = self.root / SECRETS_FILE
        data = json.loads(path.read_text("utf-8")) if path.exists() else {}
        data[destination_key(url)] = secret if vault._ENV_REF.match(secret) else vault.encrypt(secret)
        tmp = path.with_name(f".{SECRETS_FILE}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
