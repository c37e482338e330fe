"""Data layer: table schemas, world directories, import of external data."""

from fintwin.data.world_dir import Manifest, World, WorldWriter, open_world, world_hashes

__all__ = ["Manifest", "World", "WorldWriter", "open_world", "world_hashes"]
