"""``python -m fintwin.data.schemas``: print the data dictionary (docs/world.md) to stdout."""

from fintwin.data.schemas._render import render_data_dictionary

print(render_data_dictionary(), end="")
