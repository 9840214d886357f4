"""Audience push to a webhook, modelled on Mixpanel's cohort-sync webhooks.

The first push to a destination sends ``action: "members"`` with every member; later pushes send
``add_members`` and ``remove_members`` with the difference since the last *successful* push. Each request is a
JSON POST of at most ``PAGE_SIZE`` members::

    {"action": "add_members",
     "parameters": {"audience_id": "...", "audience_name": "...", "members": [{"customer_id": "C1", ...}],
                    "page_info": {"page": 1, "total_pages": 3}}}

With a secret, ``X-Journeys-Signature: sha256=<hex HMAC-SHA256 of the body>`` signs each request. Server errors
(5xx) and timeouts are retried with exponential backoff; client errors (4xx) are not. A push that fails part
way raises :class:`PushError` saying how many requests went through; the caller keeps the old sync state, so
the next push resends the whole difference (receivers see repeats, never gaps).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from journeys.errors import JourneyError

PAGE_SIZE = 1_000
RETRIES = 3  # after the first attempt: 4 tries in all
BACKOFF_S = 0.5  # 0.5 s, 1 s, 2 s between tries
TIMEOUT_S = 10.0
SIGNATURE_HEADER = "X-Journeys-Signature"
SECRET_ENV = "JOURNEYS_WEBHOOK_SECRET"
Action = Literal["members", "add_members", "remove_members"]


class PushError(JourneyError):
    """A push that did not complete: unreachable, refused or malformed destination."""

    code = "push_failed"


@dataclass(frozen=True, slots=True)
class PushResult:
    """What one push sent: requests made (``pages``), members in ``members`` / ``add_members`` / ``remove_members``
    requests, and the retries it needed."""

    pages: int
    sent: int
    added: int
    removed: int
    retries: int
    first_push: bool

    def sentence(self) -> str:
        if not self.pages:
            return "Nothing changed since the last push: no request was needed."
        what = (f"{self.sent:,} members" if self.first_push
                else f"{self.added:,} added and {self.removed:,} removed members")
        again = f" ({self.retries} retried request{'s' if self.retries != 1 else ''})" if self.retries else ""
        return f"Pushed {what} in {self.pages:,} request{'s' if self.pages != 1 else ''}{again}."


def check_url(url: str) -> str:
    """The URL if it is an absolute http(s) URL without credentials in it; otherwise a sentence."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a malformed port
    except ValueError as err:
        raise PushError(f"The webhook URL is malformed ({err}).", hint="Use e.g. https://example.com/hooks/audiences.") from err
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PushError("The webhook URL must start with http:// or https:// and name a host.",
                        hint="Use e.g. https://example.com/hooks/audiences.")
    if parts.username or parts.password:
        raise PushError("The webhook URL carries a user name or password; pass the secret with --secret or "
                        f"the {SECRET_ENV} environment variable instead.")
    del port
    return url


def destination_label(url: str) -> str:
    """The URL as it may be shown and stored: scheme, host and path (a query string may hold a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def destination_key(url: str) -> str:
    """A stable key for a destination's sync state that does not reveal the URL's query string."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def sign(body: bytes, secret: str) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of the request body with the shared secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def pages(members: Sequence[dict[str, Any]], size: int = PAGE_SIZE) -> list[Sequence[dict[str, Any]]]:
    return [members[i:i + size] for i in range(0, len(members), size)]


@dataclass
class _Sender:
    url: str
    secret: str | None
    timeout: float
    retries: int
    backoff: float
    sleep: Callable[[float], None]
    done: int = 0
    retried: int = 0

    def post(self, payload: dict[str, Any], total: int) -> None:
        body = json.dumps(payload, separators=(",", ":"), default=str).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "journeys-audience-push"}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
                self.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    resp.read()
                self.done += 1
                return
            except urllib.error.HTTPError as err:
                if err.code < 500:
                    raise self._fail(f"the destination refused it with HTTP {err.code}", total, retried=False) from None
                problem = f"HTTP {err.code}"
            except TimeoutError:
                problem = "a timeout"
            except urllib.error.URLError as err:
                reason = err.reason
                problem = "a timeout" if isinstance(reason, TimeoutError) else f"no connection ({reason})"
            except (ConnectionError, OSError) as err:
                problem = f"no connection ({err})"
        raise self._fail(f"it failed {self.retries + 1} times, last with {problem}", total, retried=True)

    def _fail(self, why: str, total: int, *, retried: bool) -> PushError:
        del retried
        return PushError(f"The push to {destination_label(self.url)} stopped: {why}. {self.done:,} of {total:,} "
                         "requests were sent; the sync state is unchanged, so the next push resends them.")


def push(url: str, audience_id: str, audience_name: str, members: Sequence[dict[str, Any]],
         previous: set[str] | None, *, secret: str | None = None, key: str = "customer_id",
         page_size: int = PAGE_SIZE, timeout: float = TIMEOUT_S, retries: int = RETRIES, backoff: float = BACKOFF_S,
         sleep: Callable[[float], None] = time.sleep) -> PushResult:
    """Send ``members`` (dicts with ``key``) to ``url``. ``previous``: the ids of the last successful push to
    this destination, or None for a first push. Raises :class:`PushError` when any request fails for good;
    the caller then keeps its old sync state."""
    check_url(url)
    if page_size < 1:
        raise PushError("A push page holds at least one member.")
    sender = _Sender(url, secret, timeout, retries, backoff, sleep)
    batches: list[tuple[Action, Sequence[dict[str, Any]]]]
    if previous is None:
        batches = [("members", p) for p in pages(members, page_size)] or [("members", [])]
        added, removed = len(members), 0
    else:
        current = {str(m[key]) for m in members}
        add = [m for m in members if str(m[key]) not in previous]
        gone = [{key: k} for k in sorted(previous - current)]
        batches = [("add_members", p) for p in pages(add, page_size)]
        batches += [("remove_members", p) for p in pages(gone, page_size)]
        added, removed = len(add), len(gone)
    counts: dict[str, int] = {}
    for action, _ in batches:
        counts[action] = counts.get(action, 0) + 1
    seen: dict[str, int] = {}
    for action, page in batches:
        seen[action] = seen.get(action, 0) + 1
        payload = {"action": action, "parameters": {
            "audience_id": audience_id, "audience_name": audience_name, "members": list(page),
            "page_info": {"page": seen[action], "total_pages": counts[action]}}}
        sender.post(payload, len(batches))
    return PushResult(pages=len(batches), sent=len(members) if previous is None else 0, added=added if previous is not None else 0,
                      removed=removed, retries=sender.retried, first_push=previous is None)
