"""A report as one self-contained HTML file (charts as embedded PNG images, no scripts, no fonts or styles
from the network) and as a PDF drawn from that HTML by WeasyPrint. Every user string is escaped."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import jinja2

from journeys import charts
from journeys.report.model import Report

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="journeys-fingerprint" content="{{ r.fingerprint }}">
<title>{{ r.title }}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1f2430;
       max-width: 1100px; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.8rem; margin-bottom: .2rem; } h2 { border-bottom: 2px solid #e4e7ee; padding-bottom: .2rem; margin-top: 2rem; }
.meta { color: #5b6170; font-size: .9rem; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0 1.2rem; font-size: .88rem; }
th, td { border-bottom: 1px solid #e4e7ee; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f5f6f9; } td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
figure { margin: 1rem 0; page-break-inside: avoid; } figure img { width: 100%; border: 1px solid #eef0f4; }
figcaption { color: #5b6170; font-size: .88rem; }
.finding { border-left: 4px solid #4c78a8; padding: .4rem .8rem; margin: .8rem 0; background: #f8f9fc; page-break-inside: avoid; }
.finding h3 { margin: .2rem 0; font-size: 1.05rem; } .rec { font-weight: 600; }
.missing { color: #8a5a00; background: #fff8e6; padding: .4rem .6rem; }
a { color: #2c5aa0; word-break: break-all; }
h2, h3, caption { break-after: avoid; } table { break-inside: avoid; } /* no heading alone at a page's foot */
@page { size: A4; margin: 14mm; }
</style></head>
<body>
<h1>{{ r.title }}</h1>
<p class="meta">Dataset '{{ r.dataset_name }}' (id {{ r.dataset_id }}) · fingerprint <code>{{ r.fingerprint }}</code> ·
generated {{ r.generated }} UTC in {{ "%.1f"|format(r.elapsed_s) }} s by journeys.
Each section links to the dashboard view that shows its figures{% if link_base %} (on the dashboard at
<a href="{{ link_base }}">{{ link_base }}</a>){% endif %}.</p>
{% for s in r.sections %}
<section id="{{ s.key }}">
<h2>{{ loop.index }}. {{ s.title }}</h2>
{% if s.missing %}<p class="missing">{{ s.missing }}</p>{% endif %}
{% for p in s.paragraphs %}<p>{{ p }}</p>{% endfor %}
{% for c in images[s.key] %}<figure><img alt="{{ c.caption }}" src="data:image/png;base64,{{ c.png }}">
<figcaption>{{ c.caption }}</figcaption></figure>{% endfor %}
{% if chart_note and s.charts %}<p class="meta">{{ chart_note }}</p>{% endif %}
{% for t in s.tables %}<table><caption>{{ t.caption }}</caption>
<thead><tr>{% for h in t.columns.values() %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in t.rows() %}<tr>{% for cell in row %}<td{% if numeric(cell) %} class="n"{% endif %}>{{ cell }}</td>{% endfor %}</tr>{% endfor %}</tbody>
</table>{% endfor %}
{% if s.link %}<p class="meta">Open this view: <a href="{{ s.link }}">{{ s.link }}</a></p>{% endif %}
</section>
{% endfor %}
<section id="findings">
<h2>{{ r.sections|length + 1 }}. Findings and recommendations</h2>
{% if not r.findings %}<p class="missing">No rule found a finding with numbers behind it for this view.</p>{% endif %}
{% for f in r.findings %}<div class="finding"><h3>{{ loop.index }}. {{ f.title }}</h3>
<p>{{ f.evidence }}</p><p class="rec">Recommendation: {{ f.recommendation }}</p>
{% if f.link %}<p class="meta">Shown in: <a href="{{ f.link }}">{{ f.link }}</a></p>{% endif %}</div>{% endfor %}
</section>
<section id="plan">
<h2>{{ r.sections|length + 2 }}. Execution plan</h2>
{% if not r.plan %}<p class="missing">No action: a plan row comes from a finding, and there is none.</p>{% else %}
<table><thead><tr><th>Action</th><th>Metric to watch</th><th>Current</th><th>Target</th><th>Audience to act on</th></tr></thead>
<tbody>{% for p in r.plan %}<tr><td>{{ p.action }}</td><td>{{ p.metric }}</td><td class="n">{{ p.current }}</td>
<td class="n">{{ p.target }}</td><td>{{ p.audience }}</td></tr>{% endfor %}</tbody></table>{% endif %}
</section>
</body></html>
"""
#: charts are drawn this wide (CSS px) at twice the pixels: on an A4 page (516 pt of text width) their 12 px labels
#: print at about 8 pt; the dashboard's 1,400 px charts printed at 4 pt
CHART_WIDTH = 780
_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


_NUMBER = re.compile(r"[<>]?\s?[-+]?[\d,]*\.?\d+(e[-+]?\d+)?%?")


def _numeric(cell: str) -> bool:
    """A number as a table shows it (1,234; 46.8%; -0.51; < 1e-300; 2.4e-188): right-aligned, never wrapped."""
    return bool(_NUMBER.fullmatch(cell))


def to_html(report: Report, *, images: bool = True) -> str:
    """The report as one HTML document. Charts are PNGs drawn by kaleido when Chromium is available; without
    it the report says so and keeps every table and number."""
    drawn = images and charts.png_available()
    pictures: dict[str, list[dict[str, str]]] = {}
    for s in report.sections:
        pictures[s.key] = [{"caption": c.caption, "png": base64.b64encode(
            charts.to_png(c.figure, width=CHART_WIDTH, scale=2)).decode("ascii")} for c in s.charts] if drawn else []
    note = "" if drawn else "Charts are left out: drawing them needs Chromium, which is not installed here."
    return _ENV.from_string(_TEMPLATE).render(r=report, images=pictures, chart_note=note, numeric=_numeric,
                                              link_base=report.link_base)


def write_html(report: Report, path: str | Path, *, images: bool = True) -> Path:
    out = Path(path)
    out.write_text(to_html(report, images=images), encoding="utf-8")
    return out


def write_pdf(html: str, path: str | Path) -> Path:
    """The HTML report as a PDF (WeasyPrint; no network: every image is embedded)."""
    import weasyprint

    out = Path(path)
    weasyprint.HTML(string=html, base_url=None).write_pdf(out)
    return out
