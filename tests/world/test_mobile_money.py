"""The mobile-money preset: PaySim's flows, balances that add up, and account takeovers that
drain the victim into a fresh mule wallet which then cashes out."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from _ledger_checks import assert_money_conserved

from fintwin.data import World, world_hashes
from fintwin.data.schemas import TABLE_SPECS
from fintwin.exceptions import ParameterError
from fintwin.world import build_model
from fintwin.world.mobile_money import MobileMoneyParams
from fintwin.world.simulate import write_world


def _model(seed: int = 5, **params):
    model = build_model(
        "mobile-money",
        customers=1_200,
        days=16,
        start="2024-03-01",
        seed=seed,
        params={"takeovers_per_1000_wallets_per_day": 2.0, **params},
    )
    # Several blocks and chunks, so blocks, cross-block transfers and the balances carried
    # from one chunk to the next are all exercised on a small world.
    model.block_customers = 500
    model.chunk_days = 7
    return model


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return write_world(_model(), tmp_path_factory.mktemp("mm") / "w")


@pytest.fixture(scope="module")
def frames(world):
    tr = world.frame("transfers")
    acc = world.frame("accounts").set_index("account_id")
    tr["src_kind"] = acc.kind.astype(str).reindex(tr.src_account_id).to_numpy()
    tr["dst_kind"] = acc.kind.astype(str).reindex(tr.dst_account_id).to_numpy()
    return tr, acc


def test_tables_match_their_schemas(world) -> None:
    assert world.tables == sorted(
        [
            "accounts",
            "customers",
            "transfers",
            "asset_prices",
            "loan_applications",
            "macro",
            "sme_cash_flows",
        ]
    )
    assert world.truth_tables == sorted(
        ["fraud_campaigns", "fraud_membership", "loan_truth", "macro_regimes", "market_regimes"]
    )
    for name in world.tables:
        table = world.arrow(name)
        assert TABLE_SPECS[name].conform(table).schema.equals(table.schema), name
    for name in world.truth_tables:
        TABLE_SPECS[name].conform(world.truth(name))
    assert len(world.files("transfers")) == 16  # one partition per day


def test_every_transfer_type_moves_between_the_right_kinds(frames) -> None:
    tr, _ = frames
    pairs = tr.groupby(["transfer_type", "src_kind", "dst_kind"], observed=True).size()
    got = {(t, s, d) for t, s, d in pairs.index}
    customers_own = {
        ("cash_in", "agent", "wallet"),
        ("cash_out", "wallet", "agent"),
        ("payment", "wallet", "merchant"),
        ("transfer", "wallet", "wallet"),
        ("debit", "wallet", "external"),
    }
    settlements = {
        ("cash_in", "external", "agent"),  # an agent buys e-money float at its bank
        ("debit", "merchant", "external"),  # merchants' takings swept to their bank
    }
    # An agent sells back float above twice its target: possible, rare (cash-ins dominate).
    assert (
        customers_own | settlements
        <= got
        <= customers_own | settlements | {("cash_out", "agent", "external")}
    )
    # PaySim's mix: CASH_OUT and PAYMENT lead, DEBIT is rare.
    share = tr[tr.src_kind == "wallet"].transfer_type.value_counts(normalize=True)
    assert share["cash_out"] > share["transfer"] > share["debit"]
    assert share["payment"] > share["transfer"]


def test_money_is_conserved_and_wallets_never_overdraw(world, frames) -> None:
    assert_money_conserved(world)
    tr, _ = frames
    for side in ("src", "dst"):
        inside = tr[f"{side}_kind"] != "external"
        assert (tr.loc[inside, f"{side}_balance_after"].astype(float) >= 0).all()
    assert (tr.amount.astype(float) > 0).all()


def test_activity_follows_the_daily_cycle(frames) -> None:
    tr, _ = frames
    own = tr[tr.timestamp.dt.floor("D") != tr.timestamp]  # the midnight batch aside
    hours = own.timestamp.dt.hour.value_counts()
    # The profile puts 2.4 at noon and 0.05 at 3 h (48 x); 10 x leaves room for noise.
    assert hours[12] > 10 * hours.get(3, 0)


def test_takeovers_drain_the_victim_into_a_new_mule_that_cashes_out(world, frames) -> None:
    tr, acc = frames
    campaigns = world.truth("fraud_campaigns").to_pandas()
    members = world.truth("fraud_membership").to_pandas()
    fraud = tr[tr.is_fraud]
    assert set(fraud.transfer_id) == set(members.row_id)
    assert (fraud.fraud_scenario == "account_takeover").all()
    assert len(fraud) >= 20  # 2 per 1,000 wallets a day: ~38 takeovers
    by_id = tr.set_index("transfer_id")
    for cid, rows in members.groupby("campaign_id"):
        camp = campaigns.set_index("campaign_id").loc[cid]
        drain, cash_out = by_id.loc[sorted(rows.row_id)].itertuples()
        # The whole balance of the victim at that moment goes to the mule.
        assert drain.src_account_id == camp.target_id
        assert drain.transfer_type == "transfer"
        assert drain.amount == drain.src_balance_before > 0
        assert drain.src_balance_after == 0
        mule = drain.dst_account_id
        assert acc.loc[mule, "kind"] == "wallet"
        assert acc.loc[mule, "opened_at"] == drain.timestamp.date()
        assert acc.loc[mule, "opening_balance"] == 0 and drain.dst_balance_before == 0
        # ... which cashes all of it out at an agent, later the same day, and does nothing else.
        assert cash_out.src_account_id == mule
        assert cash_out.transfer_type == "cash_out" and cash_out.dst_kind == "agent"
        assert cash_out.amount == drain.amount and cash_out.src_balance_after == 0
        assert drain.timestamp < cash_out.timestamp < drain.timestamp.normalize() + dt.timedelta(1)
        touching = (tr.src_account_id == mule) | (tr.dst_account_id == mule)
        assert touching.sum() == 2
    # Each mule wallet's holder is a new customer who joined that day.
    customers = world.frame("customers").set_index("customer_id")
    mules = acc.loc[fraud[fraud.transfer_type == "cash_out"].src_account_id]
    since = customers.loc[mules.customer_id.astype(int), "customer_since"].to_numpy()
    assert (since == mules.opened_at.to_numpy()).all()


def test_label_delays(frames) -> None:
    tr, _ = frames
    delay = (tr.label_available_at - tr.timestamp).dt.total_seconds() / 86_400
    assert (delay[~tr.is_fraud] == 7).all()
    fraud_delay = delay[tr.is_fraud]
    assert (fraud_delay >= 1).all()
    assert fraud_delay.nunique() > 1  # drawn per campaign, days to weeks


def test_same_world_whatever_the_worker_count(world, tmp_path) -> None:
    two = write_world(_model(), tmp_path / "two", workers=2)
    assert world_hashes(world.path) == world_hashes(two.path)
    other = write_world(_model(seed=6), tmp_path / "other")
    assert world_hashes(other.path) != world_hashes(world.path)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"share_cash_out": 0.6, "share_payment": 0.5}, "must be below 1"),
        ({"transfers_per_day": 0.0}, "transfers_per_day must be positive"),
        ({"local_payment_share": 1.5}, r"local_payment_share must be a probability"),
        ({"mule_cash_out_max_minutes": 5}, r"mule_cash_out_max_minutes must be in \(10, 720\]"),
    ],
)
def test_parameters_are_checked(params, message) -> None:
    with pytest.raises(ParameterError, match=message):
        MobileMoneyParams(**params)


def test_more_takeovers_more_fraud() -> None:
    low = _model(takeovers_per_1000_wallets_per_day=0.5).takeovers.size
    high = _model(takeovers_per_1000_wallets_per_day=4.0).takeovers.size
    # Poisson counts with means 9.6 and 76.8: far apart whatever the draw.
    assert high > 3 * low
    assert np.unique(_model().takeovers.victim).size == _model().takeovers.size
