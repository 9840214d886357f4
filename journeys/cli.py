"""The ``journeys`` command: a stable contract for scripts and scheduled jobs.

Exit code 0 on success; on bad input, exit code 2 and one clear line on stderr (no traceback).
Read commands (datasets, info and the analyses) open the store read-only, so they work while the
dashboard runs; ingest and connect need it to themselves.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from journeys.errors import JourneyError, MappingError, Remedy
from journeys.schema import ROLES

EXIT_USER_ERROR = 2
#: how the command line says each remedy an error names (the dashboard says them in its own words)
REMEDIES: dict[Remedy, str] = {
    "map_columns": f"Map columns with --map ROLE=COLUMN (roles: {', '.join(ROLES)}).",
    "choose_preset": "Use another --preset, or leave it out and map columns with --map ROLE=COLUMN.",
    "list_datasets": "List them with `journeys datasets`.",
    "free_store": "If it is the dashboard: read commands and analyses (datasets, info, sources, paths, funnel, "
                  "drivers, attribution, retention, report, ...) work while it runs, and ingest, identities, "
                  "exclude-ids, remove-source and watch hand their work to it; connect and other changes need "
                  "the store to themselves: stop the dashboard and run this again.",
}


def error_line(err: JourneyError) -> str:
    """The one stderr line for a user error: the sentence, its hint, and the remedy in CLI words."""
    return " ".join(p for p in (str(err), REMEDIES.get(err.remedy) if err.remedy else "") if p)


def _parse_maps(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        role, sep, col = pair.partition("=")
        if not sep or not role.strip() or not col.strip():
            raise MappingError(f"--map expects ROLE=COLUMN, got '{pair}'.", hint=f"Roles: {', '.join(ROLES)}.")
        out[role.strip()] = col.strip()
    return out


def _store(*, read_only: bool = False) -> Any:
    from journeys.engine.store import Store

    return Store(read_only=read_only)


def _emit(data: dict[str, Any], fmt: str, text_lines: list[str]) -> None:
    if fmt == "json":
        print(json.dumps(data, default=str))
    else:
        print("\n".join(text_lines))


def cmd_connect(args: argparse.Namespace) -> None:
    from journeys.engine.connect import connect_dataset
    from journeys.schema import ColumnMapping

    info = connect_dataset(_store(), args.url, args.table, ColumnMapping.from_dict(_parse_maps(args.map or [])),
                           name=args.name)
    _emit(info.report.to_dict(), args.format, info.report.lines())


def cmd_datasets(args: argparse.Namespace) -> None:
    infos = _store(read_only=True).datasets()
    rows = [{"id": d.id, "name": d.name, "rows": d.rows, "customers": d.report.customers, "source": d.source,
             "created": d.created.isoformat(sep=" ", timespec="seconds")} for d in infos]
    lines = [f"{r['id']}  {r['name']:<24} {r['rows']:>12,} events {r['customers']:>10,} customers  {r['source']}"
             for r in rows] or ["No datasets yet. Load one with `journeys ingest FILE`."]
    _emit({"datasets": rows}, args.format, lines)


def cmd_info(args: argparse.Namespace) -> None:
    info = _store(read_only=True).get(args.dataset)
    data = {"id": info.id, "name": info.name, "fingerprint": info.fingerprint, "attributes": list(info.attributes),
            "mapping": json.loads(info.mapping.to_json()) if info.mapping else None, "report": info.report.to_dict()}
    lines = [*info.report.lines(), f"Mapping: {info.mapping.to_json() if info.mapping else 'aggregated path table'}",
             f"Attributes: {', '.join(info.attributes) or '-'}", f"Fingerprint: {info.fingerprint}"]
    _emit(data, args.format, lines)


def cmd_sample(args: argparse.Namespace) -> None:
    from journeys import sample

    if args.events < 1:
        raise JourneyError("--events must be at least 1.")
    started = time.perf_counter()
    out = sample.write(sample.generate_chunks(args.events, seed=args.seed), args.out)
    print(f"Wrote {args.events:,} events to {out} in {time.perf_counter() - started:.1f} s")


def cmd_serve(args: argparse.Namespace) -> None:
    app = Path(__file__).resolve().parent.parent / "app" / "main.py"
    if not app.exists():
        raise JourneyError(f"The dashboard is not installed next to the library ({app} is missing).",
                           hint="Run from a clone of the repository.")
    from journeys import bootstrap
    from journeys.users_cli import serve_command

    # 127.0.0.1 unless --team, which needs sign-in configured (journeys/users_cli.py)
    cmd, env = serve_command(args.port, team=args.team, address=args.address, app=app)
    host = "127.0.0.1" if cmd[-1] in ("0.0.0.0", "::") else cmd[-1]
    # the first visitor should not pay for imports and the default queries: run the default page once
    threading.Thread(target=bootstrap.warm, args=(f"http://{host}:{args.port}",), daemon=True).start()
    raise SystemExit(subprocess.call(cmd, cwd=app.parent.parent, env=env))


class _Parser(argparse.ArgumentParser):
    """Bad options are user errors like any other: one line on stderr (no usage dump), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}. See `{self.prog} --help`.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="journeys", description="Customer journey analytics over event exports.")
    sub = parser.add_subparsers(dest="command", required=True)

    from journeys.ingest_cli import add_commands as add_ingest_commands

    add_ingest_commands(sub)  # ingest (--into a dataset), identities, sources, remove-source, watch

    p = sub.add_parser("connect", help="register a read-only dataset over a table of another Ibis backend")
    p.add_argument("url", help="e.g. duckdb:///warehouse.db, postgres://user@host/db, trino://host/catalog")
    p.add_argument("table")
    p.add_argument("--map", action="append", metavar="ROLE=COLUMN", required=True, help=f"roles: {', '.join(ROLES)}")
    p.add_argument("--name")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_connect)

    p = sub.add_parser("datasets", help="list stored datasets")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("info", help="show a dataset's load report and mapping")
    p.add_argument("dataset")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("sample", help="write generated multi-channel journeys (CSV, CSV.gz or Parquet)")
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("serve", help="start the dashboard (on 127.0.0.1; --team: to the network, with sign-in)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--team", action="store_true", help="serve to the network (0.0.0.0); refuses without sign-in")
    p.add_argument("--address", help="listen on this address instead (with --team: default 0.0.0.0)")
    p.set_defaults(func=cmd_serve)
    from journeys import users_cli

    users_cli.add_commands(sub)  # users, access, audit (team server)

    from journeys.analysis_cli import add_analysis_commands

    add_analysis_commands(sub)
    from journeys import report_cli

    report_cli.add_commands(sub)
    from journeys import attribution_cli

    attribution_cli.add_commands(sub)
    from journeys import drivers_cli

    drivers_cli.add_commands(sub)
    from journeys import voice_cli

    voice_cli.add_commands(sub)  # sentiment, voice
    from journeys import retention_cli

    retention_cli.add_commands(sub)  # retention, lifecycle, churn, palive
    from journeys import act_cli

    act_cli.add_commands(sub)  # predict, nba, audience, measure
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except JourneyError as err:
        print(f"journeys: error: {error_line(err)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # `journeys transitions x | head` closed the pipe: not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("journeys: interrupted; nothing was stored.", file=sys.stderr)
        return 130
    return 0


def main() -> None:
    raise SystemExit(run())
