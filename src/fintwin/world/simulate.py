"""``simulate``: build a preset's world and write it as a world directory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fintwin.data.world_dir import World, WorldWriter, open_world
from fintwin.world._engine import WorldModel, run_model
from fintwin.world.presets import Preset, build_model

__all__ = ["simulate", "write_world"]


def simulate(
    out: str | Path,
    preset: Preset | str = Preset.RETAIL_BANK,
    *,
    customers: int | None = None,
    days: int | None = None,
    start: dt.date | str | None = None,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    workers: int = 1,
    ray_address: str | None = None,
    overwrite: bool = False,
    on_chunk: Callable[[int, int], None] | None = None,
) -> World:
    """Simulate a world and write it to ``out`` atomically.

    Parameters
    ----------
    out : str or Path
        World directory to create.
    preset : Preset or str
        ``"retail-bank"`` (default), ``"handbook"``, ``"mobile-money"`` or ``"aml"``.
    customers, days : int, optional
        Size of the world; the preset's defaults when omitted.
    start : date or str, optional
        First simulated day.
    seed : int
        Root seed: the same seed gives byte-identical tables whatever ``workers`` is.
    params : mapping, optional
        Overrides of the preset's parameters (see each preset's ``*Params`` class).
    workers : int
        Processes computing blocks of customers in parallel.
    ray_address : str, optional
        Run blocks as Ray tasks on this cluster (``"local"`` starts one on this machine).
    overwrite : bool
        Replace an existing world at ``out``.
    on_chunk : callable, optional
        Called with ``(day0, day1)`` after each time chunk is written (progress bars).

    Returns
    -------
    World
        The opened world.
    """
    model = build_model(
        preset, customers=customers, days=days, start=start, seed=seed, params=params
    )
    return write_world(
        model, out, workers=workers, ray_address=ray_address, overwrite=overwrite, on_chunk=on_chunk
    )


def write_world(
    model: WorldModel,
    out: str | Path,
    *,
    workers: int = 1,
    ray_address: str | None = None,
    overwrite: bool = False,
    on_chunk: Callable[[int, int], None] | None = None,
) -> World:
    """Run an already built world model (see :func:`build_model`) and write it to ``out``."""
    config = model.config
    with WorldWriter(out, overwrite=overwrite) as writer:
        run_model(
            model, writer.write_table, workers=workers, ray_address=ray_address, on_chunk=on_chunk
        )
        writer.commit(
            preset=model.preset.value,
            seed=config.seed,
            start=config.start.isoformat(),
            days=config.days,
            parameters={"customers": config.customers, **model.parameters()},
        )
    return open_world(out, verify=False)
