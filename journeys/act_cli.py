"""``journeys predict | nba | audience ... | measure``: who will convert or churn, what to do next, and hand-off.

    journeys predict "Sample shop" --churn --horizon 28d --format json
    journeys predict "Sample shop" --goal purchase --horizon 7d --format csv --validation-csv valid.csv
    journeys nba "Sample shop" --goal purchase --actions email_open,store_visit,chat --format csv
    journeys audience save "At risk" "Sample shop" --score-band 0.7:1 --churn
    journeys audience save "Store push" "Sample shop" --from-nba --goal purchase --actions store_visit,chat
    journeys audience save "Mobile carts" "Sample shop" --where device=mobile --did add_to_cart
    journeys audience list | refresh NAME | export NAME --format csv --out f.csv | push NAME --url URL
    journeys measure "Store push" --goal purchase

Every analysis command takes the segment options of the others and the Outcomes flags; the data's end is the
dataset's last event, also for a segment. JSON carries ``elapsed_s``. Secrets for pushes come from
``--secret``, ``$JOURNEYS_WEBHOOK_SECRET`` or the store (``--remember-secret``), and are never printed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import date, datetime
from typing import Any

import pandas as pd

from journeys.analyses.base import timer, to_frame
from journeys.analyses.nba import NBAQuery, compute_nba, measure
from journeys.analyses.predict import (
    ORDER_DEFAULT,
    SNAPSHOTS_DEFAULT,
    VALIDATION_COLUMNS,
    PredictQuery,
    compute_predict,
)
from journeys.analyses.predict_features import segment_events
from journeys.analysis_cli import add_common, segment_from
from journeys.audiences import CONTROL_SHARE, AudienceError, Audiences
from journeys.durations import parse_duration
from journeys.errors import QueryError
from journeys.export import safe_csv
from journeys.outcomes import add_outcome_args, outcomes_from


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _events(args: argparse.Namespace) -> tuple[Any, pd.Timestamp]:
    """The dataset's events (of the segment's customers, when one is given) and the dataset's last event."""
    from journeys.engine.store import Store

    table = Store(read_only=True).table(args.dataset)
    end = pd.Timestamp(to_frame(table.aggregate(last=table.ts.max()))["last"].iloc[0])
    if pd.isna(end):
        raise QueryError("The dataset has no events.")
    return segment_events(table, segment_from(args), args.goal), end


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise QueryError(f"{option} expects a date such as 2025-08-01, got '{text[:40]}'.") from None


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=None)
    except ValueError:
        raise QueryError(f"--since expects a date or time such as 2025-08-01 or 2025-08-01T09:30, got '{text[:40]}'.") from None


def _target(args: argparse.Namespace) -> str:
    if args.churn:
        return "churn"
    explicit_goal = bool(args.goal or args.conversion)
    return "churn" if (args.churn_touchpoints or args.inactive) and not explicit_goal else "conversion"


def predict_query(args: argparse.Namespace) -> PredictQuery:
    return PredictQuery(target=_target(args), outcomes=outcomes_from(args), horizon=parse_duration(args.horizon),  # type: ignore[arg-type]
                        as_of=_day(args.as_of, "--as-of") if args.as_of else None, order=args.order,
                        snapshots=args.snapshots)


def nba_query(args: argparse.Namespace) -> NBAQuery:
    actions = tuple(a.strip() for a in (args.actions or "").split(",") if a.strip())
    return NBAQuery(actions=actions, target=_target(args), outcomes=outcomes_from(args), order=args.order,  # type: ignore[arg-type]
                    horizon=parse_duration(args.horizon), control_share=args.control)


def cmd_predict(args: argparse.Namespace) -> None:
    q = predict_query(args)
    events, end = _events(args)
    with timer() as t:
        r = compute_predict(events, q, end=end)
    if args.validation_csv and len(r.validation):
        with open(args.validation_csv, "wb") as fh:
            fh.write(safe_csv(r.validation[VALIDATION_COLUMNS], limit=len(r.validation)))
    if args.format == "csv":
        if r.offered is None:
            print(r.message, file=sys.stderr)
        if r.note:
            print(r.note, file=sys.stderr)
        sys.stdout.write(safe_csv(r.scores[["customer_id", "score", "model", "reasons"]],
                                  limit=max(1, len(r.scores))).decode("utf-8"))
        return
    data = {"what": r.what, "offered": r.offered, "learned_model": r.learned, "message": r.message, "note": r.note,
            "scoring_cutoff": r.scoring_cutoff.isoformat(), "validation_cutoff": r.validation_cutoff.isoformat(),
            "training_cutoffs": [c.isoformat() for c in r.training_cutoffs],
            "training_positive": r.training_positive, "training_negative": r.training_negative,
            "inactivity_days": r.inactivity_days, "features": r.features,
            "models": {k: {kk: _clean(vv) for kk, vv in m.to_dict().items()} for k, m in r.metrics.items()},
            "scored": len(r.scores), "elapsed_s": t[0]}
    print(json.dumps(data, default=_clean))


