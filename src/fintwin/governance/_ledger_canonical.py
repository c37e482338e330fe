"""The ledger's canonical encoding: RFC 8785 JSON Canonicalization Scheme (JCS).

Any auditor can recompute a record's bytes in another language with a JCS library
(``json-canonicalize`` in JavaScript, ``webpki/jcs`` in Go, ``cyberphone/json-canonicalization``
in Java ...). The rules, as RFC 8785 states them:

- objects: members sorted by key, compared as arrays of UTF-16 code units; no whitespace;
- strings: UTF-8; only ``"``, ``\\`` and the control characters U+0000-U+001F are escaped,
  as ``\\b \\t \\n \\f \\r`` where such a short form exists, else ``\\u00xx`` (lower-case hex);
  every other character, non-ASCII included, is written as itself;
- numbers: IEEE 754 doubles written as ECMAScript's ``Number.prototype.toString`` writes them
  (shortest digits that round-trip; plain notation from 1e-6 up to below 1e21, else
  ``d.ddde+NN`` / ``d.ddde-NN``; ``-0`` as ``0``); NaN and infinities are refused;
- literals ``true``, ``false``, ``null``.

Before encoding, :func:`to_json_value` maps the Python values fintwin records onto JSON:
:class:`~decimal.Decimal` (money) becomes a **string** (``str(value)``, so ``Decimal("12.30")``
stays ``"12.30"``: binary floats never carry money); timezone-aware datetimes become the
ledger's timestamp string (:func:`format_timestamp`); Enums their value; tuples lists.
Integers must lie within +-2**53 (JSON numbers are doubles: larger ones would silently round;
pass them as strings); naive datetimes, non-string keys, sets, bytes and NaN are refused.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import math
from collections.abc import Mapping
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from fintwin.exceptions import ParameterError

MAX_SAFE_INTEGER = 2**53
"""Largest magnitude of an integer payload value (exactly representable as a JSON number)."""


def format_timestamp(value: dt.datetime, name: str = "timestamp") -> str:
    """The ledger's timestamp text: UTC, microseconds, ``Z``: ``2026-11-21T09:30:00.000000Z``.

    Fixed width, so text order is time order. ``value`` must be timezone-aware.

    >>> cet = dt.timezone(dt.timedelta(hours=1))
    >>> format_timestamp(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=cet))
    '2026-01-02T02:04:05.000000Z'
    """
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise ParameterError(f"{name} must be a timezone-aware datetime (got {value!r})")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> dt.datetime:
    """Inverse of :func:`format_timestamp` (any ISO 8601 with an offset is accepted)."""
    value = dt.datetime.fromisoformat(text)
    if value.utcoffset() is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return value.astimezone(dt.UTC)


def to_json_value(value: Any, path: str = "payload") -> Any:
    """Map a Python value onto plain JSON values (dict, list, str, int, float, bool, None).

    ``path`` names the value in error messages (``payload.amount``).

    >>> to_json_value({"amount": decimal.Decimal("12.30"), "ids": (1, 2)})
    {'amount': '12.30', 'ids': [1, 2]}
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise ParameterError(f"{path} must be a finite number (got {value!r})")
        return value
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise ParameterError(f"{path} keys must be strings (got {key!r})")
            t = type(item)
            # plain scalars need no recursion (and no path text): most of a decision's values
            if t is str or t is bool or item is None or (t is float and math.isfinite(item)):
                out[key] = item
            else:
                out[key] = to_json_value(item, f"{path}.{key}")
        return out
    if isinstance(value, enum.Enum):
        return to_json_value(value.value, path)
    if isinstance(value, int):
        if not _exact_as_double(value):
            raise ParameterError(
                f"{path} must be an integer within +-2**53 to be exact in JSON, pass larger "
                f"ones as strings (got {value})"
            )
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParameterError(f"{path} must be a finite number (got {value!r})")
        return float(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise ParameterError(f"{path} must be a finite decimal (got {value!r})")
        return str(value)
    if isinstance(value, dt.datetime):
        return format_timestamp(value, path)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ParameterError(f"{path} keys must be strings (got {key!r})")
            out[key] = to_json_value(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [to_json_value(item, f"{path}[{i}]") for i, item in enumerate(value)]
    # numpy scalars and the like: accept what converts losslessly to a Python number
    item = getattr(value, "item", None)
    if callable(item):
        converted = item()
        if isinstance(converted, bool | int | float | str):
            return to_json_value(converted, path)
    raise ParameterError(
        f"{path} must be JSON-like (dict, list, str, int, float, bool, None, Decimal, aware "
        f"datetime, Enum) (got {type(value).__name__}: {value!r})"
    )


def canonical_string(text: str) -> str:
    """A JSON string literal under RFC 8785.

    >>> print(canonical_string('€"\\n\\x0f'))
    "€\\"\\n\\u000f"
    """
    # the json module's escaper (in C) escapes exactly what RFC 8785 does, the same way
    return encode_basestring(text)


def _exact_as_double(value: int) -> bool:
    """Within +-2**53, or a larger integer that a double holds exactly.

    The second kind is what parsing canonical JSON gives back for a large integral double
    (``1e16`` is written ``10000000000000000``): it loses nothing, so it encodes as it was.
    """
    if abs(value) <= MAX_SAFE_INTEGER:
        return True
    try:
        return int(float(value)) == value
    except OverflowError:
        return False


def canonical_number(value: float | int) -> str:
    """A number as ECMAScript ``Number.prototype.toString`` writes it (RFC 8785 section 3.2.2.3).

    >>> [canonical_number(x) for x in (1.0, -0.0, 1e21, 1e-7, 0.000001, 333333333.33333329)]
    ['1', '0', '1e+21', '1e-7', '0.000001', '333333333.3333333']
    """
    if isinstance(value, int):
        if not _exact_as_double(value):
            raise ParameterError(f"integer {value} is beyond +-2**53")
        value = float(value)
    if not math.isfinite(value):
        raise ParameterError(f"JSON numbers must be finite (got {value!r})")
    if value == 0:
        return "0"
    text = repr(value)
    if "e" not in text:
        # repr writes 1e-4 <= |x| < 1e16 in plain notation with the same shortest digits as
        # ECMAScript; only a trailing ".0" differs
        return text[:-2] if text.endswith(".0") else text
    return _exponent_number(value)


def _exponent_number(value: float) -> str:
    """ECMAScript's text of a double that ``repr`` writes with an exponent."""
    sign = "-" if value < 0 else ""
    # repr gives the shortest digits that round-trip (as ECMAScript requires); reformat them.
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # n: position of the decimal point relative to the first significant digit
    n = len(whole.lstrip("0")) if whole.strip("0") else -(len(frac) - len(frac.lstrip("0")))
    n += int(exp_text or 0)
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        exponent = n - 1
        text = (
            digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if exponent > 0 else "-")
        )
        text += str(abs(exponent))
    return sign + text


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def canonical_json(value: Any) -> str:
    """RFC 8785 text of a plain JSON value (see :func:`to_json_value` for Python values).

    >>> canonical_json({"b": [1.5, None, True], "a": "x", "é": 1e30})
    '{"a":"x","b":[1.5,null,true],"é":1e+30}'
    """
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts)


