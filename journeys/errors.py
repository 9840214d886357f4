"""Error classes: every error a person can cause is a sentence with a stable code and a hint."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Literal

#: what a person can do about an error, said by each surface in its own words (the CLI names a flag,
#: the dashboard a widget); the core's own message and hint stay surface-neutral
Remedy = Literal["map_columns", "choose_preset", "list_datasets", "free_store"]


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``name`` (case-insensitive), or None when nothing is close."""
    pool = list(choices)
    lowered = {c.lower(): c for c in pool}
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` or an empty string."""
    best = closest(name, choices)
    return f" Did you mean '{best}'?" if best else ""


class JourneyError(Exception):
    """Base class: ``code`` is stable for scripts, ``str(err)`` is one sentence for people.

    ``hint`` is neutral (valid values, the columns of the file); ``remedy`` names the fix, which the
    CLI and the dashboard each phrase for themselves.
    """

    code = "journey_error"

    def __init__(self, message: str, *, hint: str = "", remedy: Remedy | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.remedy = remedy

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class InputError(JourneyError):
    """The file or its content cannot be read as an event log."""

    code = "bad_input"


class MappingError(JourneyError):
    """A column mapping names a column that is not there, or misses a required role."""

    code = "bad_mapping"


class DatasetNotFound(JourneyError):
    code = "dataset_not_found"


class AmbiguousDataset(DatasetNotFound):
    """A name that several datasets share (stores made before names were unique): the id is needed."""

    code = "ambiguous_dataset"


class NameTaken(JourneyError):
    """Another dataset already has the name (names address datasets, so they are unique)."""

    code = "name_taken"


class StoreBusy(JourneyError):
    code = "store_busy"


class QueryError(JourneyError):
    """An analysis spec is invalid: unknown touchpoint, out-of-range depth, empty step list."""

    code = "bad_query"


def unknown(kind: str, name: str, choices: Iterable[str], *, error: type[JourneyError] = QueryError) -> JourneyError:
    """``Unknown touchpoint 'chekout'. Did you mean 'checkout'?``"""
    pool = sorted(set(choices))
    listing = ", ".join(f"'{c}'" for c in pool[:12]) + (f" and {len(pool) - 12} more" if len(pool) > 12 else "")
    return error(f"Unknown {kind} '{name}'.{did_you_mean(name, pool)}", hint=f"Known: {listing}." if pool else "")
