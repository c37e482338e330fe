"""Data layer: table schemas, world directories, import of external data."""

from fintwin.data.importers import ImportFormat, import_transactions
from fintwin.data.world_dir import Manifest, World, WorldWriter, open_world, world_hashes

__all__ = [
    "ImportFormat",
    "Manifest",
    "World",
    "WorldWriter",
    "import_transactions",
    "open_world",
    "world_hashes",
]
