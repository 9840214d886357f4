"""Sentiment quality and cost, for ``make bench`` (``python -m benchmarks.sentiment`` alone).

Quality: Pearson r and sign agreement of the compound score against the human ratings of Hutto &
Gilbert (2014) (``shared/data/sentiment_ground_truth/``), for plain VADER and for ours (language
detection + service supplement), and the band of a set of service sentences with an obvious polarity.
Cost: the ingest hook on 1M texts that repeat (the generator's service feedback) and on 1M texts that never
repeat (the worst case: the load scores the 100,000 most frequent, a backfill the rest), in seconds.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from journeys import sample  # noqa: E402
from journeys.io.sentiment import (  # noqa: E402
    INLINE_DISTINCT,
    SentimentScorer,
    _vader,
    add_sentiment,
    backfill_sentiment,
    band,
)

TRUTH = Path(os.environ.get("SENTIMENT_TRUTH", ROOT.parent / "shared" / "data" / "sentiment_ground_truth"))
FILES = {"tweets": "tweets_GroundTruth.txt", "movie reviews": "movieReviewSnippets_GroundTruth.txt"}
#: customer-service sentences whose polarity nobody disputes (written for this check; none is in the lexicon)
SERVICE = {
    "negative": ["The delivery was late and support was useless.", "Waited 40 minutes on hold", "Still not resolved",
                 "Checkout button did nothing on mobile", "My parcel never arrived", "I was charged twice",
                 "Nobody could fix my delivery problem", "The app keeps crashing at payment",
                 "Still waiting for my refund after three weeks", "No response to my emails"],
    "positive": ["Solved my problem in minutes", "Quick and helpful, thanks", "Friendly agent", "Great service",
                 "The agent fixed my issue right away", "Delivery arrived early, well packed",
                 "Support was quick and kind", "Refund came the next day, thank you"],
}


def read(name: str) -> tuple[np.ndarray, list[str]]:
    rows = [line.rstrip("\n").split("\t") for line in (TRUTH / name).open(encoding="latin-1") if line.strip()]
    return np.array([float(r[1]) for r in rows]), [r[2] for r in rows]


def quality(scores: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Pearson r over all rows; sign agreement on non-zero ratings (score >= 0 read as positive)."""
    r = float(np.corrcoef(scores, truth)[0, 1])
    rated = truth != 0
    agree = float(np.mean((scores[rated] >= 0) == (truth[rated] > 0)))
    return r, agree


def bench_quality() -> dict[str, dict[str, tuple[float, float]]]:
    plain, ours = _vader(), SentimentScorer()
    out: dict[str, dict[str, tuple[float, float]]] = {}
    print("## Sentiment quality against human ratings (Hutto & Gilbert 2014)")
    print(f"{'set':<16}{'rows':>7}{'VADER r':>10}{'ours r':>9}{'VADER sign':>12}{'ours sign':>11}  unscored (no lexicon)")
    for label, name in FILES.items():
        truth, texts = read(name)
        a = np.array([plain.polarity_scores(t)["compound"] for t in texts])
        scored = [ours.score(t) for t in texts]
        # a text read as a language without a lexicon has no score: 0 (neutral) here, counted on the right
        b = np.array([s[1] if s[1] is not None else 0.0 for s in scored])
        missing = sum(s[1] is None for s in scored)
        out[label] = {"vader": quality(a, truth), "ours": quality(b, truth)}
        (ra, sa), (rb, sb) = out[label]["vader"], out[label]["ours"]
        print(f"{label:<16}{len(texts):>7}{ra:>10.4f}{rb:>9.4f}{sa:>12.1%}{sb:>11.1%}  {missing}")
    right = {"vader": 0, "ours": 0}
    total = sum(len(v) for v in SERVICE.values())
    for want, texts in SERVICE.items():
        for t in texts:
            right["vader"] += band(plain.polarity_scores(t)["compound"]) == want
            right["ours"] += ours.score(t)[2] == want
    print(f"service sentences in the right band: VADER {right['vader']}/{total}, ours {right['ours']}/{total}")
    return out


def bench_cost(texts: int = 1_000_000) -> None:
    """The ingest hook on ``texts`` texts that repeat (service feedback) and that never repeat, then the
    backfill of what a load leaves pending beyond :data:`INLINE_DISTINCT` distinct texts."""
    import duckdb

    print(f"\n## Sentiment at ingest, {texts:,} texts (seconds of the hook alone; budget: 60 s per 1M texts)")
    feedback = list(sample._GOOD_FEEDBACK + sample._BAD_FEEDBACK)
    cases = {
        "service feedback (repeats)": f"list_element({feedback!r}, (i % {len(feedback)}) + 1)",
        "every text distinct": "'Order ' || i || CASE WHEN i % 2 = 0 THEN ' was late, support useless' "
                               "ELSE ' solved fast, thanks' END",
    }
    for label, expr in cases.items():
        con = duckdb.connect()
        con.execute(f"CREATE TABLE ev AS SELECT i AS id, {expr} AS text FROM range({texts}) t(i)")
        started = time.perf_counter()
        done, distinct, covered = add_sentiment(con, "ev", SentimentScorer(), limit=INLINE_DISTINCT)
        secs = time.perf_counter() - started
        print(f"{label:<28} {distinct:>9,} distinct: load {secs:6.1f} s, scored {done:,} distinct "
              f"({covered:.0%} of texts) ({'within' if secs <= 60 else 'over'} the 60 s budget)", flush=True)
        if done < distinct:
            started = time.perf_counter()
            n = backfill_sentiment(con, "ev", SentimentScorer())
            print(f"{'':<28} backfill of the other {n:,} distinct texts: {time.perf_counter() - started:6.1f} s "
                  "(after the load, `journeys sentiment --dataset`)", flush=True)
        con.close()


def main() -> None:
    bench_quality()
    if os.environ.get("BENCH_SENTIMENT_COST", "1") != "0":
        bench_cost()


if __name__ == "__main__":
    main()
