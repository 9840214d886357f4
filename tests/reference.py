"""Plain-Python reference implementations of shaping, segments and every analysis.

Written independently of the engine code (no Ibis, no SQL): loops over small event lists. Tests compare
the engine's results with these exactly.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Event = dict[str, Any]  # customer_id, ts (datetime), seq, touchpoint, channel, session_id, value, ...


def order(events: list[Event]) -> list[Event]:
    return sorted(events, key=lambda e: (e["customer_id"], e["ts"], e["seq"]))


def shape(events: list[Event], *, scope: str = "person", gap_s: int = 1800, collapse: bool = False,
          rules: tuple = (), exclude: tuple = (), node: str = "touchpoint", goal: str | None = None,
          cut: bool = False, session_by: str = "gap") -> dict[str, list[Event]]:
    """journey id -> ordered events (copies with the shaped touchpoint)."""
    out: dict[str, list[Event]] = defaultdict(list)
    per_customer: dict[str, list[Event]] = defaultdict(list)
    for e in order(events):
        tp = e["touchpoint"]
        if any(re.search(p, tp) for p in exclude):
            continue
        for pattern, alias in rules:
            if re.search(pattern, tp):
                tp = alias
                break
        if node == "touchpoint_channel":
            tp = f"{tp} · {e.get('channel') or '(none)'}"
        elif node == "channel":
            tp = e.get("channel") or "(none)"
        per_customer[e["customer_id"]].append({**e, "touchpoint": tp})
    for cust, evs in per_customer.items():
        session, last = 0, None
        for e in evs:
            if scope == "person":
                jid = cust
            elif session_by == "column":
                jid = f"{cust}#{e.get('session_id') or '(none)'}"
            else:
                if last is None or int(e["ts"].timestamp()) - int(last.timestamp()) > gap_s:
                    session += 1
                last = e["ts"]
                jid = f"{cust}#{session}"
            out[jid].append(e)
    if collapse:
        out = {j: [e for i, e in enumerate(evs) if i == 0 or evs[i - 1]["touchpoint"] != e["touchpoint"]]
               for j, evs in out.items()}
    if cut and goal:
        cutted = {}
        for j, evs in out.items():
            idx = next((i for i, e in enumerate(evs) if e["touchpoint"] == goal), None)
            cutted[j] = evs if idx is None else evs[: idx + 1]
        out = cutted
    return dict(out)


def transitions(journeys: dict[str, list[Event]], goal: str | None = None) -> dict[tuple[str, str], int]:
    counts: Counter[tuple[str, str]] = Counter()
    for evs in journeys.values():
        counts[("START", evs[0]["touchpoint"])] += 1
        for a, b in zip(evs, evs[1:], strict=False):
            counts[(a["touchpoint"], b["touchpoint"])] += 1
        if goal:
            end = "END (converted)" if any(e["touchpoint"] == goal for e in evs) else "END (not converted)"
        else:
            end = "END"
        counts[(evs[-1]["touchpoint"], end)] += 1
    return dict(counts)


def transition_times(journeys: dict[str, list[Event]]) -> dict[tuple[str, str], list[int]]:
    times: dict[tuple[str, str], list[int]] = defaultdict(list)
    for evs in journeys.values():
        for a, b in zip(evs, evs[1:], strict=False):
            times[(a["touchpoint"], b["touchpoint"])].append(int(b["ts"].timestamp()) - int(a["ts"].timestamp()))
    return times


def quantile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, DuckDB quantile_cont, Spark percentile)."""
    s = sorted(values)
    pos = (len(s) - 1) * p
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def anchored(evs: list[Event], anchor: str, start: str | None, end: str | None) -> list[Event] | None:
    """The events in reading order from the anchor, or None if the journey is not drawn."""
    tps = [e["touchpoint"] for e in evs]
    if anchor == "start":
        return evs
    if anchor == "to":
        if end not in tps:
            return None
        return list(reversed(evs[: tps.index(end) + 1]))
    if start not in tps:
        return None
    a = tps.index(start)
    if anchor == "from":
        return evs[a:]
    rest = tps[a + 1:]
    if end not in rest:
        return None
    return evs[a: a + 1 + rest.index(end) + 1]


