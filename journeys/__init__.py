"""journeys: customer journey analytics over any event export.

The core library. It never imports streamlit; only :mod:`journeys.charts` imports plotly.
"""

from __future__ import annotations

from journeys.errors import JourneyError
from journeys.schema import ROLES, ColumnMapping

__all__ = ["ROLES", "ColumnMapping", "JourneyError"]
__version__ = "0.1.0"