def cmd_nba(args: argparse.Namespace) -> None:
    q = nba_query(args)
    events, end = _events(args)
    with timer() as t:
        r = compute_nba(events, q, as_of=_day(args.as_of, "--as-of") if args.as_of else None, end=end)
    if args.format == "csv":
        sys.stdout.write(safe_csv(r.customers, limit=max(1, len(r.customers))).decode("utf-8"))
        return
    rows = json.loads(r.customers.to_json(orient="records"))
    print(json.dumps({"customers": rows, "options": json.loads(r.options.to_json(orient="records")),
                      "recommended": r.recommended, "open_journeys": len(r.customers),
                      "control": int(r.customers["control"].sum()), "elapsed_s": t[0]}))


def cmd_audience_save(args: argparse.Namespace) -> None:
    from journeys.engine.store import Store

    store = Store(read_only=True)
    info = store.get(args.dataset)
    Audiences().check_name(args.name, replace_existing=args.replace)  # before the work of computing members
    segment = segment_from(args)
    scope = {"seg": "" if segment.is_empty else segment.to_param(), "goal": args.goal}
    if args.from_nba:
        definition: dict[str, Any] = {"nba": nba_query(args).to_dict(), **scope}
        kind = "nba"
        from journeys.analyses.nba import nba_members as build
    elif args.score_band:
        low, sep, high = args.score_band.partition(":")
        try:
            lo, hi = float(low), float(high) if sep else 1.0
        except ValueError as err:
            raise QueryError(f"--score-band expects LOW:HIGH between 0 and 1, got '{args.score_band}'.") from err
        if not 0 <= lo <= hi <= 1:
            raise QueryError(f"--score-band expects LOW:HIGH with 0 <= LOW <= HIGH <= 1, got '{args.score_band}'.")
        kind, definition = "score_band", {"predict": predict_query(args).to_dict(), "low": lo, "high": hi, **scope}
        from journeys.analyses.predict import score_band_members as build
    else:
        kind, definition = "segment", scope
        from journeys.audiences import segment_members as build
    members = build(store, info.id, definition, args.control, args.seed)
    a = Audiences().save(args.name, info.id, kind, definition, members, share=args.control, seed=args.seed,  # type: ignore[arg-type]
                         replace_existing=args.replace)
    print(json.dumps({"audience": a.name, "id": a.id, "kind": a.kind, "members": a.size, "control": a.control}))


def cmd_audience_list(args: argparse.Namespace) -> None:
    rows = [{"name": a.name, "id": a.id, "kind": a.kind, "dataset": a.dataset, "members": a.size,
             "control": a.control, "refreshed": a.refreshed, "last_push": a.last_push or None,
             "destinations": [d.label for d in a.destinations.values()]} for a in Audiences().list()]
    if args.format == "json":
        print(json.dumps({"audiences": rows}))
        return
    if not rows:
        print("No audiences yet. Save one with `journeys audience save NAME DATASET ...`.")
    for r in rows:
        print(f"{r['name']:<28} {r['kind']:<10} {r['members']:>9,} members ({r['control']:,} control)  "
              f"refreshed {r['refreshed']}  pushed {r['last_push'] or 'never'}")


def cmd_audience_refresh(args: argparse.Namespace) -> None:
    from journeys.engine.store import Store

    with timer() as t:
        a = Audiences().refresh(args.name, Store(read_only=True))
    print(json.dumps({"audience": a.name, "members": a.size, "control": a.control, "refreshed": a.refreshed,
                      "elapsed_s": t[0]}))


def cmd_audience_export(args: argparse.Namespace) -> None:
    n = Audiences().export(args.name, args.format, args.out)
    print(f"Wrote {n:,} members of '{args.name}' to {args.out}.")


def cmd_audience_push(args: argparse.Namespace) -> None:
    book = Audiences()
    if args.remember_secret:
        if not args.secret:
            raise AudienceError("--remember-secret needs --secret.")
        book.remember_secret(args.url, args.secret)
    result = book.push(args.name, args.url, secret=args.secret)
    print(result.sentence())


def cmd_audience_delete(args: argparse.Namespace) -> None:
    Audiences().delete(args.name)
    print(f"Deleted audience '{args.name}'.")


