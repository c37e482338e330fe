"""Tokenisation: identifiers of people replaced by a keyed hash before anything is stored or logged.

A token is ``tok_`` followed by the first 128 bits of HMAC-SHA256(token key, field kind, NUL,
normalised value), in lower-case base32 without padding (26 characters), e.g.
``tok_q3k5...``. It is

- **deterministic**: the same card number gives the same token in every event, on every
  instance sharing the key, so features keyed by card (or customer) still work;
- **keyed**: without the key nobody can test a guessed card number against a token (a plain
  hash of a 16-digit PAN falls to brute force in minutes);
- **domain-separated**: a phone number and a national id with the same digits give different
  tokens, so tokens of different kinds cannot be joined;
- **normalised** first: ``"4111 1111-1111 1111"`` and ``"4111111111111111"`` are one card.

128 bits make a collision between two of even 10^12 identifiers a 1-in-10^15 event. Rotating the
key changes every token, which restarts the history of every card: treat it as a migration.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from fintwin.exceptions import ServiceConfigError

if TYPE_CHECKING:
    from fintwin.service.schemas import PaymentEvent

__all__ = [
    "MIN_TOKEN_KEY_BYTES",
    "OPTIONAL_FIELDS",
    "PERSON_FIELDS",
    "TOKEN_PREFIX",
    "Tokeniser",
    "mask_card_numbers",
    "service_event",
    "tokenise_event",
]

TOKEN_PREFIX = "tok_"
MIN_TOKEN_KEY_BYTES = 32
"""A token key shorter than 256 bits is refused."""
PERSON_FIELDS = ("card_number", "phone", "national_id")
"""Event fields identifying a person: always tokenised by :func:`service_event`."""
OPTIONAL_FIELDS = ("customer_id", "card_id", "device_id", "ip_prefix", "terminal_id")
"""Event fields that may be tokenised too (``FINTWIN_TOKENISE_FIELDS``)."""

_TOKEN_BITS = 128
_SEPARATORS = re.compile(r"[\s\-().]")
# 13 to 19 digits, possibly grouped by single spaces or hyphens, not inside a longer number
_PAN_LIKE = re.compile(r"(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])")


def _normalise(field: str, value: Any) -> str:
    text = str(value).strip()
    if field in ("card_number", "phone"):
        return _SEPARATORS.sub("", text)
    if field == "national_id":
        return _SEPARATORS.sub("", text).upper()
    return text


class Tokeniser:
    """Keyed, deterministic tokens of identifiers.

    Parameters
    ----------
    key : bytes
        The token key, at least 32 bytes (``FINTWIN_TOKEN_KEY`` or ``FINTWIN_TOKEN_KEY_FILE``).

    Examples
    --------
    >>> t = Tokeniser(b"k" * 32)
    >>> t.token("card_number", "4111 1111 1111 1111") == t.token("card_number", "4111111111111111")
    True
    >>> len(t.token("phone", "+44 20 7946 0000"))
    30
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_TOKEN_KEY_BYTES:
            raise ServiceConfigError(
                f"the token key must be at least {MIN_TOKEN_KEY_BYTES} bytes "
                f"(got {len(key)}); generate one with: python -c "
                '"import secrets; print(secrets.token_urlsafe(48))"'
            )
        self._key = key

    def __repr__(self) -> str:
        return "Tokeniser(key=<hidden>)"

    def token(self, field: str, value: Any) -> str:
        """The token of ``value`` as an identifier of kind ``field`` (``tok_`` + 26 characters)."""
        msg = field.encode() + b"\x00" + _normalise(field, value).encode()
        digest = hmac.new(self._key, msg, hashlib.sha256).digest()[: _TOKEN_BITS // 8]
        return TOKEN_PREFIX + base64.b32encode(digest).decode().rstrip("=").lower()


def tokenise_event(
    event: Mapping[str, Any], fields: Iterable[str], tokeniser: Tokeniser
) -> dict[str, Any]:
    """A copy of ``event`` with each of ``fields`` that is present and not null tokenised.

    Apply it once: a token given again is hashed again, into another token.

    Parameters
    ----------
    event : Mapping
        One event, field name -> value.
    fields : iterable of str
        The fields to replace; absent fields are skipped.
    tokeniser : Tokeniser
        Holds the key.

    Examples
    --------
    >>> t = Tokeniser(b"k" * 32)
    >>> out = tokenise_event({"card_number": "4111111111111111", "amount": 5}, ["card_number"], t)
    >>> out["card_number"].startswith("tok_"), out["amount"]
    (True, 5)
    """
    out = dict(event)
    for field in fields:
        value = out.get(field)
        if value is not None:
            out[field] = tokeniser.token(field, value)
    return out


def service_event(
    payment: PaymentEvent, tokeniser: Tokeniser, extra_fields: Iterable[str] = ()
) -> dict[str, Any]:
    """The engine event of a validated payment, person identifiers tokenised.

    :data:`PERSON_FIELDS` are always tokenised, ``extra_fields`` (e.g. ``customer_id``, set by
    ``FINTWIN_TOKENISE_FIELDS``) too. A payment that names its card only by number gets the
    card number's token as ``card_id``, so card features work on it.

    Returns
    -------
    dict
        ``name -> value`` as :meth:`fintwin.risk.DecisionEngine.decide` reads it; safe to store
        and log.
    """
    event = tokenise_event(payment.to_event(), (*PERSON_FIELDS, *extra_fields), tokeniser)
    if event.get("card_id") is None and event.get("card_number") is not None:
        event["card_id"] = event["card_number"]
    return event


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mask_card_numbers(text: str, mask: str = "[card number removed]") -> str:
    """``text`` with every card-number-like digit run (13-19 digits passing Luhn) replaced.

    For free text such as a reviewer's comment, which must not carry a PAN into storage.

    Examples
    --------
    >>> mask_card_numbers("card 4111 1111 1111 1111 used twice, order 1234567890123")
    'card [card number removed] used twice, order 1234567890123'
    """

    def repl(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group())
        return mask if _luhn_ok(digits) else m.group()

    return _PAN_LIKE.sub(repl, text)
