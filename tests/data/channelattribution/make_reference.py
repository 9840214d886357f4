"""Regenerate ``reference.json``: ChannelAttribution's own results on ``Data_head1000.csv``.

Run once by hand after ``pip install channelattribution matplotlib`` (GPL-3.0; a test-only reference,
never imported by ``journeys/``):

    .venv/bin/python tests/data/channelattribution/make_reference.py

``heuristic_models`` is deterministic; ``markov_model`` simulates (``nsim_start`` paths, ``nfold=1``), so its
removal effects carry simulation noise that the tests allow for.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
NSIM = 10_000_000


def main() -> None:
    import ChannelAttribution as ca

    data = pd.read_csv(HERE / "Data_head1000.csv", sep=";")
    heur = ca.heuristic_models(data, "path", "total_conversions", var_value="total_conversion_value", flg_pro=False)
    out: dict[str, object] = {"package": "channelattribution", "version": "2.2.5", "nsim_start": NSIM,
                              "heuristic": heur.to_dict("list"), "markov": {}}
    for order in (1, 2):
        res = ca.markov_model(data, "path", "total_conversions", var_value="total_conversion_value",
                              var_null="total_null", order=order, nsim_start=NSIM, nfold=1, out_more=True,
                              verbose=False, flg_pro=False)
        out["markov"][str(order)] = {  # type: ignore[index]
            "result": res["result"].to_dict("list"), "removal_effects": res["removal_effects"].to_dict("list")}
    (HERE / "reference.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
