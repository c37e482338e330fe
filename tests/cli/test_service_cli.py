"""`fintwin service keys create | list | revoke`: the key printed once, only its hash stored."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fintwin.cli import app
from fintwin.service.apikeys import ApiKeyStore, Role, parse_api_key

runner = CliRunner()


def test_create_prints_the_key_once_and_stores_its_hash(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    r = runner.invoke(app, ["service", "keys", "create", "--role", "analyst", "--file", str(keys)])
    assert r.exit_code == 0, r.output
    key = r.stdout.strip()
    key_id, secret = parse_api_key(key)
    assert "shown only this once" in r.stderr
    assert secret not in keys.read_text() and secret not in r.stderr
    who = ApiKeyStore(keys).authenticate(key)
    assert who is not None and who.roles == {Role.ANALYST}

    listed = runner.invoke(app, ["service", "keys", "list", "--file", str(keys), "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert row["id"] == key_id and row["roles"] == ["analyst"] and "hash" not in row
    assert secret not in listed.stdout and "hmac" not in listed.stdout


def test_several_roles_json_and_the_environment(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    r = runner.invoke(
        app,
        ["service", "keys", "create", "--role", "admin", "--role", "auditor", "--name", "ops"],
        env={"FINTWIN_API_KEYS_FILE": str(keys)},
    )
    assert r.exit_code == 0, r.output
    out = json.loads(
        runner.invoke(
            app,
            ["service", "keys", "create", "--role", "scorer", "--json", "--file", str(keys)],
        ).stdout
    )
    assert out["roles"] == ["scorer"] and parse_api_key(out["key"])[0] == out["id"]
    first = parse_api_key(r.stdout.strip())[0]
    table = runner.invoke(app, ["service", "keys", "list", "--file", str(keys)])
    assert first in table.stdout and "admin, auditor" in table.stdout and "ops" in table.stdout


def test_revoke(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    key = runner.invoke(
        app, ["service", "keys", "create", "--role", "scorer", "--file", str(keys)]
    ).stdout.strip()
    key_id = parse_api_key(key)[0]
    r = runner.invoke(app, ["service", "keys", "revoke", key_id, "--file", str(keys)])
    assert r.exit_code == 0, r.output
    assert ApiKeyStore(keys).authenticate(key) is None
    r = runner.invoke(app, ["service", "keys", "revoke", "abcdefabcdef", "--file", str(keys)])
    assert r.exit_code == 2 and "no key with id 'abcdefabcdef'" in r.stderr


def test_errors(tmp_path: Path) -> None:
    r = runner.invoke(app, ["service", "keys", "create", "--role", "root", "--file", "k.json"])
    assert r.exit_code == 2 and "'root' is not one of" in r.output
    missing = tmp_path / "nowhere" / "k.json"
    r = runner.invoke(app, ["service", "keys", "create", "--role", "admin", "--file", str(missing)])
    assert r.exit_code == 2 and "does not exist" in r.stderr
    r = runner.invoke(app, ["service", "keys", "list", "--file", str(missing)])
    assert r.exit_code == 2 and "fintwin service keys create --role ROLE" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"keys": [1]}')
    r = runner.invoke(app, ["service", "keys", "list", "--file", str(bad)])
    assert r.exit_code == 2 and "key #1: must be a mapping" in r.stderr
