"""Result frames as people read them: human column names, human durations, empty cells left empty.

The CSV download keeps the machine names and raw numbers (rounded sensibly); only the screen changes.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from journeys.analyses.funnels import FunnelResult
from journeys.durations import humanize_seconds
from journeys.stats import pvalue_text

PERCENT = {"conversion_from_start", "conversion_from_previous", "share", "probability", "entry_rate", "exit_rate", "top_next_share",
           "p_goal", "reach", "conversion_onward", "drop_off_rate", "conversion_rate", "pct_of_start", "pct_of_prev"}
# the Retention page's rates and shares (its tables name customers as customers)
PERCENT |= {"pct", "rate", "rate_low", "rate_high", "churned_share", "active_share", "churn_rate_with",
            "churn_rate_without", "p_alive"}
NAMES = {
    "customers": "journeys", "next_touchpoint": "did next", "conversion_from_start": "% of entered", "entered": "journeys entered",
    "conversion_from_previous": "% of previous step", "drop_off": "dropped off", "median_s": "median time",
    "p25_s": "time, 25th pct", "p75_s": "time, 75th pct", "p90_s": "time, 90th pct", "median_duration_s": "median duration",
    "median_time_s": "time spent (gaps < 30 min)", "avg_score": "avg. score", "drop_offs": "journeys ending here unconverted",
    "drop_off_rate": "% ending here unconverted", "pain_point": "pain point", "p_goal": "P(goal)", "pagerank": "PageRank",
    "conversion_onward": "% converting after", "pct_of_start": "% of start", "pct_of_prev": "% of previous step",
    "entry_rate": "% entering here", "exit_rate": "% leaving here", "conversion_rate": "conversion",
    "count": "transitions", "share": "% of journeys", "probability": "P(next)", "converted": "converted", "value": "value", "label": "touchpoint",
}
_FRACTION_DECIMALS = 4
STEP_ARROW = "→ "
WIDE = {"path"}
# the columns each table shows first (and only), in reading order; the CSV keeps them all
STEP_COLUMNS = ["step", "label", "customers", "conversion_from_previous", "conversion_from_start", "drop_off",
                "median_s", "p90_s"]
VARIANT_COLUMNS = ["path", "customers", "share", "conversion_rate", "median_duration_s", "revenue"]
NODE_COLUMNS = ["touchpoint", "volume", "p_goal", "entry_rate", "exit_rate", "entries", "exits", "pagerank"]
EDGE_COLUMNS = ["source", "target", "count", "customers", "probability", "share", "median_s", "p90_s"]
MAP_COLUMNS = ["stage", "touchpoint", "pain_point", "journeys", "reach", "conversion_onward", "drop_offs",
               "drop_off_rate", "top_next", "top_next_share", "median_time_s", "avg_score", "events"]


def human_name(column: str) -> str:
    """Known result columns get their names; columns named after user data (steps) stay as they are."""
    if column.startswith(STEP_ARROW):
        return column
    return NAMES.get(column, column.replace("_", " "))


def is_duration(column: str) -> bool:
    return column.endswith("_s")


def display(frame: pd.DataFrame, names: dict[str, str] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A copy for the screen, and its column config. Durations become text ("4.2 min"); shares show as
    percentages with one decimal; columns with gaps become text with the gaps empty (Streamlit would print
    "None"); the rest stay numbers, so they still sort. ``names`` overrides human names."""
    out = pd.DataFrame(index=frame.index)
    config: dict[str, Any] = {}
    for col in frame.columns:
        s = frame[col]
        name = (names or {}).get(str(col)) or human_name(str(col))
        if is_duration(str(col)):
            out[name] = [humanize_seconds(v) if v is not None and v == v else "" for v in s]
        elif col in SCIENTIFIC:  # p- and q-values: 3e-22 must not read 0.00
            out[name] = [pvalue_text(v) or "" for v in s]
        elif col in PERCENT or str(col).startswith(STEP_ARROW):
            if s.isna().any():
                out[name] = [f"{v:.1%}" if v is not None and v == v else "" for v in s]
            else:
                out[name] = s.astype("float64") * 100
                config[name] = st.column_config.NumberColumn(name, format="%.1f%%")
        elif pd.api.types.is_bool_dtype(s):
            out[name] = s
        elif pd.api.types.is_numeric_dtype(s) and s.isna().any():
            # a float column keeps two decimals throughout (an average of exactly 3 next to 3.24 reads "3.00")
            out[name] = [_number(v, pd.api.types.is_float_dtype(s) and not _whole(s)) for v in s]
        elif pd.api.types.is_numeric_dtype(s):
            out[name] = s
            fmt = "%.2f" if pd.api.types.is_float_dtype(s) else "localized"
            config[name] = st.column_config.NumberColumn(name, format=fmt)
        else:
            if col in WIDE:
                config[name] = st.column_config.TextColumn(name, width="large")
            out[name] = ["" if v is None or (isinstance(v, float) and v != v) or v is pd.NA else str(v) for v in s]
    return out, config


