"""Layering: the core never imports streamlit, and only journeys.charts imports plotly."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _loaded_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return set(out.stdout.split())


def test_core_modules_import_neither_streamlit_nor_plotly():
    for module in ("journeys", "journeys.engine", "journeys.analyses.funnels", "journeys.analyses.paths",
                   "journeys.analyses.transitions", "journeys.cli", "journeys.segments", "journeys.views"):
        loaded = _loaded_after(module)
        assert "streamlit" not in loaded, module
        assert "plotly" not in loaded, module


def test_only_charts_imports_plotly_and_nothing_imports_streamlit():
    imports = re.compile(r"^\s*(?:import|from)\s+([\w.]+)", re.MULTILINE)
    for path in (ROOT / "journeys").rglob("*.py"):
        modules = set(imports.findall(path.read_text()))
        assert not any(m.startswith("streamlit") for m in modules), path
        if not path.name.startswith("charts"):  # charts.py and the per-view charts_<view>.py draw with plotly
            assert not any(m.startswith("plotly") for m in modules), path
            assert "journeys.charts" not in modules, path


def test_the_first_page_loads_no_model_libraries():
    # the dashboard's first run imports the view state, the Paths analysis and the sign-in's user store: scipy,
    # networkx and scikit-learn load when a model or the graph is computed, argon2 when a password is checked
    # (each cost a visitor's first page about 0.1 s)
    loaded = _loaded_after("journeys.views, journeys.analyses.paths, journeys.analyses.summary, journeys.auth.users")
    heavy = {"scipy", "networkx", "sklearn", "argon2"}
    assert not loaded & heavy, loaded & heavy
