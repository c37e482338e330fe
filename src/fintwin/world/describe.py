"""Summary tables of a world (what ``fintwin world describe`` prints and reports reuse)."""

from __future__ import annotations

import pandas as pd

from fintwin.data.world_dir import World

__all__ = ["describe_world"]


def describe_world(world: World) -> list[tuple[str, pd.DataFrame]]:
    """Titled summary frames: the manifest, row counts, and labelled events by scenario.

    Parameters
    ----------
    world : World

    Returns
    -------
    list of (str, DataFrame)
    """
    m = world.manifest
    out: list[tuple[str, pd.DataFrame]] = [
        (
            f"world {world.path}",
            pd.DataFrame(
                {
                    "preset": [m.preset],
                    "seed": [m.seed],
                    "start": [m.start],
                    "days": [m.days],
                    "schema": [m.schema_version],
                }
            ),
        ),
        (
            "tables",
            pd.DataFrame(
                {
                    "table": [n for n in sorted(m.tables)],
                    "rows": [m.tables[n].rows for n in sorted(m.tables)],
                    "files": [len(m.tables[n].files) for n in sorted(m.tables)],
                    "truth": [m.tables[n].truth for n in sorted(m.tables)],
                }
            ),
        ),
    ]
    con = world.connect()
    for name in ("transactions", "transfers"):
        if name in world.tables and m.tables[name].rows:
            frame = con.sql(
                f"""
                SELECT coalesce(fraud_scenario::VARCHAR, 'genuine') AS scenario,
                       count(*) AS rows,
                       count(*) / sum(count(*)) OVER () AS share,
                       sum(amount)::DOUBLE AS amount,
                       avg(epoch(label_available_at) - epoch("timestamp")) / 86400
                           AS mean_label_delay_days
                FROM "{name}" GROUP BY ALL ORDER BY rows DESC
                """
            ).df()
            out.append((f"{name} by fraud scenario", frame))
    return out
