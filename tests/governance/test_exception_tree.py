"""The tree drawn in fintwin.exceptions' docstring is the real class hierarchy, complete."""

from __future__ import annotations

import builtins
import re

import fintwin.exceptions as exceptions

_NODE = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+)(?: \((?P<builtin>\w+)\))?(?:\s|$)")


def _tree() -> list[tuple[int, str, str | None]]:
    """(depth, class name, built-in named in parentheses) for each line of the drawn tree."""
    lines = exceptions.__doc__.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "FintwinError")
    nodes = []
    for line in lines[start:]:
        text = line[4:]  # the tree is indented by four spaces in the docstring
        match = _NODE.match(text)
        if not match:
            break
        nodes.append((len(match["indent"]) // 4, match["name"], match["builtin"]))
    return nodes


def test_docstring_tree_matches_the_classes() -> None:
    nodes = _tree()
    parents: dict[int, str] = {}
    for depth, name, builtin in nodes:
        cls = getattr(exceptions, name)
        parents[depth] = name
        if depth == 0:
            assert cls is exceptions.FintwinError
            continue
        assert getattr(exceptions, parents[depth - 1]) in cls.__bases__, name
        if builtin is not None:
            assert getattr(builtins, builtin) in cls.__bases__, name
    assert sorted(name for _, name, _ in nodes) == sorted(exceptions.__all__)


def test_registry_errors_refine_the_right_builtins() -> None:
    assert issubclass(exceptions.ModelRegistryError, OSError)
    assert issubclass(exceptions.ModelNotFoundError, LookupError)
    for name in ("ModelNotFoundError", "IncompleteModelError", "CorruptModelError"):
        assert issubclass(getattr(exceptions, name), exceptions.ModelRegistryError)
