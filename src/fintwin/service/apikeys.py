"""API keys: random 256-bit secrets, stored only as keyed hashes in a keys file.

A key reads ``fwk_<id>_<secret>``: ``id`` is 12 hex digits naming the key (safe to log, used to
find its record), ``secret`` is 32 random bytes in base64url (43 characters). The fixed
prefix lets secret scanners recognise leaked keys.

Hashing
-------
The keys file stores ``hmac-sha256$<salt>$<digest>``: HMAC-SHA256 of the secret keyed by a
random 16-byte salt of that key. A slow password KDF (scrypt, Argon2) protects *low-entropy*
secrets from guessing; a 256-bit random secret cannot be guessed whatever the hash speed, so a
fast hash loses nothing and keeps authentication in microseconds at thousands of requests per
second (the practice of GitHub tokens and Stripe keys). The algorithm tag leaves room to
change it. Digests are compared in constant time, and an unknown id costs the same work as a
known one.

The keys file
-------------
JSON (or YAML when it ends in ``.yaml``/``.yml``), mode 0600, rewritten atomically (temporary
file, fsync, rename) under an exclusive lock so two ``keys create`` cannot lose one another's
key::

    {"version": 1, "keys": [{"id": "3f9c0a7d51be", "roles": ["analyst"],
      "hash": "hmac-sha256$...$...", "name": "alice", "created_at": "2024-05-01T12:00:00Z",
      "revoked_at": null}]}
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import enum
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from fintwin.exceptions import ServiceConfigError

__all__ = [
    "KEY_PREFIX",
    "ApiKeyFile",
    "ApiKeyRecord",
    "ApiKeyStore",
    "NewApiKey",
    "Principal",
    "Role",
    "hash_secret",
    "parse_api_key",
]

KEY_PREFIX = "fwk"
_ALGORITHM = "hmac-sha256"
_FILE_VERSION = 1
_ID_HEX = 12


class Role(enum.StrEnum):
    """What a key may do; the authorisation matrix maps each endpoint to the roles it allows."""

    SCORER = "scorer"
    """A payment system: asks for decisions, reads them back, reports chargebacks."""
    ANALYST = "analyst"
    """A fraud analyst: works the review queue, records verdicts and labels."""
    ADMIN = "admin"
    """An operator: activates models, uploads policies, reads metrics."""
    AUDITOR = "auditor"
    """Reads decisions, reviews, models and metrics; changes nothing."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request: the key's id (safe to log and record) and its roles."""

    key_id: str
    roles: frozenset[Role]
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """One key as stored: never the key itself, only its hash."""

    id: str
    roles: frozenset[Role]
    hash: str
    created_at: str
    name: str | None = None
    revoked_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "roles": sorted(r.value for r in self.roles),
            "hash": self.hash,
            "name": self.name,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A key just created: ``key`` is shown once and stored nowhere."""

    key: str
    record: ApiKeyRecord

    def __repr__(self) -> str:
        return f"NewApiKey(key=<hidden>, record={self.record!r})"


def hash_secret(secret: str, salt: bytes) -> str:
    """``hmac-sha256$<salt>$<digest>`` of a key's secret part (base64url, no padding)."""
    digest = hmac.new(salt, secret.encode(), hashlib.sha256).digest()
    return f"{_ALGORITHM}${_b64(salt)}${_b64(digest)}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_api_key(presented: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a presented key, or None when it is not shaped like one.

    Examples
    --------
    >>> parse_api_key("fwk_0123456789ab_" + "x" * 43)[0]
    '0123456789ab'
    >>> parse_api_key("hunter2") is None
    True
    """
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or len(key_id) != _ID_HEX or len(secret) != 43:
        return None
    if any(c not in "0123456789abcdef" for c in key_id):
        return None
    return key_id, secret


def _verify(secret: str, stored: str) -> bool:
    algorithm, _, rest = stored.partition("$")
    salt_text, _, digest_text = rest.partition("$")
    if algorithm != _ALGORITHM:
        return False
    expected = _unb64(digest_text)
    got = hmac.new(_unb64(salt_text), secret.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(got, expected)


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _record(entry: Any, index: int, path: Path) -> ApiKeyRecord:
    where = f"API keys file {path}, key #{index + 1}"
    if not isinstance(entry, Mapping):
        raise ServiceConfigError(f"{where}: must be a mapping (got {type(entry).__name__})")
    for field in ("id", "roles", "hash", "created_at"):
        if field not in entry:
            raise ServiceConfigError(f"{where}: lacks the field {field!r}")
    roles = entry["roles"]
    if isinstance(roles, str) or not isinstance(roles, list) or not roles:
        raise ServiceConfigError(f"{where}: 'roles' must be a non-empty list of role names")
    try:
        role_set = frozenset(Role(r) for r in roles)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ServiceConfigError(f"{where}: roles {roles!r} must be among {allowed}") from None
    key_id, hashed = str(entry["id"]), str(entry["hash"])
    if parse_api_key(f"{KEY_PREFIX}_{key_id}_{'x' * 43}") is None:
        raise ServiceConfigError(f"{where}: id {key_id!r} must be {_ID_HEX} lower-case hex digits")
    if not hashed.startswith(_ALGORITHM + "$") or hashed.count("$") != 2:
        # never print the stored hash: a hash is not a secret, but it is no one's business
        raise ServiceConfigError(f"{where} ({key_id}): 'hash' is not an {_ALGORITHM} hash")
    return ApiKeyRecord(
        id=key_id,
        roles=role_set,
        hash=hashed,
        created_at=str(entry["created_at"]),
        name=None if entry.get("name") is None else str(entry["name"]),
        revoked_at=None if entry.get("revoked_at") is None else str(entry["revoked_at"]),
    )


class ApiKeyFile:
    """The keys file: read it, add a key, revoke one (each write atomic and locked).

    Parameters
    ----------
    path : str or Path
        The file; its folder must exist to write.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.is_file()

    def read(self) -> list[ApiKeyRecord]:
        """Every record, revoked ones included.

        Raises
        ------
        ServiceConfigError
            The file is missing or malformed (the message names the file and the key).
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ServiceConfigError(
                f"API keys file {self.path} does not exist; create a key with: "
                "fintwin service keys create --role ROLE"
            ) from None
        except OSError as exc:
            raise ServiceConfigError(
                f"API keys file {self.path} cannot be read: {exc.strerror}"
            ) from None
        try:
            data = (
                yaml.safe_load(text)
                if self.path.suffix in (".yaml", ".yml")
                else json.loads(text or "{}")
            )
        except (ValueError, yaml.YAMLError) as exc:
            raise ServiceConfigError(f"API keys file {self.path} is not valid: {exc}") from None
        if not isinstance(data, Mapping) or not isinstance(data.get("keys", []), list):
            raise ServiceConfigError(
                f"API keys file {self.path} must be a mapping with a 'keys' list"
            )
        records = [_record(e, i, self.path) for i, e in enumerate(data.get("keys", []))]
        ids = [r.id for r in records]
        if len(set(ids)) != len(ids):
            raise ServiceConfigError(f"API keys file {self.path} repeats a key id")
        return records

    @contextlib.contextmanager
    def _locked(self) -> Iterator[list[ApiKeyRecord]]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield self.read() if self.exists() else []
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, records: Iterable[ApiKeyRecord]) -> None:
        body = {"version": _FILE_VERSION, "keys": [r.to_json() for r in records]}
        text = (
            yaml.safe_dump(body, sort_keys=False)
            if self.path.suffix in (".yaml", ".yml")
            else json.dumps(body, indent=2) + "\n"
        )
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def create(self, roles: Iterable[Role | str], name: str | None = None) -> NewApiKey:
        """Add a new random key with ``roles``; return it (the only time it exists in clear).

        Raises
        ------
        ServiceConfigError
            No role or an unknown role, or the existing file is malformed.
        """
        try:
            role_set = frozenset(Role(r) for r in roles)
        except ValueError as exc:
            allowed = ", ".join(r.value for r in Role)
            raise ServiceConfigError(f"role must be among {allowed} ({exc})") from None
        if not role_set:
            raise ServiceConfigError("a key needs at least one role")
        with self._locked() as records:
            taken = {r.id for r in records}
            key_id = secrets.token_hex(_ID_HEX // 2)
            while key_id in taken:  # pragma: no cover - 48 random bits
                key_id = secrets.token_hex(_ID_HEX // 2)
            secret = secrets.token_urlsafe(32)
            record = ApiKeyRecord(
                id=key_id,
                roles=role_set,
                hash=hash_secret(secret, secrets.token_bytes(16)),
                created_at=_now_text(),
                name=name,
            )
            self._write([*records, record])
        return NewApiKey(key=f"{KEY_PREFIX}_{key_id}_{secret}", record=record)

    def revoke(self, key_id: str) -> ApiKeyRecord:
        """Mark a key revoked (kept in the file, for the audit trail); return its record.

        Raises
        ------
        ServiceConfigError
            No key has this id.
        """
        with self._locked() as records:
            for i, r in enumerate(records):
                if r.id == key_id:
                    if r.revoked_at is None:
                        records[i] = replace(r, revoked_at=_now_text())
                        self._write(records)
                    return records[i]
        raise ServiceConfigError(f"API keys file {self.path} has no key with id {key_id!r}")


_DUMMY_HASH = hash_secret("x" * 43, b"\0" * 16)


class ApiKeyStore:
    """Authenticates presented keys against a keys file, re-read when it changes.

    Parameters
    ----------
    path : str or Path
        The keys file. It is read now (a missing or malformed file raises
        :class:`~fintwin.exceptions.ServiceConfigError`), then again whenever its modification
        time or size changes, checked at most every ``reload_seconds``: keys created or revoked
        take effect without a restart. A file that became malformed keeps the last good keys.
    reload_seconds : float
        Least interval between two checks of the file.
    """

    def __init__(self, path: str | Path, *, reload_seconds: float = 2.0) -> None:
        self._file = ApiKeyFile(path)
        self._reload_seconds = reload_seconds
        self._lock = threading.Lock()
        self._records: dict[str, ApiKeyRecord] = {}
        self._stamp: tuple[int, int] | None = None
        self._checked = -float("inf")
        self._load()

    @property
    def path(self) -> Path:
        return self._file.path

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self._file.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _load(self) -> None:
        stamp = self._file_stamp()
        self._records = {r.id: r for r in self._file.read()}
        self._stamp = stamp

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked < self._reload_seconds:
            return
        with self._lock:
            self._checked = now
            stamp = self._file_stamp()
            if stamp is not None and stamp != self._stamp:
                with contextlib.suppress(ServiceConfigError):
                    self._load()

    def __len__(self) -> int:
        return sum(1 for r in self._records.values() if r.revoked_at is None)

    def authenticate(self, presented: str) -> Principal | None:
        """The principal of a valid, unrevoked key; None for anything else."""
        self._maybe_reload()
        parsed = parse_api_key(presented)
        if parsed is None:
            return None
        key_id, secret = parsed
        record = self._records.get(key_id)
        # same work whether or not the id exists, so timing does not reveal valid ids
        ok = _verify(secret, record.hash if record is not None else _DUMMY_HASH)
        if record is None or not ok or record.revoked_at is not None:
            return None
        return Principal(key_id=record.id, roles=record.roles, name=record.name)