def cmd_measure(args: argparse.Namespace) -> None:
    from journeys.engine.store import Store

    book = Audiences()
    a = book.get(args.name)
    since = (datetime.combine(_day(args.since, "--since"), datetime.min.time()) if args.since and len(args.since) <= 10
             else _moment(args.since) if args.since else datetime.fromisoformat(a.handed_over).replace(tzinfo=None))
    goals = tuple(g.strip() for g in (args.goal or "").split(",") if g.strip())
    m = measure(Store(read_only=True).table(a.dataset), book.members(a), goals, since,
                handed_over=datetime.fromisoformat(a.handed_over))
    stale = m.stale()  # after the data's end there is nothing to measure: no "+0.0 pp" beside the sentence
    if args.format == "json":
        print(json.dumps({"since": m.since.isoformat(), "actioned": m.actioned, "actioned_converted": m.actioned_converted,
                          "control": m.control, "control_converted": m.control_converted,
                          "difference": None if stale else _clean(m.difference),
                          "ci_low": None if stale else _clean(m.low), "ci_high": None if stale else _clean(m.high),
                          "sentence": stale or m.sentence(), "data_end": m.data_end.isoformat() if m.data_end else None,
                          "note": stale or m.early()}))
    else:
        print(stale or m.sentence())
        if not stale and m.early():
            print(m.early())


def _model_args(p: argparse.ArgumentParser) -> None:
    add_outcome_args(p)
    p.add_argument("--churn", action="store_true", help="predict churn (by --churn-touchpoints or --inactive)")
    p.add_argument("--horizon", default="28d", help="within how long (default 28d; 7d is the other default)")
    p.add_argument("--as-of", help="score at the end of this day (YYYY-MM-DD; default the data's last day)")
    p.add_argument("--order", type=int, default=ORDER_DEFAULT, help="Markov chain order of the baseline and NBA")
    p.add_argument("--snapshots", type=int, default=SNAPSHOTS_DEFAULT, help="training periods of H days each")


def _nba_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--actions", help="comma-separated touchpoints the company can trigger")
    p.add_argument("--control", type=float, default=CONTROL_SHARE, help="control group share (default 0.1)")


def add_commands(sub: Any) -> None:
    p = sub.add_parser("predict", help="P(conversion or churn within H days) per open journey, validated")
    add_common(p)
    _model_args(p)
    p.add_argument("--validation-csv", metavar="FILE", help="write customer_id, score_baseline, score_model, actual")
    p.add_argument("--format", choices=("json", "csv"), default="json")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("nba", help="next best action per open journey, with support, interval and control group")
    add_common(p)
    _model_args(p)
    _nba_args(p)
    p.add_argument("--format", choices=("json", "csv"), default="csv")
    p.set_defaults(func=cmd_nba)

    p = sub.add_parser("audience", help="save, list, refresh, export and push audiences")
    asub = p.add_subparsers(dest="audience_command", required=True)
    s = asub.add_parser("save", help="save a segment, score band or action list as a named audience")
    s.add_argument("name")
    add_common(s)
    _model_args(s)
    _nba_args(s)
    s.add_argument("--from-nba", action="store_true", help="the customers with a recommended action")
    s.add_argument("--score-band", metavar="LOW:HIGH", help="customers whose predicted score is in the band")
    s.add_argument("--seed", type=int, default=1, help="control group seed")
    s.add_argument("--replace", action="store_true", help="redefine an audience of the same name (keeps its push state)")
    s.set_defaults(func=cmd_audience_save)
    s = asub.add_parser("list", help="audiences with size, last refresh and push")
    s.add_argument("--format", choices=("text", "json"), default="text")
    s.set_defaults(func=cmd_audience_list)
    s = asub.add_parser("refresh", help="recompute an audience from its definition (for cron)")
    s.add_argument("name")
    s.set_defaults(func=cmd_audience_refresh)
    s = asub.add_parser("export", help="write an audience's members (control flagged)")
    s.add_argument("name")
    s.add_argument("--format", choices=("csv", "parquet"), default="csv")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_audience_export)
    s = asub.add_parser("push", help="push to a webhook (Mixpanel cohort-sync style)")
    s.add_argument("name")
    s.add_argument("--url", required=True)
    s.add_argument("--secret", help="HMAC secret (else $JOURNEYS_WEBHOOK_SECRET or one remembered in the store)")
    s.add_argument("--remember-secret", action="store_true", help="keep --secret in the store for this URL")
    s.set_defaults(func=cmd_audience_push)
    s = asub.add_parser("delete", help="delete an audience")
    s.add_argument("name")
    s.set_defaults(func=cmd_audience_delete)

    p = sub.add_parser("measure", help="actioned vs control conversion of an audience since its export")
    p.add_argument("name")
    p.add_argument("--goal", required=True, help="goal touchpoint(s), comma-separated")
    p.add_argument("--since", help="ISO date or time (default: the audience's last push, else its last refresh)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_measure)

