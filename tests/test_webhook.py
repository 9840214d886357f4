"""Webhook push against a real HTTP server on localhost: pages, signatures, retries, and sync state."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from journeys.audiences import Audiences, members_frame
from journeys.webhook import SIGNATURE_HEADER, PushError, check_url, push


@dataclass
class Hook:
    """A local webhook receiver; ``script`` lists the status of each coming request (then 200)."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    script: list[int | str] = field(default_factory=list)
    attempts: int = 0


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.attempts += 1
            todo = state.script.pop(0) if state.script else 200
            if todo == "sleep":
                time.sleep(0.6)  # longer than the client's timeout
                todo = 200
            if todo == 200:
                state.requests.append(json.loads(body))
                state.headers.append(dict(self.headers))
                state.bodies.append(body)
            self.send_response(int(todo))
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/audience?token=abc"
    yield state
    server.shutdown()
    server.server_close()


FAST = {"backoff": 0.01, "timeout": 0.3}


def _members(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"customer_id": f"C{i:05d}", "score": i / 10_000} for i in range(start, start + n)]


def test_first_push_sends_members_in_pages_of_1000_and_signs_them(hook: Hook) -> None:
    members = _members(2_345)
    result = push(hook.url, "a1", "At risk", members, None, secret="s3cret", **FAST)
    assert [r["action"] for r in hook.requests] == ["members"] * 3
    assert [len(r["parameters"]["members"]) for r in hook.requests] == [1000, 1000, 345]
    assert [r["parameters"]["page_info"] for r in hook.requests] == [
        {"page": 1, "total_pages": 3}, {"page": 2, "total_pages": 3}, {"page": 3, "total_pages": 3}]
    assert {r["parameters"]["audience_id"] for r in hook.requests} == {"a1"}
    assert {r["parameters"]["audience_name"] for r in hook.requests} == {"At risk"}
    sent = [m["customer_id"] for r in hook.requests for m in r["parameters"]["members"]]
    assert sent == [m["customer_id"] for m in members]
    for body, headers in zip(hook.bodies, hook.headers, strict=True):
        expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert headers[SIGNATURE_HEADER] == expected
    assert (result.pages, result.sent, result.retries, result.first_push) == (3, 2_345, 0, True)


def test_no_secret_no_signature_header(hook: Hook) -> None:
    push(hook.url, "a1", "x", _members(3), None, **FAST)
    assert SIGNATURE_HEADER not in hook.headers[0]


def test_later_push_sends_only_the_difference(hook: Hook) -> None:
    previous = {f"C{i:05d}" for i in range(1_500)}
    members = _members(1_200, start=1_000)  # C01000..C02199: 700 new, 1,000 gone
    result = push(hook.url, "a1", "x", members, previous, **FAST)
    actions = [r["action"] for r in hook.requests]
    assert actions == ["add_members", "remove_members"]
    added = [m["customer_id"] for m in hook.requests[0]["parameters"]["members"]]
    removed = [m["customer_id"] for m in hook.requests[1]["parameters"]["members"]]
    assert added == [f"C{i:05d}" for i in range(1_500, 2_200)]
    assert removed == [f"C{i:05d}" for i in range(1_000)]
    assert (result.added, result.removed, result.pages) == (700, 1_000, 2)


def test_unchanged_audience_needs_no_request(hook: Hook) -> None:
    members = _members(5)
    result = push(hook.url, "a1", "x", members, {m["customer_id"] for m in members}, **FAST)
    assert hook.attempts == 0 and result.pages == 0
    assert "Nothing changed" in result.sentence()


def test_server_that_fails_once_is_retried(hook: Hook) -> None:
    hook.script = [503]
    result = push(hook.url, "a1", "x", _members(10), None, **FAST)
    assert hook.attempts == 2 and len(hook.requests) == 1 and result.retries == 1


def test_timeout_is_retried(hook: Hook) -> None:
    hook.script = ["sleep"]
    result = push(hook.url, "a1", "x", _members(10), None, **FAST)
    assert result.retries >= 1 and len(hook.requests) >= 1


def test_client_error_is_not_retried(hook: Hook) -> None:
    hook.script = [400]
    with pytest.raises(PushError, match=r"HTTP 400\. 0 of 1 requests were sent"):
        push(hook.url, "a1", "x", _members(10), None, **FAST)
    assert hook.attempts == 1


def test_server_errors_give_up_after_four_tries_and_count_what_was_sent(hook: Hook) -> None:
    hook.script = [200, 500, 500, 500, 500]
    with pytest.raises(PushError) as err:
        push(hook.url, "a1", "x", _members(2_500), None, **FAST)
    assert hook.attempts == 5
    assert "failed 4 times, last with HTTP 500. 1 of 3 requests were sent" in str(err.value)
    assert "token" not in str(err.value)  # the query string may hold a credential: never shown