class CanonicalJson(str):
    """JSON text already in RFC 8785 form: a payload :meth:`Ledger.append_within
    <fintwin.governance.ledger.Ledger.append_within>` chains as it is, without decoding and
    encoding it again. Make it with :func:`canonical_payload`."""

    __slots__ = ()


def canonical_payload(payload: Any) -> CanonicalJson:
    """A record payload checked and encoded as the ledger will hash it.

    Raises
    ------
    ParameterError
        ``payload`` is not a mapping, or holds something the ledger refuses (naming it).

    >>> canonical_payload({"b": 1, "a": decimal.Decimal("2.50")})
    '{"a":"2.50","b":1}'
    """
    if not isinstance(payload, Mapping):
        raise ParameterError(f"payload must be a mapping (got {type(payload).__name__})")
    return CanonicalJson(canonical_json(to_json_value(payload)))


def canonical_bytes(value: Any) -> bytes:
    """:func:`canonical_json` encoded as UTF-8: the bytes that are hashed."""
    return canonical_json(value).encode("utf-8")


_FLOAT_TEXTS: dict[float, str] = {}  # the text of floats met before (features repeat values)
_FLOAT_TEXTS_MAX = 16384


def _float_text(value: float) -> str:
    text = _FLOAT_TEXTS.get(value)
    if text is None:
        text = canonical_number(value)  # raises for NaN and infinities, never cached
        if len(_FLOAT_TEXTS) < _FLOAT_TEXTS_MAX:
            _FLOAT_TEXTS[value] = text
    return text


def _encode(value: Any, out: list[str]) -> None:
    kind = type(value)  # exact types first: the common case, without isinstance chains
    if kind is str:
        out.append(encode_basestring(value))
    elif kind is float:
        out.append(_float_text(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(canonical_string(value))
    elif isinstance(value, int | float):
        out.append(canonical_number(value))
    elif isinstance(value, Mapping):
        _encode_object(value, out)
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise ParameterError(
            f"not a plain JSON value: {type(value).__name__} {value!r} (use to_json_value first)"
        )


# the members of objects met before, in canonical order, by the objects' keys in their own
# order: a decision body has the same keys every time, so they are checked and sorted once
_OBJECT_PLANS: dict[tuple[Any, ...], tuple[tuple[str, str], ...]] = {}
_OBJECT_PLANS_MAX = 1024


def _object_plan(keys: tuple[Any, ...]) -> tuple[tuple[str, str], ...]:
    """``(key, '"key":')`` of an object's members in RFC 8785 order."""
    for key in keys:
        if type(key) is not str:
            raise ParameterError(f"JSON object keys must be strings (got {key!r})")
    # code point order is UTF-16 order unless a key holds a character above U+FFFF
    ordered = sorted(keys, key=None if "".join(keys).isascii() else _utf16_key)
    plan = tuple((key, encode_basestring(key) + ":") for key in ordered)
    if len(_OBJECT_PLANS) < _OBJECT_PLANS_MAX:
        _OBJECT_PLANS[keys] = plan
    return plan


def _encode_object(value: Mapping[str, Any], out: list[str]) -> None:
    keys = tuple(value)
    if not keys:
        out.append("{}")
        return
    plan = _OBJECT_PLANS.get(keys) or _object_plan(keys)
    out.append("{")
    for key, member in plan:
        out.append(member)
        item = value[key]
        # the members of a decision's features are floats: no call per member for them
        if type(item) is float:
            out.append(_FLOAT_TEXTS.get(item) or _float_text(item))
        else:
            _encode(item, out)
        out.append(",")
    out[-1] = "}"
