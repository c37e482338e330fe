"""The world report: one self-contained HTML page describing a world directory.

Sections, each shown only when its tables exist (otherwise a notice says what is absent):
world summary, daily volume, fraud by scenario over time, customer and merchant map, loan
outcomes by segment and thin-file flag, market paths.
"""

from __future__ import annotations

from pathlib import Path

import plotly.offline

from fintwin.data.world_dir import World, open_world
from fintwin.report._activity import (
    EVENT_TABLES,
    event_daily,
    fraud_section,
    map_section,
    summary_section,
    volume_section,
)
from fintwin.report._finance import loan_section, market_section
from fintwin.report._html import Section, render_page, write_atomic

__all__ = ["render_world_report", "world_report", "world_sections"]


def world_sections(world: World) -> list[Section]:
    """Every section of the world report, in page order.

    Parameters
    ----------
    world : World

    Returns
    -------
    list of Section
        Sections whose tables are absent carry only a notice and ``present=False``.
    """
    con = world.connect()
    try:
        daily = {t: event_daily(con, t) for t in EVENT_TABLES}
        return [
            summary_section(world),
            volume_section(daily),
            fraud_section(daily),
            map_section(con),
            loan_section(con),
            market_section(con),
        ]
    finally:
        con.close()


def render_world_report(world: World) -> str:
    """The world report of ``world`` as a complete HTML document (plotly.js inlined once)."""
    m = world.manifest
    seed = "no seed" if m.seed is None else f"seed {m.seed}"
    subtitle = f"Preset {m.preset}, {seed}, {m.days:,} days from {m.start}."
    return render_page(
        f"World report: {world.path.name}",
        subtitle,
        world_sections(world),
        plotly.offline.get_plotlyjs(),
    )


def world_report(world_or_path: World | str | Path, out: str | Path) -> Path:
    """Write the HTML report of a world directory.

    The whole page is rendered in memory first and then written through a temporary file and
    a rename, so an error leaves no (partial) file at ``out``.

    Parameters
    ----------
    world_or_path : World, str or Path
        An opened world or its directory (opened and verified here).
    out : str or Path
        HTML file to write; its parent directory is created if needed.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    IncompleteWorldError, CorruptWorldError
        The world directory cannot be opened.
    ParameterError
        ``out`` is an existing directory.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from fintwin.world import simulate
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> world = simulate(tmp / "w", "handbook", customers=50, days=3, seed=1)
    >>> path = world_report(world, tmp / "report.html")
    >>> "Fraud by scenario over time" in path.read_text(encoding="utf-8")
    True
    """
    world = world_or_path if isinstance(world_or_path, World) else open_world(world_or_path)
    return write_atomic(out, render_world_report(world))
