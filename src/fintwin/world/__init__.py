"""The twin world: seeded, chunked, vectorised simulation of a bank's population and economy."""

from fintwin.world.presets import PRESETS, Preset, build_model
from fintwin.world.simulate import simulate

__all__ = ["PRESETS", "Preset", "build_model", "simulate"]
