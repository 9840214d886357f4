"""Next best action by hand: P(goal) now and after each action, uplift, support floor, intervals, control group,
the measurement against control, the CLI contract and the audience round trip to a local webhook."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from journeys.analyses.nba import NBA_COLUMNS, NBAQuery, compute_nba, measure
from journeys.audiences import members_frame
from journeys.errors import QueryError
from journeys.outcomes import Outcomes
from journeys.stats import newcombe_diff
from tests.conftest import BASE, frame

DAY = 24 * 60


def _rows(groups: list[tuple[int, list[str]]], *, at: float = 0, prefix: str = "h") -> list[tuple[str, float, str]]:
    rows, n = [], 0
    for count, path in groups:
        for _ in range(count):
            rows += [(f"{prefix}{n:04d}", at + k, tp) for k, tp in enumerate(path)]
            n += 1
    return rows


def shop(open_at_x: int = 10, z_takers: int = 30) -> pd.DataFrame:
    """History 60 days before the end: 40 x>y>goal, 40 x>y, ``z_takers`` x>z>goal; then ``open_at_x`` customers whose
    journey so far is just x (on the last day)."""
    rows = _rows([(40, ["x", "y", "goal"]), (40, ["x", "y"]), (z_takers, ["x", "z", "goal"])])
    rows += _rows([(open_at_x, ["x"])], at=60 * DAY, prefix="open")
    return frame(rows)


Q = NBAQuery(actions=("y", "z"), outcomes=Outcomes(goals=("goal",)), order=1)


def test_uplift_by_hand(duck):
    r = compute_nba(duck.table(shop()), Q)
    opt = r.options.set_index(["state", "action"])
    p_x = (40 + 30) / (80 + 30 + 10)  # from x: y 80 (then goal half the time), z 30 (always), end 10
    assert opt.loc[("x", "z"), "p_now"] == pytest.approx(p_x)
    assert opt.loc[("x", "z"), "p_after"] == pytest.approx(1.0)
    assert opt.loc[("x", "y"), "p_after"] == pytest.approx(0.5)
    assert opt.loc[("x", "z"), "uplift"] == pytest.approx(1 - p_x)
    assert (opt.loc[("x", "z"), "support"], opt.loc[("x", "y"), "support"]) == (30, 80)
    lo, hi = opt.loc[("x", "z"), ["ci_low", "ci_high"]]
    assert lo < 1 - p_x < hi and hi - lo < 0.3
    c = r.customers
    assert list(c.columns) == NBA_COLUMNS and len(c) == 10  # the ten open journeys; history is older than 30 days
    assert set(c.action) == {"z"} and set(c.state) == {"x"}  # y lowers the chance: never recommended


def test_under_30_customers_is_no_recommendation(duck):
    r = compute_nba(duck.table(shop(z_takers=29)), Q)
    assert not r.options.set_index(["state", "action"]).loc[("x", "z"), "recommendable"]
    assert set(r.customers.action) == {""} and r.recommended == 0
    assert set(r.customers.support) == {80}  # the best support found is still reported


def test_control_group_is_seeded_and_near_ten_percent(duck):
    r = compute_nba(duck.table(shop(open_at_x=2000)), Q)
    share = r.customers.control.mean()
    assert 0.08 < share < 0.12
    again = compute_nba(duck.table(shop(open_at_x=2000)), Q)
    assert again.customers.control.tolist() == r.customers.control.tolist()
    other = compute_nba(duck.table(shop(open_at_x=2000)), replace(Q, seed=2))
    assert other.customers.control.tolist() != r.customers.control.tolist()


def test_unknown_action_is_a_did_you_mean(duck):
    with pytest.raises(QueryError, match="Did you mean 'z'"):
        compute_nba(duck.table(shop()), NBAQuery(actions=("zz",), outcomes=Outcomes(goals=("goal",))))
    with pytest.raises(QueryError, match="needs a goal"):
        compute_nba(duck.table(shop()), NBAQuery(actions=("z",)))


def test_measure_actioned_against_control(duck):
    rows = [(f"c{i}", 0, "x") for i in range(20)] + [(f"c{i}", 2 * DAY, "goal") for i in (0, 1, 2, 3, 10, 11)]
    rows += [("c19", -DAY, "goal")]  # before the export: does not count
    members = members_frame([f"c{i}" for i in range(20)], share=0.0)
    members["control"] = [i >= 10 for i in range(20)]
    m = measure(duck.table(frame(rows)), members, ("goal",), BASE + timedelta(days=1))
    assert (m.actioned, m.actioned_converted, m.control, m.control_converted) == (10, 4, 10, 2)
    assert (m.difference, m.low, m.high) == pytest.approx(newcombe_diff(4, 10, 2, 10))
    assert m.sentence().startswith("Since 2025-03-02, 40.0% of 10 actioned customers did goal against 20.0% of 10")
    assert m.data_end == BASE + timedelta(days=2) and m.stale() == ""
    late = measure(duck.table(frame(rows)), members, ("goal",), datetime(2026, 11, 25))  # saved after the data ends
    assert late.stale() == ("The data ends on 2025-03-03, before 2026-11-25, so nobody can have converted since "
                            "then yet: load newer events or measure from an earlier date.")
    early = measure(duck.table(frame(rows)), members, ("goal",), BASE, handed_over=BASE + timedelta(days=1, hours=5))
    assert early.early() == ("The list was handed over on 2025-03-02; before that nobody had acted on it, so a "
                             "difference since 2025-03-01 is how the two groups differed anyway, not the action's effect.")
    same_day = measure(duck.table(frame(rows)), members, ("goal",), BASE + timedelta(days=1),
                       handed_over=BASE + timedelta(days=1, hours=5))
    assert same_day.early() == "" and m.early() == ""


# ---- the command line and the audience round trip -------------------------------------------------------

@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


def test_cli_nba_audience_export_push_and_measure(tmp_path: Path, duck, hook):
    src = tmp_path / "shop.csv"
    df = shop(open_at_x=300)
    df["timestamp"] = pd.to_datetime(df.pop("ts")).dt.strftime("%Y-%m-%dT%H:%M:%S")
    df[["customer_id", "timestamp", "touchpoint"]].to_csv(src, index=False)
    env = {**os.environ, "JOURNEYS_HOME": str(tmp_path / "home")}
    env.pop("JOURNEYS_WEBHOOK_SECRET", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "journeys", *args], capture_output=True, text=True, env=env,
                              check=False)

    assert cli("ingest", str(src), "--name", "shop").returncode == 0
    out = cli("nba", "shop", "--goal", "goal", "--actions", "y,z", "--order", "1", "--format", "csv")
    assert out.returncode == 0, out.stderr
    csv = pd.read_csv(io.StringIO(out.stdout))
    expected = compute_nba(duck.table(shop(open_at_x=300)), Q).customers
    assert list(csv.columns) == NBA_COLUMNS
    assert csv.sort_values("customer_id").control.tolist() == expected.sort_values("customer_id").control.tolist()
    assert csv.uplift.to_numpy() == pytest.approx(expected.uplift.to_numpy())
    saved = json.loads(cli("audience", "save", "Z push", "shop", "--from-nba", "--goal", "goal", "--actions", "y,z",
                           "--order", "1").stdout)
    assert saved["members"] == 300 and saved["control"] == int(expected.control.sum())
    assert cli("audience", "export", "Z push", "--format", "csv", "--out", str(tmp_path / "z.csv")).returncode == 0
    exported = pd.read_csv(tmp_path / "z.csv")
    assert list(exported.columns) == ["customer_id", "score", "reason", "action", "control"]
    assert set(exported.action) == {"z"} and exported.reason.str.startswith("after x: z +").all()
    url, got = hook
    pushed = cli("audience", "push", "Z push", "--url", url, "--secret", "hush")
    assert pushed.returncode == 0 and "hush" not in pushed.stdout + pushed.stderr
    assert pushed.stdout.startswith(f"Pushed {300 - saved['control']} members in 1 request")
    assert got[0]["action"] == "members" and got[0]["parameters"]["audience_name"] == "Z push"
    assert not any(m["customer_id"] in set(exported.customer_id[exported.control]) for m in got[0]["parameters"]["members"])
    assert cli("audience", "push", "Z push", "--url", url).stdout.startswith("Nothing changed")
    listing = json.loads(cli("audience", "list", "--format", "json").stdout)["audiences"][0]
    assert listing["members"] == 300 and listing["last_push"] and listing["destinations"] == [url]
    since = (datetime(2025, 3, 1) + timedelta(days=59)).date().isoformat()
    measured = json.loads(cli("measure", "Z push", "--goal", "goal", "--since", since, "--format", "json").stdout)
    assert (measured["actioned_converted"], measured["control_converted"]) == (0, 0)
    # measured from before the push: said to be a pre-period difference, not the action's effect
    assert measured["note"].startswith("The list was handed over on ") and measured["data_end"]
    default = cli("measure", "Z push", "--goal", "goal")  # from the push: today, after the data
    assert default.returncode == 0 and default.stdout.splitlines() == [default.stdout.splitlines()[0]]
    assert default.stdout.startswith("The data ends on ")  # and no "+0.0 pp" beside it
    stale = json.loads(cli("measure", "Z push", "--goal", "goal", "--format", "json").stdout)
    assert stale["difference"] is None and stale["sentence"] == stale["note"] != ""
    bad_since = cli("measure", "Z push", "--goal", "goal", "--since", "2025-13-01")
    assert bad_since.returncode == 2 and "--since expects a date" in bad_since.stderr and "Traceback" not in bad_since.stderr
    reversed_band = cli("audience", "save", "Backwards", "shop", "--churn", "--score-band", "0.9:0.2")
    assert reversed_band.returncode == 2 and "0 <= LOW <= HIGH <= 1" in reversed_band.stderr
    bad = cli("audience", "push", "Z push", "--url", "ftp://nowhere")
    assert bad.returncode == 2 and "must start with http:// or https://" in bad.stderr
    refreshed = json.loads(cli("audience", "refresh", "Z push").stdout)
    assert refreshed["members"] == 300
    gone = cli("nba", "shop", "--goal", "goal", "--actions", "zz")
    assert gone.returncode == 2 and "Did you mean 'z'" in gone.stderr


def test_the_uplift_chart_keeps_the_action_of_a_long_state():
    from journeys.charts_predict import uplift_figure

    options = pd.DataFrame({"state": ["home > search > product_view > product_view > product_view", "home"], "action": ["store_visit", "chat"],
                            "uplift": [0.2, 0.1], "ci_low": [0.1, 0.05], "ci_high": [0.3, 0.15], "support": [40, 50],
                            "recommendable": [True, True]})
    labels = list(uplift_figure(options).data[0].y)
    # the oldest touchpoints give way (and ">" is escaped: a name is never markup in Plotly)
    assert labels == ["home → chat", "…t_view &gt; product_view &gt; product_view → store_visit"]
