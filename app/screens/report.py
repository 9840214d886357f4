"""Journey analysis report: the current view written up (findings, recommendations, plan) as HTML or PDF."""

from __future__ import annotations

import streamlit as st

from app import state
from app.ui import md, run, view

st.title("Journey analysis report")
v = view()
here = str(st.context.url or "").split("?")[0]
base = here.rsplit("/", 1)[0] if here.count("/") > 2 else here
r = run("Writing the report…", lambda: state.report(v, base))
st.caption(f"For this view: {md(v.segment.describe(v.shaping.goal))}; dataset fingerprint {r.fingerprint}. "
           f"Built in {r.elapsed_s:.1f} s from the same analyses as the pages, so every number matches them. "
           "Change the sidebar or open another page and come back to report on another view.")
row = st.container(horizontal=True)


def _html() -> bytes:
    from journeys.report.render import to_html

    return to_html(r).encode("utf-8")


def _pdf() -> bytes:
    import tempfile
    from pathlib import Path

    from journeys.report.render import to_html, write_pdf

    with tempfile.TemporaryDirectory() as tmp:
        return write_pdf(to_html(r), Path(tmp) / "report.pdf").read_bytes()


row.download_button("Download HTML report", data=_html, file_name="journey_report.html", mime="text/html",
                    icon=":material/description:", key="rep_html")
row.download_button("Download PDF report", data=_pdf, file_name="journey_report.pdf", mime="application/pdf",
                    icon=":material/picture_as_pdf:", key="rep_pdf")

st.subheader("Findings and recommendations", anchor=False)
if not r.findings:
    st.info("No rule found a finding with numbers behind it for this view."
            + ("" if v.shaping.goal else " Set a goal touchpoint in Journey shaping to get conversion findings."))
for k, f in enumerate(r.findings, 1):
    box = st.container(border=True)
    box.markdown(f"**{k}. {md(f.title)}**")  # names and values are user data: escaped, never markup
    box.markdown(md(f.evidence))
    box.markdown("**Recommendation:** " + md(f.recommendation))
    if f.link:
        box.link_button("Open the view", f.link)
st.subheader("Execution plan", anchor=False)
# a static table wraps its long cells (a data frame cut the audience column off); cells are escaped Markdown
if not r.plan:
    st.caption("No action: a plan row comes from a finding, and there is none.")
else:
    st.table([{"Action": md(p.action), "Metric to watch": md(p.metric), "Current": md(p.current), "Target": md(p.target),
               "Audience to act on": md(p.audience)} for p in r.plan], border="horizontal", hide_index=True)
st.subheader("Sections", anchor=False)
for k, s in enumerate(r.sections, 1):
    with st.expander(f"{k}. {s.title}"):
        if s.missing:
            st.markdown(md(s.missing))
        for p in s.paragraphs:
            st.markdown(md(p))
