"""API keys: stored as hashes, verified, file errors named, concurrent creates all kept."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from fintwin.exceptions import ServiceConfigError
from fintwin.service.apikeys import ApiKeyFile, ApiKeyStore, NewApiKey, Role, parse_api_key


def test_created_keys_are_stored_only_as_hashes(tmp_path: Path) -> None:
    f = ApiKeyFile(tmp_path / "keys.json")
    new = f.create(["analyst", Role.AUDITOR], name="alice")
    key_id, secret = parse_api_key(new.key)
    text = f.path.read_text()
    assert secret not in text and new.key not in text and secret not in repr(new)
    assert f.path.stat().st_mode & 0o777 == 0o600
    (rec,) = json.loads(text)["keys"]
    assert rec["id"] == key_id and rec["roles"] == ["analyst", "auditor"]
    assert rec["hash"].startswith("hmac-sha256$")
    who = ApiKeyStore(f.path).authenticate(new.key)
    assert who is not None and who.key_id == key_id and who.roles == {Role.ANALYST, Role.AUDITOR}


def test_two_keys_with_the_same_roles_differ(tmp_path: Path) -> None:
    f = ApiKeyFile(tmp_path / "keys.yaml")
    a, b = f.create(["scorer"]), f.create(["scorer"])
    assert a.key != b.key and a.record.hash != b.record.hash
    store = ApiKeyStore(f.path)
    assert len(store) == 2
    swapped = f"fwk_{a.record.id}_{parse_api_key(b.key)[1]}"  # b's secret under a's id
    assert store.authenticate(swapped) is None


def test_concurrent_creates_are_all_kept(tmp_path: Path) -> None:
    f = ApiKeyFile(tmp_path / "keys.json")
    made: list[NewApiKey] = []
    threads = [threading.Thread(target=lambda: made.append(f.create(["scorer"]))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = ApiKeyStore(f.path)
    assert len(store) == 8
    assert all(store.authenticate(k.key) is not None for k in made)


def test_revoked_keys_stay_in_the_file(tmp_path: Path) -> None:
    f = ApiKeyFile(tmp_path / "keys.json")
    new = f.create(["admin"])
    assert f.revoke(new.record.id).revoked_at is not None
    assert [r.id for r in f.read()] == [new.record.id]
    assert ApiKeyStore(f.path).authenticate(new.key) is None
    with pytest.raises(ServiceConfigError, match="no key with id 'ffffffffffff'"):
        f.revoke("ffffffffffff")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "is not valid"),
        ('{"keys": {}}', "must be a mapping with a 'keys' list"),
        ('{"keys": [{"id": "0123456789ab"}]}', "key #1: lacks the field 'roles'"),
        (
            '{"keys": [{"id": "0123456789ab", "roles": ["root"], "hash": "x", "created_at": "t"}]}',
            "roles ['root'] must be among scorer, analyst, admin, auditor",
        ),
        (
            '{"keys": [{"id": "XYZ", "roles": ["admin"], "hash": "x", "created_at": "t"}]}',
            "id 'XYZ' must be 12 lower-case hex digits",
        ),
        (
            '{"keys": [{"id": "0123456789ab", "roles": ["admin"], "hash": "md5$x", '
            '"created_at": "t"}]}',
            "'hash' is not an hmac-sha256 hash",
        ),
    ],
)
def test_malformed_files_are_named(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(ServiceConfigError, match=r"keys\.json") as exc:
        ApiKeyStore(path)
    assert needle in str(exc.value)


def test_a_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ServiceConfigError, match="fintwin service keys create --role ROLE"):
        ApiKeyStore(tmp_path / "none.json")


def test_a_file_broken_later_keeps_the_last_good_keys(tmp_path: Path) -> None:
    f = ApiKeyFile(tmp_path / "keys.json")
    new = f.create(["scorer"])
    store = ApiKeyStore(f.path, reload_seconds=0.0)
    f.path.write_text("{broken")
    assert store.authenticate(new.key) is not None
