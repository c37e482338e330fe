"""YAML documents read safely, with the line of every field, into strict pydantic models.

:class:`YamlDocument` parses with PyYAML's safe loader, refuses aliases (a shared node can
expand exponentially) and duplicate keys, and finds the line of any key or value; its problems
are :class:`YamlDocumentError` (a message and a line) that each caller turns into its own error
(a policy's :class:`~fintwin.exceptions.PolicyError`, a scenario's ``DataError``).
:func:`load_yaml_model` validates a whole file against a pydantic model;
:func:`builtin_yaml_path` finds a file shipped with fintwin (a policy, a scenario).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from fintwin.exceptions import DataError, FintwinError, ParameterError

__all__ = [
    "YamlDocument",
    "YamlDocumentError",
    "builtin_yaml_path",
    "field_path",
    "load_yaml_model",
]

M = TypeVar("M", bound=BaseModel)
Loc = tuple[int | str, ...]


class YamlDocumentError(FintwinError):
    """Why a document cannot be read, and its 1-based line when known.

    Internal: each caller turns it into the error its users see (with the file's name)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class YamlDocument:
    """One YAML document: its node tree (for lines) and its data.

    Parameters
    ----------
    text : str
        The document.
    max_bytes : int
        Larger documents are refused before parsing.
    kind : str
        What the document is, for messages (``"a policy file"``).

    Raises
    ------
    YamlDocumentError
        Too large, a syntax error, an alias or a duplicate key.
    """

    def __init__(self, text: str, *, max_bytes: int, kind: str) -> None:
        if len(text.encode()) > max_bytes:
            raise YamlDocumentError(f"the file is larger than {max_bytes} bytes")
        loader = yaml.SafeLoader(text)
        try:
            self.root = loader.get_single_node()
            if self.root is not None:
                _check_nodes(self.root, kind)
            self.data = None if self.root is None else loader.construct_document(self.root)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            what = exc.problem or exc.context or "invalid YAML"
            if exc.context and exc.problem and exc.context_mark is not None:
                what += f" ({exc.context} started at line {exc.context_mark.line + 1})"
            raise YamlDocumentError(
                f"YAML syntax error: {what}", None if mark is None else mark.line + 1
            ) from None
        except yaml.YAMLError as exc:
            raise YamlDocumentError(f"YAML syntax error: {exc}") from None
        finally:
            loader.dispose()

    def line(self, loc: Loc, *, key: bool = False) -> int | None:
        """1-based line of the value (or key) at ``loc``, else of its nearest parent."""
        node = self.root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in loc:
            child, key_node = None, None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                        child, key_node = v, k
                        break
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(part, int)
                and 0 <= part < len(node.value)
            ):
                child = node.value[part]
            if child is None:
                return line
            node = child
            line = (key_node if key and key_node is not None else child).start_mark.line + 1
        return line


def _check_nodes(root: yaml.Node, kind: str) -> None:
    """Refuse aliases and duplicate keys."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise YamlDocumentError(
                f"YAML aliases (*name) are not allowed in {kind}", node.start_mark.line + 1
            )
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: dict[object, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in keys:
                        raise YamlDocumentError(
                            f"duplicate key {key.value!r} (first at line {keys[key.value]})",
                            key.start_mark.line + 1,
                        )
                    keys[key.value] = key.start_mark.line + 1
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("paths", "unemployment", 3)`` -> ``paths.unemployment[3]``."""
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker of a bad mapping key: the key is the field
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_yaml_model(path: str | Path, model: type[M], *, max_bytes: int = 1_000_000) -> M:
    """Parse ``path`` as YAML and validate it as ``model``.

    Raises
    ------
    DataError
        The file cannot be read, is not YAML, or breaks the model: the message names the file,
        the line and, as ``column``, the field path (``credit.min_bureau_score``,
        ``paths.unemployment[3]``) with what was expected.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DataError(f"cannot be read: {error.strerror}", file=path) from None
    try:
        document = YamlDocument(text, max_bytes=max_bytes, kind="this file")
    except YamlDocumentError as problem:
        where = "" if problem.line is None else f"line {problem.line}: "
        raise DataError(f"{where}{problem.message}", file=path) from None
    if not isinstance(document.data, dict):
        raise DataError("must be a YAML mapping at the top level", file=path)
    try:
        return model.model_validate(document.data)
    except ValidationError as error:
        first = error.errors()[0]
        loc = tuple(first["loc"])
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        line = document.line(tuple(p for p in loc if p != "[key]"), key="[key]" in loc)
        raise DataError(
            f"line {line}: {first['msg']} (got {first.get('input')!r}){more}",
            file=path,
            column=field_path(loc) or None,
        ) from None


def builtin_yaml_path(package: str, folder: str, name: str, what: str) -> Path:
    """Path of the file ``NAME.yaml`` shipped in ``package``'s ``folder``.

    Raises
    ------
    ParameterError
        No such file; the message names ``what`` (``"policy"``, ``"scenario"``) and lists the
        ones shipped.
    """
    shipped = files(package) / folder
    available = sorted(
        p.name.removesuffix(".yaml") for p in shipped.iterdir() if p.name.endswith(".yaml")
    )
    if name not in available:
        raise ParameterError(f"no built-in {what} {name!r} (available: {', '.join(available)})")
    return Path(str(shipped / f"{name}.yaml"))
