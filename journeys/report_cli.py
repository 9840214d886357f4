"""``journeys report DATASET [segment and shaping options] --out report.html [--pdf report.pdf]``."""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from journeys.analysis_cli import add_common, add_stage_args, segment_from, shaping_from, stage_edits_from
from journeys.errors import JourneyError
from journeys.report.context import DEFAULT_LINK_BASE, LINK_BASE_ENV


def cmd_report(args: argparse.Namespace) -> None:
    from journeys.analyses.base import check_touchpoints, known_touchpoints
    from journeys.analyses.voice import VoicePage
    from journeys.engine.store import Store
    from journeys.report.build import build_report
    from journeys.report.render import to_html, write_pdf
    from journeys.shaping import apply_node, apply_rules
    from journeys.views import ViewState

    started = time.perf_counter()
    store = Store(read_only=True)
    info = store.get(args.dataset)
    view = replace(ViewState(dataset=info.id), segment=segment_from(args), shaping=shaping_from(args),
                   stage_edits=stage_edits_from(args), voice=VoicePage(scale=args.scale))
    # a mistyped --goal or --stage touchpoint is a sentence here, as in every other command (not a report on nothing)
    known = known_touchpoints(apply_node(apply_rules(store.table(info.id), view.shaping), view.shaping))
    check_touchpoints([view.shaping.goal, *(tp for tp, _ in view.stage_edits)], known)
    if args.steps:
        view = replace(view, funnel_steps=tuple(tuple(t.strip() for t in s.split("|") if t.strip())
                                                for s in args.steps.split(",")))
    report = build_report(store.table(info.id), info, view, link_base=args.link_base)
    out = Path(args.out)
    if out.parent and not out.parent.exists():
        raise JourneyError(f"The folder of --out does not exist: {out.parent}.")
    html = to_html(report, images=not args.no_charts)
    out.write_text(html, encoding="utf-8")
    written = [str(out)]
    if args.pdf:
        written.append(str(write_pdf(html, args.pdf)))
    total = round(time.perf_counter() - started, 2)  # with the charts' images, the HTML and the PDF
    data: dict[str, Any] = {"written": written, "fingerprint": report.fingerprint, "elapsed_s": report.elapsed_s,
                            "total_s": total,
                            "figures": report.figures(),
                            "findings": [{"rule": f.rule, "title": f.title, "evidence": f.evidence,
                                          "recommendation": f.recommendation, "link": f.link} for f in report.findings]}
    if args.format == "json":
        print(json.dumps(data, default=str))
    else:
        print(f"Wrote {', '.join(written)} in {total:.1f} s (analyses {report.elapsed_s:.1f} s): "
              f"{len(report.sections)} sections, {len(report.findings)} findings.")


def add_commands(sub: Any) -> None:
    p = sub.add_parser("report", help="write the journey analysis report (self-contained HTML, optional PDF)")
    add_common(p)
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--pdf", help="also write this PDF")
    add_stage_args(p)
    p.add_argument("--scale", default="auto", help="score scale: auto, or LO-HI such as 1-5, 1-7, 0-10")
    p.add_argument("--steps", help="the funnel's steps (default: as the Funnels page guesses them)")
    p.add_argument("--link-base", default=os.environ.get(LINK_BASE_ENV) or DEFAULT_LINK_BASE,
                   help=f"where the dashboard runs, for the view links (default: ${LINK_BASE_ENV}, else "
                        f"{DEFAULT_LINK_BASE}); a team server's address makes the links work for colleagues")
    p.add_argument("--no-charts", action="store_true", help="leave charts out (no Chromium needed)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_report)
