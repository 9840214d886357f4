"""Reading event exports: file sniffing, column mapping presets and detection, timestamp parsing."""

from __future__ import annotations

from journeys.io.presets import PRESETS, detect_mapping, preset_mapping
from journeys.io.readers import SourceFile, inspect_file, preview

__all__ = ["PRESETS", "SourceFile", "detect_mapping", "inspect_file", "preset_mapping", "preview"]