def test_unreachable_destination_is_a_sentence() -> None:
    with pytest.raises(PushError, match="no connection"):
        push("http://127.0.0.1:9/x", "a1", "x", _members(1), None, retries=1, backoff=0.0, timeout=0.3)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "example.com/hook", "http://", "http://host:99999/x",
                                 "https://user:pw@example.com/hook"])
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(PushError):
        check_url(url)


def _audience(tmp_path: Path, ids: list[str]) -> Audiences:
    book = Audiences(tmp_path)
    book.save("Angry callers", "ds1", "segment", {"seg": ""}, members_frame(ids, share=0.0))
    return book


def test_audience_push_keeps_sync_state_only_after_success(tmp_path: Path, hook: Hook) -> None:
    book = _audience(tmp_path, [f"C{i:04d}" for i in range(1_200)])
    book.push("Angry callers", hook.url, **FAST)
    assert [r["action"] for r in hook.requests] == ["members", "members"]
    # the list changes; the next push fails half way: the state stays as after the first push
    book.save("Angry callers", "ds1", "segment", {"seg": ""}, members_frame([f"C{i:04d}" for i in range(100, 2_300)], share=0.0))
    hook.requests.clear()
    hook.script = [200, 500, 500, 500, 500]
    with pytest.raises(PushError, match="1 of 3 requests were sent"):
        book.push("Angry callers", hook.url, **FAST)
    hook.requests.clear()
    result = book.push("Angry callers", hook.url, **FAST)  # resends the whole difference
    assert [r["action"] for r in hook.requests] == ["add_members", "add_members", "remove_members"]
    assert (result.added, result.removed) == (1_100, 100)
    a = book.get("Angry callers")
    [dest] = a.destinations.values()
    assert dest.members == 2_200 and "token" not in dest.label and a.last_push


def test_control_members_are_exported_flagged_but_never_pushed(tmp_path: Path, hook: Hook) -> None:
    book = Audiences(tmp_path)
    ids = [f"C{i:04d}" for i in range(2_000)]
    frame = members_frame(ids, share=0.1, seed=3)
    book.save("Offer", "ds1", "segment", {"seg": ""}, frame, share=0.1, seed=3)
    n_control = int(frame.control.sum())
    assert 150 < n_control < 250  # 10% of 2,000, binomial sd 13
    book.push("Offer", hook.url, **FAST)
    pushed = {m["customer_id"] for r in hook.requests for m in r["parameters"]["members"]}
    assert pushed == set(frame.customer_id[~frame.control])
    out = tmp_path / "offer.parquet"
    assert book.export("Offer", "parquet", out) == 2_000
    back = pd.read_parquet(out)
    assert int(back.control.sum()) == n_control


def test_control_flags_are_stable_per_customer() -> None:
    a = members_frame(["A", "B", "C", "D"] * 1, share=0.5, seed=9)
    b = members_frame(["D", "C", "B", "A", "E"], share=0.5, seed=9)
    assert dict(zip(a.customer_id, a.control, strict=True)) == {k: v for k, v in zip(b.customer_id, b.control, strict=True) if k != "E"}


def test_csv_export_is_formula_safe(tmp_path: Path) -> None:
    book = Audiences(tmp_path)
    frame = members_frame(["=HYPERLINK(\"x\")", "C2"], reason=["+1 call", "fine"], share=0.0)
    book.save("Risky", "ds1", "segment", {"seg": ""}, frame)
    out = tmp_path / "risky.csv"
    book.export("Risky", "csv", out)
    text = out.read_text("utf-8")
    assert "'=HYPERLINK" in text and "'+1 call" in text


def test_secret_comes_from_env_or_store_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: Hook) -> None:
    book = _audience(tmp_path, ["C1"])
    monkeypatch.delenv("JOURNEYS_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("JOURNEYS_KEY_DIR", str(tmp_path / "keys"))
    book.remember_secret(hook.url, "kept")
    stored = tmp_path / "audiences" / "secrets.json"
    assert stored.stat().st_mode & 0o077 == 0
    assert "kept" not in stored.read_text("utf-8")  # encrypted with a key outside the store
    book.push("Angry callers", hook.url, **FAST)
    assert hook.headers[0][SIGNATURE_HEADER] == "sha256=" + hmac.new(b"kept", hook.bodies[0], hashlib.sha256).hexdigest()
    monkeypatch.setenv("JOURNEYS_WEBHOOK_SECRET", "env")
    assert book.secret_for(hook.url) == "env"


def test_unknown_audience_suggests_a_name(tmp_path: Path) -> None:
    book = _audience(tmp_path, ["C1"])
    with pytest.raises(Exception, match="Did you mean 'Angry callers'"):
        book.get("Angry caller")
