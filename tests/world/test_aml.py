"""The aml preset: ordinary flows on a sparse counterparty graph, balances that add up, and the
seven AMLSim laundering typologies with the graph shape each one names."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from _ledger_checks import assert_money_conserved

from fintwin.data import World, world_hashes
from fintwin.data.schemas import TABLE_SPECS
from fintwin.data.schemas.vocab import LaunderingTypology
from fintwin.exceptions import ParameterError
from fintwin.world import build_model
from fintwin.world.aml import AmlParams
from fintwin.world.simulate import write_world

MIN_MEMBERS = 5
THRESHOLD = 10_000.0


def _model(seed: int = 3, **params):
    model = build_model(
        "aml",
        customers=1_500,
        days=40,
        start="2024-01-01",
        seed=seed,
        params={"alerts_per_1000_accounts": 10.0, "min_alert_members": MIN_MEMBERS, **params},
    )
    model.block_customers = 500  # several blocks and chunks on a small world
    model.chunk_days = 14
    return model


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return write_world(_model(), tmp_path_factory.mktemp("aml") / "w")


@pytest.fixture(scope="module")
def frames(world):
    tr = world.frame("transfers")
    acc = world.frame("accounts").set_index("account_id")
    tr["src_kind"] = acc.kind.astype(str).reindex(tr.src_account_id).to_numpy()
    tr["dst_kind"] = acc.kind.astype(str).reindex(tr.dst_account_id).to_numpy()
    tr["amount"] = tr.amount.astype(float)
    return tr, acc


@pytest.fixture(scope="module")
def alerts(world, frames):
    """Per alert: typology, roles of members, and its pattern edges (between members)."""
    tr, _ = frames
    info = world.truth("aml_alerts").to_pandas().set_index("alert_id")
    members = world.truth("aml_alert_members").to_pandas()
    dirty = tr[tr.is_laundering]
    out = {}
    for aid, rows in dirty.groupby("alert_id"):
        inside = rows[(rows.src_kind != "external") & (rows.dst_kind != "external")]
        m = members[members.alert_id == aid]
        out[int(aid)] = {
            "typology": info.loc[aid, "typology"],
            "role": dict(zip(m.account_id, m.role.astype(str), strict=True)),
            "edges": inside,
            "rows": rows,
        }
    return out


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
        ["aml_alert_members", "aml_alerts", "loan_truth", "macro_regimes", "market_regimes"]
    )
    for name in world.tables:
        table = world.arrow(name)
        assert TABLE_SPECS[name].conform(table).schema.equals(table.schema), name
    for name in world.truth_tables:
        TABLE_SPECS[name].conform(world.truth(name))


def test_every_transfer_type_is_present(frames) -> None:
    tr, _ = frames
    genuine = tr[~tr.is_laundering]
    pairs = set(
        genuine.groupby(["transfer_type", "src_kind", "dst_kind"], observed=True).size().index
    )
    assert pairs == {
        ("salary", "merchant", "current"),  # employer payroll
        ("salary", "external", "current"),  # pension fund
        ("bill", "current", "merchant"),
        ("payment", "current", "merchant"),
        ("payment", "external", "merchant"),  # business revenue from outside the bank
        ("transfer", "current", "current"),  # contacts
        ("transfer", "external", "current"),  # clients of the self-employed, family
        ("transfer", "merchant", "merchant"),  # suppliers
        ("cash_out", "current", "external"),
        ("cash_in", "external", "current"),
        ("debit", "merchant", "external"),  # treasury sweep
    }


def test_counterparty_graph_is_sparse_and_degree_skewed(frames) -> None:
    tr, _ = frames
    p2p = tr[(tr.transfer_type == "transfer") & (tr.src_kind == "current")]
    p2p = p2p[(p2p.dst_kind == "current") & ~p2p.is_laundering]
    out_degree = p2p.groupby("src_account_id").dst_account_id.nunique()
    assert out_degree.max() <= 3  # three contacts each
    in_degree = p2p.groupby("dst_account_id").src_account_id.nunique()
    # Pareto popularity: the busiest receivers have many times the median in-degree.
    assert in_degree.max() >= 4 * in_degree.median()
    billed = tr[tr.transfer_type == "bill"].groupby("dst_account_id").size()
    assert billed.max() > 10 * billed.median()


def test_money_is_conserved(world, frames) -> None:
    assert_money_conserved(world)
    tr, _ = frames
    assert (tr.amount > 0).all()
    # Ordinary debits never overdraw; only a laundering transfer may (it always goes through).
    own = (tr.src_kind != "external") & ~tr.is_laundering
    assert (tr.loc[own, "src_balance_after"].astype(float) >= 0).all()


def test_every_typology_is_present_with_its_rows(world, frames, alerts) -> None:
    tr, _ = frames
    info = world.truth("aml_alerts").to_pandas()
    assert set(info.typology.astype(str)) == {t.value for t in LaunderingTypology}
    # No laundering transfer was declined: each alert has all its planned rows.
    counts = tr[tr.is_laundering].groupby("alert_id").size()
    assert (counts.reindex(info.alert_id).to_numpy() == info.transfers.to_numpy()).all()
    dirty = tr[tr.is_laundering]
    assert (dirty.laundering_typology.astype(str).to_numpy() == [
        alerts[int(a)]["typology"] for a in dirty.alert_id
    ]).all()  # fmt: skip
    clean = tr[~tr.is_laundering]
    assert clean.alert_id.isna().all() and clean.laundering_typology.isna().all()
    assert not tr.is_fraud.any()


def _by_role(alert, role):
    return {a for a, r in alert["role"].items() if r == role}


def _check_shape(alert) -> None:
    e, typ = alert["edges"], alert["typology"]
    src, dst = set(e.src_account_id), set(e.dst_account_id)
    pairs = list(zip(e.src_account_id, e.dst_account_id, strict=True))
    sources, mids, sinks = (_by_role(alert, r) for r in ("source", "intermediate", "destination"))
    assert src | dst == set(alert["role"])  # the pattern spans exactly its members
    assert (e.transfer_type == "transfer").all()
    if typ == "fan_out":
        assert len(sources) == 1 and src == sources and dst == sinks
        assert len(sinks) >= MIN_MEMBERS - 1
    elif typ == "fan_in":
        assert len(sinks) == 1 and dst == sinks and src == sources
        assert len(sources) >= MIN_MEMBERS - 1
    elif typ == "cycle":
        assert Counter(e.src_account_id) == Counter(e.dst_account_id) == dict.fromkeys(src, 1)
        (start,) = sources
        nxt = dict(pairs)
        walk, at = [start], nxt[start]
        while at != start:
            walk.append(at)
            at = nxt[at]
        assert len(walk) == len(src) >= MIN_MEMBERS  # one loop through all, back to the start
        hops = e.sort_values("timestamp")
        assert hops.src_account_id.iloc[0] == start
        assert (np.diff(hops.amount.to_numpy()) < 0).all()  # a fee kept at every hop
    elif typ == "scatter_gather":
        (s,), (d,) = sources, sinks
        assert set(pairs) == {(s, m) for m in mids} | {(m, d) for m in mids}
        assert len(mids) >= MIN_MEMBERS - 2
    elif typ == "gather_scatter":
        (hub,) = mids
        assert set(pairs) == {(s, hub) for s in sources} | {(hub, d) for d in sinks}
    elif typ == "bipartite":
        assert set(pairs) == {(s, d) for s in sources for d in sinks}
    else:
        assert typ == "stack"
        assert set(pairs) == {(s, m) for s in sources for m in mids} | {
            (m, d) for m in mids for d in sinks
        }
    # One step after another: whoever passes money on received it first.
    for account in mids:
        assert e[e.src_account_id == account].timestamp.min() > (
            e[e.dst_account_id == account].timestamp.max()
        )


def test_each_alert_has_its_typologys_graph_shape(alerts) -> None:
    seen = Counter()
    for alert in alerts.values():
        _check_shape(alert)
        seen[alert["typology"]] += 1
    assert set(seen) == {t.value for t in LaunderingTypology}


def test_laundering_amounts_stay_under_the_threshold_and_take_days(alerts) -> None:
    spans = []
    for alert in alerts.values():
        rows = alert["rows"]
        assert (rows.amount < THRESHOLD).all()
        # Pattern moves are structured close under the threshold (fees and splits aside).
        assert alert["edges"].amount.median() > 0.5 * THRESHOLD
        placed = rows[rows.transfer_type == "cash_in"]
        assert len(placed) > 0 and (placed.amount >= 0.5 * 0.8 * THRESHOLD).all()
        spans.append((rows.timestamp.max() - rows.timestamp.min()).total_seconds() / 86_400)
    assert np.median(spans) > 2  # placement, steps hours to days apart, integration


def test_label_delays(frames) -> None:
    tr, _ = frames
    delay = (tr.label_available_at - tr.timestamp).dt.total_seconds() / 86_400
    assert (delay[~tr.is_laundering] == 7).all()
    assert (delay[tr.is_laundering] >= 1).all()
    # Known only after the group's last transfer: one label time per alert.
    assert (tr[tr.is_laundering].groupby("alert_id").label_available_at.nunique() == 1).all()


def test_same_world_whatever_the_worker_count(world, tmp_path) -> None:
    two = write_world(_model(), tmp_path / "two", workers=2)
    assert world_hashes(world.path) == world_hashes(two.path)
    other = write_world(_model(seed=4), tmp_path / "other")
    assert world_hashes(other.path) != world_hashes(world.path)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_alert_members": 2}, "min_alert_members must be at least 3"),
        ({"max_alert_members": 4}, "max_alert_members must be at least min_alert_members"),
        ({"bill_share": 0.6, "payment_share": 0.6}, "must be at most 1"),
        ({"structuring_low": 0.99, "structuring_high": 0.9}, "0 < low <= high < 1"),
        ({"reporting_threshold": -1.0}, "reporting_threshold must be positive"),
    ],
)
def test_parameters_are_checked(params, message) -> None:
    with pytest.raises(ParameterError, match=message):
        AmlParams(**params)
