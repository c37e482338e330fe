"""Reading the HTML report pages in tests: a section, a table row, a figure's JSON."""

from __future__ import annotations

import html
import json
import re


def section(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match, f"no section {anchor}"
    return match.group(1)


def row_cells(text: str, key: str) -> list[str]:
    """The unescaped cell texts of the table row with ``data-key`` ``key``."""
    match = re.search(rf'<tr data-key="{re.escape(html.escape(key))}">(.*?)</tr>', text, re.S)
    assert match, f"no row {key!r}"
    return [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", match.group(1))]


def figure(page: str, div_id: str) -> dict:
    """The JSON of the figure drawn into ``div_id``."""
    scripts = re.finditer(
        r'<script>\(function\(\)\{var f=(.*?);Plotly\.newPlot\("([^"]+)"', page, re.S
    )
    found = {m.group(2): m.group(1) for m in scripts}
    assert div_id in found, f"no figure {div_id} (figures: {sorted(found)})"
    return json.loads(found[div_id].replace("<\\/", "</"))
