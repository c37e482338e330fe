"""An explicit, pickle-free codec for the online engine's state values.

A shared backend stores state outside the process, so what it reads back must never be able to
run code: values are encoded field by field with MessagePack (numbers, strings, bytes, arrays,
maps), one stable type tag per class, and decoded only into the classes registered here.
Unknown tags, another format version or a malformed value are a :class:`DataError`; a value of
an unregistered class is a :class:`ParameterError`.

Layout: the MessagePack array ``[FORMAT, tag, field, ...]``. Integers beyond 64 bits (sums of
squared cents can get there) are an extension type holding their signed big-endian bytes.
Tuples come back as tuples and lists as lists, exactly as the engine built them, since heaps
compare their items and a list never compares with a tuple.

Examples
--------
>>> from fintwin.features._online_state import Clock
>>> c = decode_state(encode_state(Clock(1_700_000_000_000, 42)))
>>> (type(c).__name__, c.t, c.id)
('Clock', 1700000000000, 42)
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np

from fintwin.exceptions import DataError, ParameterError
from fintwin.features._online_state import (
    AgeKey,
    Clock,
    LabelKey,
    LabelTarget,
    LabelWindow,
    LastEvent,
    NoveltyKey,
    PendingIndex,
    PendingLabels,
    ProfileKey,
    Stamp,
    VelocityKey,
)
from fintwin.features.graph_engine import Edges, FraudMark

__all__ = ["FORMAT", "STATE_TAGS", "decode_state", "encode_state"]

#: Version of the layout; a stored value of another version is refused, not guessed at.
FORMAT = 1
_BIGINT = 1  # MessagePack extension code of integers beyond 64 bits


def _new(cls: type, **fields: Any) -> Any:
    """An instance built from its fields without running ``__init__``."""
    obj = cls.__new__(cls)
    for name, value in fields.items():
        setattr(obj, name, value)
    return obj


# -- one encoder (object -> fields) and decoder (fields -> object) per class --------------------
def _enc_velocity(v: VelocityKey) -> tuple:
    maxq = [None if q is None else list(q) for q in v.maxq]
    return (v.base, v.times, v.cents, v.ofs, v.heads, v.totals, maxq, v.distinct)


def _dec_velocity(base, times, cents, ofs, heads, totals, maxq, distinct) -> VelocityKey:
    return _new(
        VelocityKey,
        base=base,
        times=list(times),
        cents=list(cents),
        ofs=list(ofs),
        heads=list(heads),
        totals=list(totals),
        maxq=[None if q is None else deque(q) for q in maxq],
        distinct=[list(row) for row in distinct],
    )


def _enc_window(w: LabelWindow) -> tuple:
    return (w.w, w.d, w.waiting, w.inside, w.n, w.frauds)


def _dec_window(w, d, waiting, inside, n, frauds) -> LabelWindow:
    return _new(
        LabelWindow, w=w, d=d, waiting=list(waiting), inside=list(inside), n=n, frauds=frauds
    )


def _dec_label_key(latest, windows) -> LabelKey:
    return _new(LabelKey, latest=latest, windows=[_dec_window(*w) for w in windows])


def _dec_profile(base, times, cents, heads, s1, s2) -> ProfileKey:
    return _new(
        ProfileKey,
        base=base,
        times=list(times),
        cents=list(cents),
        heads=list(heads),
        s1=list(s1),
        s2=list(s2),
    )


_CODECS: dict[type, tuple[str, Callable[[Any], tuple], Callable[..., Any]]] = {
    VelocityKey: ("velocity", _enc_velocity, _dec_velocity),
    LastEvent: (
        "last",
        lambda v: (v.t, v.x, v.y),
        lambda t, x, y: _new(LastEvent, t=t, x=x, y=y),
    ),
    NoveltyKey: (
        "novelty",
        lambda v: (v.seen,),
        lambda seen: _new(NoveltyKey, seen=[OrderedDict(s) for s in seen]),
    ),
    LabelWindow: ("label_window", _enc_window, _dec_window),
    LabelKey: (
        "labels",
        lambda v: (v.latest, [_enc_window(w) for w in v.windows]),
        _dec_label_key,
    ),
    PendingLabels: (
        "pending_labels",
        lambda v: (v.seq, v.heap),
        lambda seq, heap: _new(PendingLabels, seq=seq, heap=list(heap)),
    ),
    PendingIndex: (
        "pending_index",
        lambda v: (v.head, v.hours),
        lambda head, hours: _new(PendingIndex, head=head, hours=list(hours)),
    ),
    LabelTarget: (
        "label_target",
        lambda v: (v.t, v.keys),
        lambda t, keys: _new(LabelTarget, t=t, keys=keys),
    ),
    Stamp: ("stamp", lambda v: (v.value,), lambda value: _new(Stamp, value=value)),
    Clock: ("clock", lambda v: (v.t, v.id), lambda t, i: _new(Clock, t=t, id=i)),
    ProfileKey: (
        "profile",
        lambda v: (v.base, v.times, v.cents, v.heads, v.s1, v.s2),
        _dec_profile,
    ),
    AgeKey: (
        "label_age",
        lambda v: (v.latest, v.frauds, v.genuine),
        lambda latest, frauds, genuine: _new(
            AgeKey, latest=latest, frauds=[list(f) for f in frauds], genuine=list(genuine)
        ),
    ),
    Edges: ("edges", lambda v: (v,), lambda edges: Edges(edges)),
    FraudMark: ("fraud_mark", lambda v: (v.t,), lambda t: _new(FraudMark, t=t)),
}
_ENCODERS = {cls: (tag, enc) for cls, (tag, enc, _) in _CODECS.items()}
_DECODERS = {tag: dec for tag, _, dec in _CODECS.values()}

#: Type tag of every state class the codec knows.
STATE_TAGS: dict[type, str] = {cls: tag for cls, (tag, _, _) in _CODECS.items()}


def _default(obj: Any) -> Any:
    """What MessagePack cannot pack natively: big integers and NumPy scalars."""
    if isinstance(obj, int):  # beyond 64 bits (MessagePack calls this on overflow)
        return msgpack.ExtType(_BIGINT, obj.to_bytes(obj.bit_length() // 8 + 1, "big", signed=True))
    if isinstance(obj, np.integer | np.bool_):  # keys read through NumPy: equal as Python
        return obj.item()
    raise TypeError(f"cannot encode a {type(obj).__name__} in online state: {obj!r}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _BIGINT:
        return int.from_bytes(data, "big", signed=True)
    raise DataError(f"unknown MessagePack extension {code} in a stored state value")


_PACKER = msgpack.Packer(default=_default, use_bin_type=True)


def encode_state(value: Any) -> bytes:
    """The bytes of one state value.

    Raises
    ------
    ParameterError
        The value is of no registered state class, or holds something not encodable (keys
        must be None, bool, int, float, str or bytes).
    """
    codec = _ENCODERS.get(type(value))
    if codec is None:
        raise ParameterError(
            f"cannot store a {type(value).__name__} in shared state: registered types are "
            f"{sorted(c.__name__ for c in _ENCODERS)}"
        )
    tag, enc = codec
    try:
        return _PACKER.pack((FORMAT, tag, *enc(value)))
    except (TypeError, ValueError, OverflowError) as err:
        raise ParameterError(f"cannot encode {tag!r} state: {err}") from None


def decode_state(data: bytes) -> Any:
    """The state value encoded in ``data`` (from :func:`encode_state`).

    Raises
    ------
    DataError
        The bytes are not a state value of this format: malformed, another format version or
        an unknown type tag.
    """
    try:
        obj = msgpack.unpackb(
            data, use_list=False, raw=False, strict_map_key=False, ext_hook=_ext_hook
        )
    except DataError:
        raise
    except Exception as err:  # msgpack raises several types on malformed input
        raise DataError(f"a stored state value is not valid MessagePack: {err}") from None
    if not isinstance(obj, tuple) or len(obj) < 2:
        raise DataError(f"a stored state value is not a [format, tag, ...] array: {obj!r:.80}")
    if obj[0] != FORMAT:
        raise DataError(f"a stored state value has format {obj[0]!r}; this version reads {FORMAT}")
    dec = _DECODERS.get(obj[1]) if isinstance(obj[1], str) else None
    if dec is None:
        raise DataError(f"unknown state type tag {obj[1]!r}; known tags are {sorted(_DECODERS)}")
    try:
        return dec(*obj[2:])
    except (TypeError, ValueError) as err:
        raise DataError(f"a stored {obj[1]!r} state value is malformed: {err}") from None