def sankey(journeys: dict[str, list[Event]], *, anchor: str = "start", start: str | None = None,
           end: str | None = None, depth: int = 5, top: int = 5) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Nodes ``"step:label"`` -> journeys and links -> journeys, with Other and (journey ends)."""
    seqs = [s for s in (anchored(evs, anchor, start, end) for evs in journeys.values()) if s]
    raw: Counter[tuple[int, str]] = Counter()
    for s in seqs:
        for i, e in enumerate(s[:depth], start=1):
            raw[(i, e["touchpoint"])] += 1
    label: dict[tuple[int, str], str] = {}
    for step in {k[0] for k in raw}:
        ranked = sorted([(tp, n) for (st, tp), n in raw.items() if st == step], key=lambda x: (-x[1], x[0]))
        for r, (tp, _) in enumerate(ranked):
            label[(step, tp)] = tp if r < top else "Other"
    nodes: Counter[str] = Counter()
    links: Counter[tuple[str, str]] = Counter()
    for s in seqs:
        for i, e in enumerate(s[:depth], start=1):
            nodes[f"{i}:{label[(i, e['touchpoint'])]}"] += 1
            if i < depth:
                src = f"{i}:{label[(i, e['touchpoint'])]}"
                if i < len(s):
                    links[(src, f"{i + 1}:{label[(i + 1, s[i]['touchpoint'])]}")] += 1
                else:
                    links[(src, f"{i + 1}:(journey ends)")] += 1
                    nodes[f"{i + 1}:(journey ends)"] += 1
    return dict(nodes), dict(links)


@dataclass
class Attempt:
    reached: int
    times: list[int]
    p1: int


def funnel(journeys: dict[str, list[Event]], steps: list[set[str]], *, window_s: int = 7 * 86400,
           order_mode: str = "sequential", exclusions: tuple = (), step_windows: tuple = ()) -> tuple[list[int], dict[str, Attempt]]:
    """Customers at each step (furthest step over all attempts) and each journey's best attempt."""
    n = len(steps)
    best: dict[str, Attempt] = {}
    for jid, evs in journeys.items():
        secs = [int(e["ts"].timestamp()) for e in evs]
        tps = [e["touchpoint"] for e in evs]
        for i0, tp in enumerate(tps):
            if tp not in steps[0]:
                continue
            pos, times = [i0], [secs[i0]]
            for k in range(1, n):
                prev = pos[-1]
                if order_mode == "strict":
                    cand = prev + 1 if prev + 1 < len(tps) and tps[prev + 1] in steps[k] else None
                elif order_mode == "sequential":
                    cand = next((i for i in range(prev + 1, len(tps)) if tps[i] in steps[k]), None)
                else:
                    cand = next((i for i in range(i0 + 1, len(tps)) if tps[i] in steps[k]), None)
                if cand is None or secs[cand] - secs[i0] > window_s:
                    break
                sw = step_windows[k] if k < len(step_windows) else None
                if sw is not None and secs[cand] - times[-1] > sw:
                    break
                pos.append(cand)
                times.append(secs[cand])
            reached = len(pos)
            for ex_tps, after, before in exclusions:
                if reached >= before:
                    a, b = pos[after - 1], pos[before - 1]
                    if any(tps[i] in ex_tps for i in range(a + 1, b)):
                        reached = min(reached, before - 1)
            att = Attempt(reached, times[:reached], i0)
            cur = best.get(jid)
            if cur is None or att.reached > cur.reached:
                best[jid] = att
    counts = [sum(1 for a in best.values() if a.reached >= k) for k in range(1, n + 1)]
    return counts, best


def segment_customers(events: list[Event], flt: Any, goal: str | None = None) -> set[str]:
    """Customers matching one journeys.segments.Filter (person scope)."""
    by: dict[str, list[Event]] = defaultdict(list)
    for e in order(events):
        by[e["customer_id"]].append(e)
    out = set()
    for cust, evs in by.items():
        tps = [e["touchpoint"] for e in evs]
        k = flt.kind
        if k == "attribute":
            vals = [e.get(flt.column) for e in evs]
            if flt.op == "in":
                ok = any(v in flt.values for v in vals)
            elif flt.op == "not_in":
                ok = not any(v in flt.values for v in vals)
            elif flt.op == "contains":
                ok = any(v is not None and any(x.lower() in str(v).lower() for x in flt.values) for v in vals)
            else:
                lo, hi = (float(x) for x in flt.values)
                ok = any(v is not None and lo <= float(v) <= hi for v in vals)
        elif k in ("did", "converted"):
            ok = any(t in (flt.values or (goal,)) for t in tps)
        elif k in ("did_not", "not_converted"):
            ok = not any(t in (flt.values or (goal,)) for t in tps)
        elif k == "at_least":
            ok = sum(t in flt.values for t in tps) >= flt.times
        elif k == "at_step":
            ok = len(tps) >= flt.times and tps[flt.times - 1] in flt.values
        elif k == "then":
            x, y = flt.values
            ok = any(
                tps[i] == x and tps[j] == y
                and (flt.within_days is None or int(evs[j]["ts"].timestamp()) - int(evs[i]["ts"].timestamp()) <= flt.within_days * 86400)
                for i in range(len(tps)) for j in range(i + 1, len(tps))
            )
        else:
            lo, hi = flt.values
            first = evs[0]["ts"]
            ok = (not lo or first >= datetime.fromisoformat(lo)) and (not hi or first < datetime.fromisoformat(hi))
        if ok:
            out.add(cust)
    return out


def median(values: list[float]) -> float:
    return float(statistics.median(values))