def step_table(result: FunnelResult) -> pd.DataFrame:
    """One row per breakdown value: journeys entered, each step's conversion from the previous step
    (columns ``→ 2. add_to_cart`` ...), and the whole funnel's conversion."""
    b = result.breakdown
    if b is None or b.empty:
        return pd.DataFrame(columns=["value", "entered"])
    labels = result.query.labels
    wide = b.pivot(index="value", columns="step", values="conversion_from_previous")
    entered = b[b.step == 1].set_index("value").customers
    out = pd.DataFrame({"value": entered.index, "entered": entered.to_numpy()})
    for k in range(2, len(labels) + 1):
        out[f"{STEP_ARROW}{k}. {labels[k - 1]}"] = wide.loc[out.value, k].to_numpy()
    last = b[b.step == len(labels)].set_index("value").conversion_from_start
    out["conversion_from_start"] = last.loc[out.value].to_numpy()
    return out


def _number(v: Any, decimals: bool = False) -> str:
    if v is None or v != v:
        return ""
    return f"{v:,.0f}" if float(v).is_integer() and not decimals else f"{v:,.2f}"


def _whole(s: pd.Series) -> bool:
    """Every value a whole number (counts kept as floats because of gaps)."""
    v = s.dropna()
    return bool((v == v.round(0)).all())


def for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """Machine-friendly columns (``→ 2. add_to_cart`` becomes ``conversion_to_step_2``), fractions to 4
    decimals, seconds and amounts to 2."""
    out = frame.rename(columns={c: f"conversion_to_step_{str(c)[len(STEP_ARROW):].split('.', 1)[0]}"
                                for c in frame.columns if str(c).startswith(STEP_ARROW)})
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]) and col not in SCIENTIFIC:
            fraction = col in PERCENT or str(col).startswith("conversion_to_step_")
            out[col] = out[col].round(_FRACTION_DECIMALS if fraction else 2)
    return out
# voice of the customer (app/screens/voice.py)
PERCENT.update({"negative_share", "top2_share", "exposed_rate", "baseline_rate", "other_share", "promoters",
                "passives", "detractors"})
NAMES.update({"negative_share": "% negative", "avg_sentiment": "avg. sentiment", "top2_share": "top-2-box",
              "exposed_rate": "rate after (negative / low)", "baseline_rate": "rate after (positive / top-2)",
              "exposed": "customers (negative / low)", "baseline": "customers (positive / top-2)",
              "odds_ratio": "odds ratio", "ci_low": "95% CI low", "ci_high": "95% CI high",
              "negative_texts": "in negative texts", "other_texts": "in other texts", "times": "times written"})
# drivers (app/screens/drivers.py): rates as percentages; p- and q-values unrounded, in scientific notation
PERCENT.update({"rate_with", "rate_without", "share_with", "share_without", "p_goal_start", "p_goal_from", "change"})
SCIENTIFIC = {"p_value", "q_value"}
