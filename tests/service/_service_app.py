"""What the service's tests share: a trained model in a temp registry, API keys of every role,
settings, events."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fintwin.cli import app as cli_app
from fintwin.credit.applications import CreditData, FeatureKind
from fintwin.credit.challenger import ChallengerConfig
from fintwin.credit.model import TrainingOptions, train_credit_model
from fintwin.risk import builtin_policy_path
from fintwin.service.apikeys import ApiKeyFile, Role
from fintwin.service.app import create_app
from fintwin.service.settings import ServiceSettings
from fintwin.world import simulate

TOKEN_KEY = "k" * 40
T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def model_id(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A handbook model with its stored policy, in a temp registry (as tests/cli/test_risk_cli:
    500 customers over 60 days train in about 2 s with enough frauds for a usable model)."""
    root = tmp_path_factory.mktemp("service-model")
    world = simulate(root / "hb", "handbook", customers=500, days=60, seed=1)
    registry = root / "registry"
    result = CliRunner().invoke(
        cli_app,
        [
            "risk", "train", "--protocol", "fractions", "--json", "--world", str(world.path),
            "--registry", str(registry), "--policy", str(builtin_policy_path("handbook")),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["model_id"], registry


@pytest.fixture(scope="module")
def credit_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small credit model (income and region; the south riskier) for the credit endpoint."""
    rng = np.random.default_rng(0)
    n = 600
    income = rng.lognormal(8.0, 0.5, n)
    region = rng.choice(["north", "south", "east"], n)
    logit = -1.0 - 0.0004 * (income - 3000.0) + 1.2 * (region == "south")
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    data = CreditData(
        pd.DataFrame({"income": income, "region": region}),
        bad,
        pd.DataFrame(index=range(n)),
        {"income": FeatureKind.NUMERIC, "region": FeatureKind.CATEGORICAL},
        "synthetic",
    )
    options = TrainingOptions(mitigation=False, challenger=ChallengerConfig(n_estimators=50))
    return train_credit_model(data, options).save(tmp_path_factory.mktemp("credit") / "model")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    file = ApiKeyFile(path)
    return path, {r.value: file.create([r], name=r.value).key for r in Role}


def service_settings(
    model: tuple[str, Path], keys_file: Path, data_dir: Path, **kw: object
) -> ServiceSettings:
    """Settings serving ``model`` (id, registry) with its data in ``data_dir``."""
    mid, registry = model
    return ServiceSettings(
        token_key=TOKEN_KEY,
        api_keys_file=keys_file,
        registry_dir=registry,
        data_dir=data_dir,
        model=mid,
        **kw,
    )


def payment(i: int, **kw: object) -> dict[str, object]:
    """Payment ``i`` of one card, a minute after payment ``i - 1``."""
    when = T0 + dt.timedelta(minutes=i)
    return {
        "transaction_id": 10_000 + i,
        "timestamp": when.isoformat(),
        "amount": "42.50",
        "customer_id": 7,
        "terminal_id": 3,
        "channel": "pos",
        "card_number": "4111 1111 1111 1111",
        **kw,
    }


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def client(
    model_id: tuple[str, Path],
    keys: tuple[Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TestClient]:
    """The app serving ``model_id`` on an embedded store in ``tmp_path``, started."""
    monkeypatch.delenv("FINTWIN_DB_URL", raising=False)
    app = create_app(service_settings(model_id, keys[0], tmp_path / "data"))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
