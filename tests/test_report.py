"""The journey analysis report: figures worked out by hand, equal to the CLI's, escaped user strings,
an offline HTML file and a PDF."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from journeys.errors import QueryError
from journeys.report.build import build_report
from journeys.report.render import to_html, write_pdf
from journeys.segments import Filter, Segment
from journeys.shaping import Shaping
from journeys.views import ViewState


def shop_log(names: dict[str, str] | None = None) -> str:
    """80 customers on one day: all view then cart; 30 of 40 desktop and 10 of 40 mobile customers buy.

    Hand-worked: funnel view > cart > purchase enters 80, 80 reach the cart, 40 buy (50%); the worst step is
    cart > purchase (50%, 40 lost); by device it converts 75% on desktop and 25% on mobile."""
    n = names or {}
    view, cart, buy = n.get("view", "product_view"), n.get("cart", "add_to_cart"), n.get("buy", "purchase")
    rows = ["customer,ts,touchpoint,device"]
    for i in range(80):
        device = "desktop" if i < 40 else "mobile"
        buys = i < 30 or 40 <= i < 50
        c = f"c{i:03d}"
        rows += [f"{c},2025-03-01 10:{i % 60:02d}:00,{view},{device}", f"{c},2025-03-01 11:{i % 60:02d}:00,{cart},{device}"]
        if buys:
            rows.append(f"{c},2025-03-01 12:{i % 60:02d}:00,{buy},{device}")
    return "\n".join(rows) + "\n"


def ingest(store, write, text: str, name: str = "shop"):
    path = write("shop.csv", text)
    report = store.ingest(path, overrides={"customer": "customer", "timestamp": "ts", "touchpoint": "touchpoint"},
                          name=name)
    return store.get(report.dataset_id)


def view_of(info, **shaping) -> ViewState:
    return ViewState(dataset=info.id, shaping=Shaping(**shaping))


def test_hand_worked_figures_and_findings(store, write):
    info = ingest(store, write, shop_log())
    report = build_report(store.table(info.id), info, view_of(info, goal="purchase"))
    f = report.figures()
    assert f["funnel.steps"] == ["product_view", "add_to_cart", "purchase"]
    assert (f["funnel.entered"], f["funnel.completed"], f["funnel.conversion"]) == (80, 40, 0.5)
    assert (f["funnel.worst_step"], f["funnel.worst_step_rate"], f["funnel.worst_step_lost"]) == (3, 0.5, 40)
    assert (f["funnel.breakdown"], f["funnel.gap_worst_value"], f["funnel.gap_worst_rate"],
            f["funnel.gap_best_value"], f["funnel.gap_best_rate"]) == ("device", "mobile", 0.25, "desktop", 0.75)
    assert f["journey_map.pain_points"] == ["add_to_cart"]
    rules = {x.rule: x for x in report.findings}
    assert set(rules) == {"segment_gap", "biggest_drop", "pain_point", "negative_driver"}
    # one day of data counts as one month: (75% - 25%) x 40 mobile journeys at the cart = 20 a month
    assert rules["segment_gap"].figures["more_per_month"] == pytest.approx(20.0)
    assert "about 20 more journeys a month" in rules["segment_gap"].recommendation
    # 80 at the cart x 1 point x 100% onward (every buyer passed the cart) = 0.8 a month
    assert rules["biggest_drop"].figures["per_point"] == pytest.approx(0.8)
    assert rules["pain_point"].figures == {"drop_offs": 40, "rate": 0.5}
    assert "halving these endings keeps 20 more journeys going" in rules["pain_point"].recommendation
    # mobile: 10 of 40 convert against 30 of 40 others: odds ratio (10/30)/(30/10) = 1/9; 40 x 50 points = 20 a month
    assert rules["negative_driver"].figures == pytest.approx({"odds_ratio": 1 / 9, "more_per_month": 20.0})
    assert "device = mobile" in rules["negative_driver"].title
    assert [p.current for p in report.plan] == ["25.0%", "50.0%", "50.0%", "25.0%"]
    assert "bd=device" in (rules["segment_gap"].link or "") and "steps=product_view%2Cadd_to_cart%2Cpurchase" in (
        rules["segment_gap"].link or "")


def test_no_goal_means_no_conversion_findings(store, write):
    info = ingest(store, write, shop_log())
    report = build_report(store.table(info.id), info, view_of(info))
    assert "pain_point" not in {x.rule for x in report.findings}
    assert "no goal touchpoint" in report.section("scope").paragraphs[2]


def test_an_empty_segment_is_one_sentence(store, write):
    info = ingest(store, write, shop_log())
    view = replace(view_of(info, goal="purchase"), segment=Segment((Filter("attribute", ("martian",), column="device"),)))
    with pytest.raises(QueryError, match="Nothing to report: No customer matched"):
        build_report(store.table(info.id), info, view)


def test_hostile_names_are_escaped_in_html_and_shown_literally_in_pdf(store, write, tmp_path):
    hostile = {"view": "<script>alert(1)</script>", "cart": "<img src=x onerror=alert(2)>", "buy": "purchase"}
    info = ingest(store, write, shop_log(hostile), name="<b>shop</b>")
    report = build_report(store.table(info.id), info, view_of(info, goal="purchase"))
    html = to_html(report, images=False)
    assert "<script" not in html and "<img src=x" not in html and "<b>shop" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;shop&lt;/b&gt;" in html
    from pypdf import PdfReader

    pdf = write_pdf(html, tmp_path / "r.pdf")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.read_bytes())).pages)
    assert "<script>alert(1)</script>" in text and "<b>shop</b>" in text


def test_html_is_self_contained(store, write):
    info = ingest(store, write, shop_log())
    html = to_html(build_report(store.table(info.id), info, view_of(info, goal="purchase")), images=False)
    assert "http://127.0.0.1:8501/funnels?" in html  # links to views are the only URLs ...
    for remote in ("<script src", "<link ", "@import", "cdn."):  # ... nothing is fetched when it opens
        assert remote not in html
    assert f'content="{info.fingerprint}"' in html


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JOURNEYS_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "journeys", *args], capture_output=True, text=True, env=env, check=False)


def test_cli_report_quotes_the_figures_of_the_funnel_and_paths_commands(write, tmp_path):
    home = tmp_path / "home"
    path = write("shop.csv", shop_log())
    assert cli("ingest", str(path), "--map", "customer=customer", "--map", "timestamp=ts", "--map",
               "touchpoint=touchpoint", "--name", "shop", home=home).returncode == 0
    out = cli("report", "shop", "--goal", "purchase", "--out", str(tmp_path / "r.html"), "--pdf",
              str(tmp_path / "r.pdf"), "--no-charts", "--format", "json", home=home)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout)["figures"]
    funnel = json.loads(cli("funnel", "shop", "--goal", "purchase", "--steps", ",".join(figures["funnel.steps"]),
                            "--format", "json", home=home).stdout)
    assert figures["funnel.entered"] == funnel["steps"][0]["customers"]
    assert figures["funnel.completed"] == funnel["steps"][-1]["customers"]
    assert figures["funnel.conversion"] == funnel["steps"][-1]["conversion_from_start"]
    paths = json.loads(cli("paths", "shop", "--goal", "purchase", "--format", "json", home=home).stdout)
    assert (figures["paths.coverage"], figures["paths.journeys_total"]) == (paths["coverage"], paths["journeys_total"])
    assert figures["paths.top_path"] == paths["variants"][0]["path"]
    drivers = json.loads(cli("drivers", "shop", "--goal", "purchase", "--format", "json", home=home).stdout)
    assert (figures["drivers.customers"], figures["drivers.with_outcome"], figures["drivers.tested"]) == (
        drivers["customers"], drivers["with_outcome"], drivers["tested"]) == (80, 40, figures["drivers.tested"])
    ranked = [d["label"] for d in drivers["drivers"] if d["ranked"] and d["odds_ratio"] < 1 and d["q_value"] < 0.05]
    assert figures["drivers.top_negative"][0] in ranked  # device = mobile: 10 of 40 buy against 30 of 40
    assert (tmp_path / "r.pdf").read_bytes()[:5] == b"%PDF-"
    bad = cli("report", "shop", "--where", "device=martian", "--out", str(tmp_path / "x.html"), home=home)
    assert bad.returncode == 2 and "Nothing to report" in bad.stderr and "Traceback" not in bad.stderr


def test_the_samples_planted_effects_become_findings(store, tmp_path):
    """The bundled generator plants: e-mail acquisition converts, mobile checkout fails, bad service churns."""
    from journeys import sample

    path = tmp_path / "shop.parquet"
    sample.write(sample.generate_chunks(40_000, seed=7), path)
    info = store.get(store.ingest(path, name="shop").dataset_id)
    report = build_report(store.table(info.id), info, view_of(info, goal="purchase"))
    rules = {f.rule: f for f in report.findings}
    gap = report.figures()
    assert (gap["funnel.breakdown"], gap["funnel.gap_worst_value"], gap["funnel.gap_best_value"]) == (
        "acquisition_channel", "social", "email")
    assert "device = mobile" in gap["drivers.top_negative"]
    assert "call_centre" in rules["negative_voice"].title and "churn" in rules["negative_voice"].evidence
    assert rules["negative_voice"].figures["odds_ratio"] > 2
    # the planted mobile checkout problem is the gap finding, measured against the other devices
    assert rules["segment_gap"].title == "Largest gap: purchase for device = mobile"
    assert rules["negative_driver"].title == "Negative driver: device = mobile"
    voice = report.section("voice")
    assert "Outcomes compared here: conversion = purchase; churned = did account_closed or unsubscribe." in voice.paragraphs
    assert gap["voice.score_responses"] > 0 and 0 < gap["voice.score_top2"] < 1  # CSAT overall, as the VoC page
    assert [c.caption for c in voice.charts] == ["Emotion curve: sentiment (and score) by stage"]
    assert [c.caption for c in report.section("drivers").charts] == [
        "Drivers: odds ratios with 95% intervals (log scale; 1 = no effect)", "Attribution: conversions credited by each model"]
    assert [c.caption for c in report.section("journey_map").charts] == [
        "Where to act: reach against conversion after each touchpoint", "Emotion curve: average sentiment (and score) by stage"]
    retention = report.section("retention").paragraphs
    assert any("made only one purchase day" in p for p in retention)  # the Retention page's caution on the bands
    # the planted churn touchpoints are not among the last 5 before inactivity more than by chance: said, no table
    assert "No touchpoint is over-represented in the last 5 before churn beyond chance (q < 0.05)." in retention
    assert [c.caption for c in report.section("retention").charts] == [
        "Retention by cohort (thin) and the weighted average (bold)", "Churn rate per month (grey: too recent to know)",
        "Buyers by P(alive) (red: likely lost, green: active)"]
    assert [t.caption for t in voice.tables][-2:] == ["The most negative texts",
                                                      "Words and phrases over-represented in negative texts"]
    for f in report.findings:  # every finding and recommendation carries a number
        assert any(ch.isdigit() for ch in f.evidence) and any(ch.isdigit() for ch in f.recommendation)


def test_the_gap_finding_compares_a_value_with_the_rest_and_ranks_by_journeys_lost(store, write):
    """Device a converts 36 of 40, b 20 of 50, d 30 of 100. Against the best value (a, 90%), d would gain
    60 journeys a month; against the rest (a and b: 56 of 90), (56/90 - 30%) x 100 = 32.2. b's lag behind the
    rest (40% against 66 of 140) is within chance (Newcombe interval through zero), so it is no finding."""
    rows, i = ["customer,ts,touchpoint,device"], 0
    for device, n, buyers in (("a", 40, 36), ("b", 50, 20), ("d", 100, 30)):
        for j in range(n):
            c = f"c{i:03d}"
            rows.append(f"{c},2025-03-01 10:{i % 60:02d}:00,product_view,{device}")
            if j < buyers:
                rows.append(f"{c},2025-03-01 12:{i % 60:02d}:00,purchase,{device}")
            i += 1
    info = ingest(store, write, "\n".join(rows) + "\n", name="gaps")
    report = build_report(store.table(info.id), info, view_of(info, goal="purchase"))
    rules = {x.rule: x for x in report.findings}
    gap = rules["segment_gap"]
    assert gap.title == "Largest gap: purchase for device = d"
    assert gap.figures == pytest.approx({"more_per_month": (56 / 90 - 0.3) * 100, "worst_rate": 0.3, "best_rate": 56 / 90})
    # each other value's own rate too (a 36/40, b 20/50): what the linked Funnels breakdown shows
    assert ("against 62.2% for the other device values together (a 90.0%; b 40.0%; 95% interval of the difference "
            "18.1 to 44.6 points") in gap.evidence
    assert [p.current for p in report.plan if p.action.startswith("Fix purchase")] == ["30.0%"]
    assert "device = d" in rules["negative_driver"].title
    assert rules["negative_driver"].figures["more_per_month"] == pytest.approx((56 / 90 - 0.3) * 100)


def test_retention_section_quotes_the_retention_and_churn_commands(write, tmp_path):
    """Four customers start in the week of 2025-03-03: a comes back in weeks 1 and 2, b in week 1, c and d never.
    e starts on 2025-04-28, the data's last day, so its week 1 is not observed. Hand-worked average retention:
    week 1 2 of 4 (50%), week 2 1 of 4 (25%)."""
    rows = ["customer,ts,touchpoint"]
    for c in "abcd":
        rows.append(f"{c},2025-03-03 10:00:00,visit")
    rows += ["a,2025-03-10 12:00:00,visit", "a,2025-03-17 12:00:00,purchase", "b,2025-03-11 12:00:00,purchase",
             "e,2025-04-28 09:00:00,visit"]
    home = tmp_path / "home"
    path = write("r.csv", "\n".join(rows) + "\n")
    assert cli("ingest", str(path), "--name", "r", home=home).returncode == 0
    out = cli("report", "r", "--goal", "purchase", "--out", str(tmp_path / "r.html"), "--no-charts", "--format",
              "json", home=home)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout)["figures"]
    assert figures["retention.retention_customers"] == 5
    average = figures["retention.retention_average"]
    assert (average["1"], average["2"]) == (0.5, 0.25)
    retention = json.loads(cli("retention", "r", "--goal", "purchase", "--format", "json", home=home).stdout)
    assert average == {str(r["k"]): r["pct"] for r in retention["average"] if r["k"] > 0 and r["pct"] is not None}
    churn = json.loads(cli("churn", "r", "--goal", "purchase", "--format", "json", home=home).stdout)
    assert (figures["retention.customers"], figures["retention.churned"]) == (churn["customers"], churn["churned"])


def test_stage_edits_reach_the_journey_map_command_and_the_report_alike(write, tmp_path):
    """shop_log: everyone views and carts, 40 of 80 buy. Guessed, add_to_cart is a purchase-stage touchpoint
    (purchase stage reached by all 80); edited to consideration, the purchase stage is reached by the 40 buyers."""
    home = tmp_path / "home"
    assert cli("ingest", str(write("shop.csv", shop_log())), "--map", "customer=customer", "--map", "timestamp=ts",
               "--map", "touchpoint=touchpoint", "--name", "shop", home=home).returncode == 0
    guessed = json.loads(cli("journey-map", "shop", "--goal", "purchase", "--format", "json", home=home).stdout)
    assert {s["stage"]: s["reach"] for s in guessed["stages"]} == {"consideration": 1.0, "purchase": 1.0}
    edit = ("--stage", "add_to_cart=consideration")
    jm = json.loads(cli("journey-map", "shop", "--goal", "purchase", *edit, "--format", "json", home=home).stdout)
    reach = {s["stage"]: s["reach"] for s in jm["stages"]}
    assert reach == {"consideration": 1.0, "purchase": 0.5} and jm["edited"] == {"add_to_cart": "consideration"}
    out = cli("report", "shop", "--goal", "purchase", *edit, "--out", str(tmp_path / "r.html"), "--no-charts",
              "--format", "json", home=home)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout)["figures"]
    assert figures["journey_map.stage_reach"] == reach
    assert "stg=add_to_cart%3Dconsideration" in (tmp_path / "r.html").read_text()  # the link reopens the edit
    typo = cli("report", "shop", "--goal", "purchas", "--out", str(tmp_path / "t.html"), home=home)
    assert typo.returncode == 2 and "Did you mean 'purchase'?" in typo.stderr and not (tmp_path / "t.html").exists()
    bad = cli("journey-map", "shop", "--stage", "add_to_cart=buying", home=home)
    assert bad.returncode == 2 and "'buying' is not a stage." in bad.stderr and "Traceback" not in bad.stderr


def test_no_rule_fires_on_a_zero_and_a_guessed_funnel_ends_at_the_goal(store, write):
    """40 customers all go home > browse > purchase: no step loses anyone, so there is no biggest drop-off and no
    gap; names fit no funnel rung, so the guess is the most common path, ending at the goal."""
    rows = ["customer,ts,touchpoint,device"]
    for i in range(40):
        device = "mobile" if i % 2 else "desktop"
        rows += [f"c{i:02d},2025-03-01 10:{i:02d}:00,home,{device}", f"c{i:02d},2025-03-01 10:{i:02d}:30,browse,{device}",
                 f"c{i:02d},2025-03-01 11:{i:02d}:00,purchase,{device}"]
    info = ingest(store, write, "\n".join(rows) + "\n", name="flat")
    report = build_report(store.table(info.id), info, view_of(info, goal="purchase"))
    assert report.figures()["funnel.steps"] == ["home", "browse", "purchase"]
    assert report.figures()["funnel.conversion"] == 1.0
    assert "worst_step" not in report.section("funnel").figures and "breakdown" not in report.section("funnel").figures
    assert not {"biggest_drop", "segment_gap"} & {f.rule for f in report.findings}
