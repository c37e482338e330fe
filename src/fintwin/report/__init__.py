"""HTML reports: self-contained pages with Plotly charts (plotly.js inlined, never a CDN)."""

from fintwin.report.world_report import render_world_report, world_report, world_sections

__all__ = ["render_world_report", "world_report", "world_sections"]
