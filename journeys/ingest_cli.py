"""CLI commands that put data in the store: ingest (a new dataset, or a source added to one), identities,
sources, remove-source and watch. Registered by :func:`add_commands` from ``journeys.cli``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from journeys.engine.identities import StitchReport
from journeys.io.presets import PRESET_NAMES
from journeys.schema import ROLES
from journeys.watch import call


def _cli() -> Any:
    from journeys import cli

    return cli


def cmd_ingest(args: argparse.Namespace) -> None:
    cli = _cli()
    options = {"preset": args.preset, "overrides": cli._parse_maps(args.map or []), "tz": args.tz,
               "as_source": args.source, "channel": args.channel, "dedupe": args.dedupe}
    from journeys.watch import load

    # while the dashboard holds the store, it runs the load for us (one short write transaction there)
    report = load(None, Path(args.file), into=args.into, name=None if args.into else args.name,
                  tell=lambda line: print(line, file=sys.stderr, flush=True), **options)
    assert report is not None
    cli._emit(report.to_dict(), args.format, report.lines())


def cmd_identities(args: argparse.Namespace) -> None:
    cli = _cli()
    ids = [c.strip() for c in args.ids.split(",") if c.strip()]
    exclude = [c.strip() for c in args.exclude.split(",")] if args.exclude is not None else None
    started = time.perf_counter()
    report = StitchReport.from_dict(call("add_identities", args.into, str(Path(args.file).resolve()), ids,
                                         exclude=exclude, as_source=args.source))
    elapsed = round(time.perf_counter() - started, 3)
    cli._emit(report.to_dict() | {"elapsed_s": elapsed}, args.format, [*report.lines(), f"Elapsed: {elapsed} s"])


def cmd_exclude(args: argparse.Namespace) -> None:
    cli = _cli()
    report = StitchReport.from_dict(call("exclude_ids", args.dataset, [c for c in args.ids.split(",") if c.strip()]))
    cli._emit(report.to_dict(), args.format, report.lines())


def cmd_sources(args: argparse.Namespace) -> None:
    cli = _cli()
    with cli._store(read_only=True) as store:  # closed at once: a later load in this process may write
        found = store.sources(args.dataset)
        stitch = store.stitching(args.dataset)
    rows = [{"no": s.source_no + 1, "name": s.name, "kind": s.kind, "channel": s.channel, "rows": s.rows,
             "customers": s.customers, "start": s.start, "end": s.end, "loads": len(s.reports)} for s in found]
    lines = [f"{r['no']:>3}  {r['name']:<24} {r['kind']:<10} {r['rows']:>12,} rows {r['customers']:>10,} ids  "
             f"{r['start'] or '-'} to {r['end'] or '-'}" for r in rows]
    lines.append("Stitching: " + ("on" if stitch else "off (no identity links)"))
    if stitch:
        lines += stitch.lines()
    cli._emit({"sources": rows, "stitching": stitch.to_dict() if stitch else None}, args.format, lines)


def cmd_remove_source(args: argparse.Namespace) -> None:
    cli = _cli()
    removed = call("remove_source", args.dataset, args.source)
    cli._emit({"removed": removed["name"], "rows": removed["rows"]}, args.format,
              [f"Removed source '{removed['name']}' ({removed['rows']:,} rows) from '{args.dataset}'."])


def cmd_watch(args: argparse.Namespace) -> None:
    from journeys.watch import parse_interval, watch

    cli = _cli()
    watch(args.folder, into=args.into, interval_s=parse_interval(args.interval), preset=args.preset,
          overrides=cli._parse_maps(args.map or []), tz=args.tz, source=args.source, channel=args.channel,
          once=args.once)


def _load_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=PRESET_NAMES)
    p.add_argument("--map", action="append", metavar="ROLE=COLUMN", help=f"roles: {', '.join(ROLES)}")
    p.add_argument("--tz", default="UTC", help="time zone of timestamps without an offset (default UTC)")
    p.add_argument("--source", help="source name (default: the file's name); an existing source is appended to")
    p.add_argument("--channel", help="channel for events that have none (a call-centre export: 'call centre')")


def add_commands(sub: Any) -> None:
    p = sub.add_parser("ingest", help="load an export as a new dataset, or with --into as a source of one")
    p.add_argument("file")
    _load_options(p)
    p.add_argument("--into", metavar="DATASET", help="add the file as a source of this dataset (id or name)")
    p.add_argument("--dedupe", metavar="KEY", help="'exact' or a column list: drop events the dataset already has")
    p.add_argument("--name")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("identities", help="link ids into persons from an identity file (CRM extract, login table)")
    p.add_argument("file")
    p.add_argument("--into", metavar="DATASET", required=True)
    p.add_argument("--ids", required=True, metavar="COL1,COL2,...", help="the id columns; each row links its non-empty ones")
    p.add_argument("--exclude", metavar="ID,ID", help="ids that must link nothing (shared devices, test accounts)")
    p.add_argument("--source", help="name of the identity source (default: the file's name)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_identities)

    p = sub.add_parser("exclude-ids", help="set the ids that must link nothing, and re-stitch")
    p.add_argument("dataset")
    p.add_argument("ids", metavar="ID,ID")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_exclude)

    p = sub.add_parser("sources", help="list a dataset's sources and its stitching report")
    p.add_argument("dataset")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_sources)

    p = sub.add_parser("remove-source", help="remove one source of a dataset (atomic)")
    p.add_argument("dataset")
    p.add_argument("source")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_remove_source)

    p = sub.add_parser("watch", help="load each new file that appears in a folder into a dataset, once")
    p.add_argument("folder")
    p.add_argument("--into", metavar="DATASET", required=True)
    p.add_argument("--interval", default="10s", help="how often to look (e.g. 10s, 2m; default 10s)")
    p.add_argument("--once", action="store_true", help="look once, load what is ready, and stop")
    _load_options(p)
    p.set_defaults(func=cmd_watch)
