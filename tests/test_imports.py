"""Layering: the core never imports streamlit, and only journeys.charts imports plotly."""

from __future__ import annotations

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
    for path in (ROOT / "journeys").rglob("*.py"):
        text = path.read_text()
        assert "import streamlit" not in text and "from streamlit" not in text, path
        if path.name != "charts.py":
            assert "import plotly" not in text and "from plotly" not in text, path
            assert "journeys.charts" not in text, path
