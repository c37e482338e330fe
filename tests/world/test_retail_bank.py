"""The retail-bank preset: schemas, fraud typologies at their rates, late labels, money
conservation, determinism and the CLI, on small worlds with raised fraud rates."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from fintwin.cli import app
from fintwin.data import open_world, world_hashes
from fintwin.data.schemas import TABLE_SPECS, money_to_minor
from fintwin.exceptions import ParameterError
from fintwin.world import build_model, simulate
from fintwin.world._ledger import post
from fintwin.world.retail_bank import RetailBankModel, RetailBankParams
from fintwin.world.retail_bank.model import auto_chunk_days

CUSTOMERS, DAYS = 6_000, 42
# Raised rates, so that every typology has dozens of campaigns in a small world; chunks of a
# week, so that rows carried from one chunk to the next are exercised.
PARAMS = {
    "skimming_per_1000_terminals": 40.0,
    "cnp_per_1000_cards": 12.0,
    "card_testing_per_1000_cards": 6.0,
    "ato_per_1000_customers": 6.0,
    "mule_rings_per_10000_customers": 20.0,
    "mule_inflows_per_ring_week": 2.0,
    "impossible_travel_per_1000_cards": 8.0,
    "chunk_days": 7,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("rb") / "world"
    return simulate(out, "retail-bank", customers=CUSTOMERS, days=DAYS, seed=3, params=PARAMS)


@pytest.fixture(scope="module")
def tx(world) -> pd.DataFrame:
    return world.frame("transactions")


@pytest.fixture(scope="module")
def tr(world) -> pd.DataFrame:
    frame = world.frame("transfers")
    for c in ("amount", "src_balance_before", "src_balance_after"):
        frame[c] = money_to_minor(world.arrow("transfers", [c]).column(c))
    for c in ("dst_balance_before", "dst_balance_after"):
        frame[c] = money_to_minor(world.arrow("transfers", [c]).column(c))
    return frame


@pytest.fixture(scope="module")
def membership(world) -> pd.DataFrame:
    m = world.truth("fraud_membership").to_pandas()
    c = world.truth("fraud_campaigns").to_pandas()
    return m.merge(c, on="campaign_id")


# -- schema -------------------------------------------------------------------------------------
EXPECTED_TABLES = {
    "customers",
    "terminals",
    "devices",
    "cards",
    "accounts",
    "transactions",
    "transfers",
    "customer_profiles",
    "fraud_campaigns",
    "fraud_membership",
    "aml_alerts",
    "aml_alert_members",
    # the economy (fintwin.world.economy), shared by every preset
    "macro",
    "asset_prices",
    "loan_applications",
    "sme_cash_flows",
    "macro_regimes",
    "market_regimes",
    "loan_truth",
}
# optional columns this preset promises on top of the required ones
PROMISED = {
    "transactions": ["card_id", "channel", "device_id", "ip_prefix", "location_x", "country"],
    "transfers": ["device_id", "src_balance_before", "dst_balance_after", "is_laundering"],
    "terminals": ["merchant_id", "merchant_category", "country", "is_ecommerce"],
    "customers": ["age", "sex", "region", "income", "segment", "thin_file", "risk_appetite"],
}


def test_every_table_conforms_to_its_schema(world):
    assert set(world.manifest.tables) == EXPECTED_TABLES
    for name in EXPECTED_TABLES:
        spec = TABLE_SPECS[name]
        table = world.truth(name) if spec.truth else world.arrow(name)
        assert table.num_rows > 0, name
        assert set(spec.required_names) <= set(table.column_names), name
        assert set(PROMISED.get(name, [])) <= set(table.column_names), name
        spec.conform(table)


def test_ids_and_references_are_consistent(world, tx, tr):
    assert np.all(np.diff(tx["transaction_id"]) == 1)
    assert tx["timestamp"].is_monotonic_increasing
    assert tr["timestamp"].is_monotonic_increasing
    accounts = world.frame("accounts")
    assert tr["src_account_id"].isin(accounts["account_id"]).all()
    assert tr["dst_account_id"].isin(accounts["account_id"]).all()
    assert (tr["src_account_id"] != tr["dst_account_id"]).all()
    devices = world.frame("devices")
    used = pd.concat([tx["device_id"], tr["device_id"]]).dropna()
    assert used.isin(devices["device_id"]).all()
    cards = world.frame("cards")
    assert tx["card_id"].isin(cards["card_id"]).all()
    owner = cards.set_index("card_id")["customer_id"]
    assert (owner.loc[tx["card_id"]].to_numpy() == tx["customer_id"].to_numpy()).all()
    # e-commerce rows carry a device and a network, POS rows neither
    ecom = tx["channel"] == "ecom"
    assert tx.loc[ecom, "ip_prefix"].notna().all() and tx.loc[~ecom, "device_id"].isna().all()
    assert tx["ip_prefix"].dropna().str.fullmatch(r"\d{1,3}\.\d{1,3}\.\d{1,3}").all()


def test_accounts_cover_customers_merchants_and_external(world):
    kinds = world.frame("accounts")["kind"].astype(str).value_counts()
    assert kinds["current"] == CUSTOMERS
    assert {"savings", "merchant", "external"} <= set(kinds.index)
    terminals = world.frame("terminals")
    assert terminals["is_ecommerce"].any() and (~terminals["is_ecommerce"]).any()
    assert (terminals["country"].astype(str) != "NL").any()


# -- behaviour ----------------------------------------------------------------------------------
def test_time_of_day_and_weekly_patterns(tx):
    hour = tx["timestamp"].dt.hour.value_counts()
    # lunch and evening peaks, quiet nights
    assert hour[12] > 5 * hour[3] and hour[18] > 5 * hour[4]
    assert hour[12] > hour[10] and hour[18] > hour[15]
    day = tx["timestamp"].dt.normalize().value_counts()
    by_dow = day.groupby(day.index.day_of_week).mean()
    # Friday and Saturday busiest, Sunday quietest (about 20 % apart; Poisson noise ~0.5 %)
    assert by_dow[4] > 1.1 * by_dow[0] and by_dow[6] < 0.9 * by_dow[0]
    weekend = tx["timestamp"].dt.day_of_week >= 5
    early = tx["timestamp"].dt.hour.between(7, 9)
    assert early[weekend].mean() < 0.8 * early[~weekend].mean()


def test_customers_mostly_pay_near_home(world, tx):
    customers = world.frame("customers").set_index("customer_id")
    pos = tx[(tx["channel"] == "pos") & ~tx["is_fraud"]]
    home = customers.loc[pos["customer_id"], ["home_x", "home_y"]].to_numpy()
    dist = np.hypot(pos["location_x"] - home[:, 0], pos["location_y"] - home[:, 1])
    assert np.median(dist) < 25.0
    assert np.mean(dist < 100.0) > 0.85


def test_amounts_rise_with_income(world, tx):
    customers = world.frame("customers")
    income = customers.set_index("customer_id")["income"].astype(float)
    mean = tx[~tx["is_fraud"]].groupby("customer_id")["amount"].mean().astype(float)
    rich = income.loc[mean.index] > income.median()
    assert mean[rich].mean() > 1.3 * mean[~rich].mean()


# -- fraud rates --------------------------------------------------------------------------------
def _expected_campaigns(world) -> dict[str, float]:
    p = RetailBankParams(**PARAMS)
    terminals = world.frame("terminals")
    domestic_pos = int(((~terminals["is_ecommerce"]) & (terminals["country"] == "NL")).sum())
    cards = world.manifest.tables["cards"].rows
    month = DAYS / 30
    return {
        "compromised_terminal": p.skimming_per_1000_terminals * domestic_pos / 1000 * month,
        "card_not_present": p.cnp_per_1000_cards * cards / 1000 * month,
        "card_testing": p.card_testing_per_1000_cards * cards / 1000 * month,
        "impossible_travel": p.impossible_travel_per_1000_cards * cards / 1000 * month,
        "account_takeover": p.ato_per_1000_customers * CUSTOMERS / 1000 * month,
    }


def test_every_scenario_is_present_at_its_configured_rate(world, membership):
    campaigns = world.truth("fraud_campaigns").to_pandas()
    count = campaigns["scenario"].astype(str).value_counts()
    for scenario, mean in _expected_campaigns(world).items():
        # Campaign counts are Poisson(mean): 4 sd leave a false alarm below 1e-4 per scenario
        # and still catch a rate off by a factor of two (means are 40 to 200 here).
        assert mean > 30, scenario
        assert abs(count[scenario] - mean) <= 4 * np.sqrt(mean), (scenario, count[scenario], mean)
    rings = round(PARAMS["mule_rings_per_10000_customers"] * CUSTOMERS / 10_000)
    assert count["mule_ring"] == rings
    # every campaign that cannot run past the world's end left labelled rows
    hit = membership.groupby("campaign_id").size()
    for scenario in ("card_not_present", "card_testing", "impossible_travel", "account_takeover"):
        ids = campaigns.loc[campaigns["scenario"] == scenario, "campaign_id"]
        assert ids.isin(hit.index).all(), scenario
    # a skimmed terminal leads to clones for most campaigns
    ids = campaigns.loc[campaigns["scenario"] == "compromised_terminal", "campaign_id"]
    assert ids.isin(hit.index).mean() > 0.5


def test_fraud_labels_match_campaigns(tx, tr, membership):
    for table, frame, key in (
        ("transactions", tx, "transaction_id"),
        ("transfers", tr, "transfer_id"),
    ):
        m = membership[membership["table"] == table]
        rows = frame.set_index(key).loc[m["row_id"]]
        assert rows["is_fraud"].all()
        assert (rows["fraud_scenario"].astype(str).to_numpy() == m["scenario"].astype(str)).all()
        # every fraud row belongs to a campaign
        assert frame["is_fraud"].sum() == len(m)
    present = set(membership["scenario"].astype(str))
    assert present == {
        "compromised_terminal",
        "card_not_present",
        "card_testing",
        "impossible_travel",
        "account_takeover",
        "mule_ring",
    }


def test_mule_inflows_arrive_at_their_rate(world, tr):
    members = world.truth("aml_alert_members").to_pandas()
    mules = members.loc[members["role"] == "intermediate", "account_id"]
    ring = tr[tr["fraud_scenario"] == "mule_ring"]
    inflow = ring[~ring["src_account_id"].isin(mules)]
    kind = world.frame("accounts").set_index("account_id")["kind"].astype(str)
    assert (kind.loc[inflow["src_account_id"]] == "external").all()
    rings = round(PARAMS["mule_rings_per_10000_customers"] * CUSTOMERS / 10_000)
    mean = PARAMS["mule_inflows_per_ring_week"] * rings * DAYS / 7
    # Poisson(mean), mean 72: 4 sd
    assert abs(len(inflow) - mean) <= 4 * np.sqrt(mean)
    assert inflow["dst_account_id"].isin(mules).all()


def test_label_delays(tx, tr):
    for frame in (tx, tr):
        delay = (frame["label_available_at"] - frame["timestamp"]).dt.total_seconds() / 86_400
        assert (delay > 0).all()
        assert np.allclose(delay[~frame["is_fraud"]], 7.0)
    fraud = pd.concat([tx, tr])
    fraud = fraud[fraud["is_fraud"]]
    delay = (fraud["label_available_at"] - fraud["timestamp"]).dt.total_seconds() / 86_400
    # lognormal, median 10 days, log-sd 0.7: the log of the sample median has sd about
    # 1.25 * 0.7 / sqrt(n) (0.03 for ~800 rows); 0.15 is 5 sd. Delays span days to weeks.
    assert len(delay) > 500
    assert abs(np.log(delay.median() / 10.0)) < 0.15
    assert delay.quantile(0.05) < 5 and delay.quantile(0.95) > 20


def test_impossible_travel_implies_speed_above_threshold(tx):
    p = RetailBankParams()
    pos = tx[tx["channel"] == "pos"]
    it = pos[pos["fraud_scenario"] == "impossible_travel"]
    assert len(it) > 30
    pairs = it.merge(pos, on="card_id", suffixes=("", "_other"))
    pairs = pairs[pairs["transaction_id"] != pairs["transaction_id_other"]]
    km = np.hypot(
        pairs["location_x"] - pairs["location_x_other"],
        pairs["location_y"] - pairs["location_y_other"],
    )
    hours = (pairs["timestamp"] - pairs["timestamp_other"]).abs().dt.total_seconds() / 3600
    pairs["impossible"] = (km >= p.impossible_travel_min_km) & (
        km > p.impossible_travel_speed_kmh * hours
    )
    assert pairs.groupby("transaction_id")["impossible"].any().all()


def test_genuine_travel_is_possible(tx):
    """Genuine card-present use never implies an impossible speed over 300 km."""
    pos = tx[(tx["channel"] == "pos") & ~tx["is_fraud"]].sort_values(["card_id", "timestamp"])
    same = pos["card_id"].to_numpy()[1:] == pos["card_id"].to_numpy()[:-1]
    km = np.hypot(np.diff(pos["location_x"]), np.diff(pos["location_y"]))[same]
    hours = np.diff(pos["timestamp"].to_numpy()).astype("m8[ms]").astype(float)[same] / 3.6e6
    assert not np.any((km >= 300) & (km > 900 * hours))


def test_card_testing_bursts_precede_a_large_amount(tx, membership):
    ct = membership[membership["scenario"] == "card_testing"]
    rows = (
        tx.set_index("transaction_id").loc[ct["row_id"]].assign(campaign=ct["campaign_id"].values)
    )
    assert rows["campaign"].nunique() > 30
    for _, burst in rows.sort_values("timestamp").groupby("campaign"):
        amount = burst["amount"].astype(float).to_numpy()
        assert len(amount) >= 4
        assert amount[:-1].max() <= 2.0 and amount[-1] >= 200.0
        assert (burst["channel"] == "ecom").all()
        assert burst["device_id"].nunique() == 1


def test_account_takeover_drains_to_mule_accounts(world, tr):
    members = world.truth("aml_alert_members").to_pandas()
    mules = set(members.loc[members["role"] == "intermediate", "account_id"])
    ato = tr[tr["fraud_scenario"] == "account_takeover"]
    accounts = world.frame("accounts").set_index("account_id")
    owner = accounts["customer_id"]
    drains = ato[accounts.loc[ato["src_account_id"], "kind"].astype(str).to_numpy() == "current"]
    assert len(drains) >= 30
    assert drains["dst_account_id"].isin(mules).all()
    # the victim is not a mule, the device is new to the bank's customers (no owner)
    assert not drains["src_account_id"].isin(mules).any()
    devices = world.frame("devices").set_index("device_id")
    assert devices.loc[drains["device_id"], "owner_customer_id"].isna().all()
    # sweeps move savings into the victim's own current account first
    sweeps = ato.drop(drains.index)
    assert (
        owner.loc[sweeps["src_account_id"]].to_numpy()
        == owner.loc[sweeps["dst_account_id"]].to_numpy()
    ).all()


def test_mule_rings_share_devices_and_fan_in_then_out(world, tr):
    members = world.truth("aml_alert_members").to_pandas()
    ring = tr[tr["fraud_scenario"] == "mule_ring"]
    assert ring["is_laundering"].all() and ring["alert_id"].notna().all()
    mules = members[members["role"] == "intermediate"]
    dest = members[members["role"] == "destination"]
    # fan-in: members pay the collector; fan-out: the collector pays accounts abroad
    hops = ring[ring["src_account_id"].isin(mules["account_id"])]
    assert hops["dst_account_id"].isin(dest["account_id"]).any()
    assert hops["dst_account_id"].isin(mules["account_id"]).any()
    fan_out = hops[hops["dst_account_id"].isin(dest["account_id"])]
    assert (fan_out.groupby("src_account_id")["dst_account_id"].nunique() >= 2).any()
    # one ring, its devices: the members' hops come from the ring's shared devices
    devices = world.frame("devices").set_index("device_id")
    owners = devices.loc[hops["device_id"], "owner_customer_id"].to_numpy()
    assert np.isin(owners, mules["account_id"]).all()
    per_device = hops.groupby("device_id")["src_account_id"].nunique()
    assert (per_device >= 2).any()


# -- money --------------------------------------------------------------------------------------
def test_money_is_conserved(world, tr):
    assert (tr["amount"] > 0).all()
    assert (tr["src_balance_after"] == tr["src_balance_before"] - tr["amount"]).all()
    assert (tr["dst_balance_after"] == tr["dst_balance_before"] + tr["amount"]).all()
    legs = pd.concat(
        [
            pd.DataFrame(
                {
                    "account": tr["src_account_id"],
                    "row": tr["transfer_id"],
                    "before": tr["src_balance_before"],
                    "after": tr["src_balance_after"],
                    "delta": -tr["amount"],
                }
            ),
            pd.DataFrame(
                {
                    "account": tr["dst_account_id"],
                    "row": tr["transfer_id"],
                    "before": tr["dst_balance_before"],
                    "after": tr["dst_balance_after"],
                    "delta": tr["amount"],
                }
            ),
        ]
    ).sort_values(["account", "row"], kind="stable")
    accounts = world.arrow("accounts")
    opening = pd.Series(
        money_to_minor(accounts.column("opening_balance")),
        index=accounts.column("account_id").to_numpy(),
    )
    g = legs.groupby("account")
    # each row starts where the account's previous row ended, the first at the opening balance
    previous = g["after"].shift()
    first = previous.isna()
    assert (legs.loc[~first, "before"] == previous[~first]).all()
    assert (legs.loc[first, "before"].to_numpy() == opening.loc[legs.loc[first, "account"]]).all()
    # final balance = opening + credits - debits, for every account
    final = g["after"].last()
    assert (final == opening.loc[final.index] + g["delta"].sum()).all()
    assert final.sum() == opening.loc[final.index].sum()


def test_post_books_legs_in_row_order():
    balance = np.array([100, 0, 0], dtype=np.int64)
    src_before, dst_before = post(
        np.array([0, 1, 0]), np.array([1, 2, 2]), np.array([60, 50, 10]), balance
    )
    assert src_before.tolist() == [100, 60, 40]
    assert dst_before.tolist() == [0, 0, 50]
    assert balance.tolist() == [30, 10, 60]


# -- determinism --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_worlds(tmp_path_factory):
    base = tmp_path_factory.mktemp("det")
    kw = {"customers": 5_200, "days": 10, "params": {"chunk_days": 4, **_fast_fraud()}}
    one = simulate(base / "one", "retail-bank", seed=11, workers=1, **kw)
    two = simulate(base / "two", "retail-bank", seed=11, workers=2, **kw)
    other = simulate(base / "other", "retail-bank", seed=12, workers=1, **kw)
    return one, two, other


def _fast_fraud() -> dict[str, float]:
    return {k: v for k, v in PARAMS.items() if k != "chunk_days"}


def test_same_seed_same_world_whatever_the_workers(small_worlds):
    one, two, _ = small_worlds
    assert build_model("retail-bank", customers=5_200).n_blocks > 2
    assert world_hashes(one.path) == world_hashes(two.path)


def test_different_seed_different_world(small_worlds):
    one, _, other = small_worlds
    a, b = world_hashes(one.path), world_hashes(other.path)
    assert a.keys() == b.keys()
    assert all(a[k] != b[k] for k in a if "transactions/" in k or "transfers/" in k)


# -- parameters and CLI -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("skimming_capture", 1.5, "probability"),
        ("payments_per_day", 0.0, "positive"),
        ("cnp_per_1000_cards", -1.0, "non-negative"),
        ("favourite_terminals", 2.5, "integer"),
    ],
)
def test_parameters_are_validated(name, value, rule):
    with pytest.raises(ParameterError, match=rf"{name}.*{rule}.*{value}"):
        RetailBankParams(**{name: value})


def test_parameters_are_documented():
    doc = RetailBankParams.__doc__
    for f in dataclasses.fields(RetailBankParams):
        assert f.name in doc, f.name


def test_model_defaults_and_chunking():
    model = build_model("retail-bank", days=1)
    assert isinstance(model, RetailBankModel)
    assert model.config.customers == 10_000
    assert model.config.start.isoformat() == "2024-01-01"
    assert model.chunk_days == auto_chunk_days(10_000, model.params.payments_per_day)
    # automatic chunks keep about 1 million card payments in memory, whatever the size
    for n in (1_000, 200_000, 5_000_000):
        days = auto_chunk_days(n, 1.6)
        assert 1 <= days <= 28
        assert days * n * 1.6 <= 1.0e6 or days == 1


def test_cli_simulates_a_retail_bank(tmp_path):
    out = tmp_path / "x"
    result = CliRunner().invoke(
        app,
        ["world", "simulate", "--preset", "retail-bank", "--customers", "2000", "--days", "30",
         "--out", str(out), "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    w = open_world(out)
    assert w.manifest.preset == "retail-bank"
    assert w.manifest.tables["transactions"].rows > 50_000
    assert isinstance(w.arrow("transfers"), pa.Table)
