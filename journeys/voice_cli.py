"""``journeys sentiment`` and ``journeys voice``: the voice of the customer on the command line.

    journeys sentiment reviews.txt --format csv        # one text per line (``-`` or nothing: stdin)
    echo "Waited 40 minutes on hold" | journeys sentiment --format json
    journeys sentiment --dataset "Call logs"            # score what a load of > 100,000 distinct texts left
                                                        # (the dashboard does it in the background by itself)
    journeys voice "Sample shop" --goal purchase --format json
    journeys voice "Sample shop" --touchpoint chat --churn-touchpoints account_closed --format csv

``voice`` prints the same figures as the Voice of the customer page (JSON: every table; CSV: the
behaviour comparisons, one row each) with ``elapsed_s``, the engine time of the analysis.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from journeys.analyses.base import check_touchpoints, known_touchpoints, timer
from journeys.analyses.journey_map import edited_stages
from journeys.analyses.voice import compute_voice, default_query, voice_journeys
from journeys.analysis_cli import add_common, add_stage_args, segment_from, shaping_from, stage_edits_from
from journeys.errors import InputError, QueryError
from journeys.io.sentiment import SentimentScorer, backfill_dataset, load_user_lexicons
from journeys.outcomes import add_outcome_args, outcomes_from
from journeys.shaping import apply_node, apply_rules


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.astype(object).where(frame.notna(), None)
    rows = clean.to_dict("records")
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()} for r in rows]


def _lexicon_args(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        lang, sep, path = pair.partition("=")
        if not sep or not lang.strip() or not path.strip():
            raise QueryError(f"--lexicon expects LANGUAGE=FILE, got '{pair}'.", hint="E.g. --lexicon es=es.csv.")
        out[lang.strip()] = path.strip()
    return out


def cmd_sentiment(args: argparse.Namespace) -> None:
    lexicons = load_user_lexicons(extra=_lexicon_args(args.lexicon))
    for lang, lex in lexicons.items():
        if lex.rejected:
            print(f"lexicon {lex.sentence(lang)}", file=sys.stderr)
    scorer = SentimentScorer({lang: lex.terms for lang, lex in lexicons.items()}, domain=not args.no_domain)
    if args.dataset:
        _backfill(args.dataset, scorer, args.format)
        return
    if args.file in (None, "-"):
        lines = sys.stdin.read().splitlines()
    else:
        try:
            lines = Path(args.file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"'{args.file}' could not be read as UTF-8 text ({err}).") from err
    rows = []
    for line in lines:
        if line.strip():
            lang, score, band = scorer.score(line)
            rows.append({"text": line, "language": lang, "sentiment": score, "band": band})
    if args.format == "json":
        print(json.dumps({"texts": rows, "scored": sum(r["sentiment"] is not None for r in rows)}))
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=["text", "language", "sentiment", "band"], lineterminator="\n")
    writer.writeheader()
    writer.writerows({**r, "sentiment": "" if r["sentiment"] is None else r["sentiment"],
                      "band": r["band"] or ""} for r in rows)


def _backfill(dataset: str, scorer: SentimentScorer, fmt: str) -> None:
    """Score the texts a big load left pending (needs the store to itself, like ingest)."""
    from journeys.engine.store import Store
    from journeys.errors import StoreBusy

    try:
        store = Store()
    except StoreBusy as err:  # the dashboard: it scores them itself
        raise StoreBusy(err.message, hint="If it is the dashboard, it scores the texts a load left pending in the "
                        "background by itself; its sidebar and Voice page show how far it has got.") from err
    info = store.get(dataset)
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"scored {done:,} of {total:,} distinct texts", file=sys.stderr, flush=True)

    n = backfill_dataset(store, info.id, scorer, progress=progress)
    elapsed = round(time.perf_counter() - started, 3)
    if fmt == "json":
        print(json.dumps({"dataset": info.id, "scored_distinct_texts": n, "elapsed_s": elapsed}))
    else:
        print(f"dataset,scored_distinct_texts,elapsed_s\n{info.id},{n},{elapsed}")


def cmd_voice(args: argparse.Namespace) -> None:
    from journeys.engine.store import Store

    args.scope, args.collapse, args.cut_at_goal = "person", False, False
    shaping, segment = shaping_from(args), segment_from(args)
    table = Store(read_only=True).table(args.dataset)
    tps = known_touchpoints(apply_node(apply_rules(table, shaping), shaping))
    outcomes = outcomes_from(args)
    edits = stage_edits_from(args)
    check_touchpoints([tp for tp, _ in edits], tps)
    q = default_query(tps, shaping.goal, outcomes=outcomes, stages=edited_stages(tps, edits), touchpoint=args.touchpoint,
                      scale=args.scale)
    with timer() as t:
        r = compute_voice(voice_journeys(table, shaping, segment), q, known=tps)
    if args.format == "json":
        s = r.scores
        data = {
            "coverage": {"texts": r.coverage.texts, "scored": r.coverage.scored, "sentence": r.coverage.sentence(),
                         "languages": _records(r.coverage.languages)},
            "touchpoints": _records(r.touchpoints), "curve": _records(r.curve), "snippets": _records(r.snippets),
            "terms": _records(r.terms), "behaviour": _records(r.behaviour), "findings": r.findings(),
            "churn": r.churn, "scores_problem": r.scores_problem or None, "elapsed_s": t[0],
            "scores": None if s is None else {
                "scale": s.name, "detected": s.detected, "responses": s.responses, "out_of_scale": s.out_of_scale,
                "average": s.average, "top2_share": s.top2_share, "nps": s.nps, "notes": s.sentences(),
                "by_touchpoint": _records(s.by_touchpoint), "by_stage": _records(s.by_stage),
                "by_channel": _records(s.by_channel)},
        }
        print(json.dumps(data))
        return
    print(r.coverage.sentence(), file=sys.stderr)
    r.behaviour.to_csv(sys.stdout, index=False)
    print(f"elapsed_s={t[0]}", file=sys.stderr)


def add_commands(sub: Any) -> None:
    p = sub.add_parser("sentiment", help="score texts, one per line: text, language, sentiment (-1..1), band")
    p.add_argument("file", nargs="?", help="a UTF-8 text file, one text per line (default or '-': stdin)")
    p.add_argument("--lexicon", action="append", default=[], metavar="LANGUAGE=FILE",
                   help="extra terms for a language, a CSV term,score (-4..4)")
    p.add_argument("--no-domain", action="store_true", help="plain VADER for English, without the service supplement")
    p.add_argument("--dataset", help="instead: score the texts a big load of this dataset left pending")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.set_defaults(func=cmd_sentiment)

    p = sub.add_parser("voice", help="voice of the customer: sentiment and scores along the journey, and after")
    add_common(p)
    add_outcome_args(p)
    add_stage_args(p)
    p.add_argument("--touchpoint", help="the text explorer's touchpoint (default: every touchpoint)")
    p.add_argument("--scale", default="auto", help="score scale: auto, or LO-HI such as 1-5, 1-7, 0-10")
    p.add_argument("--format", choices=("csv", "json"), default="json")
    p.set_defaults(func=cmd_voice)
