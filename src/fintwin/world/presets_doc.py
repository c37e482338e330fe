"""``python -m fintwin.world.presets_doc``: print docs/presets.md to stdout."""

from fintwin.world._params_doc import render_presets_doc

if __name__ == "__main__":
    print(render_presets_doc(), end="")
