"""The handbook preset against the book's published run and its own generative rules."""

from __future__ import annotations

import datetime as dt

import pytest

from fintwin.data import open_world, world_hashes
from fintwin.data.schemas import TABLE_SPECS
from fintwin.exceptions import ParameterError
from fintwin.world import simulate
from fintwin.world.handbook import HandbookParams

BOOK_TRANSACTIONS = 1_754_155
BOOK_FRAUD_RATE = 0.0084


@pytest.fixture(scope="module")
def book_world(tmp_path_factory):
    """The book's run: 5,000 customers, 10,000 terminals, 183 days from 2018-04-01."""
    return simulate(tmp_path_factory.mktemp("book") / "w", "handbook", seed=0)


def test_book_run_matches_published_transaction_count(book_world) -> None:
    # N = sum over customers and days of Poisson(lambda_c * p), lambda_c ~ U(0, 4), p = P(time
    # inside the day) = 0.9692. Var N = C*D*E[lambda]*p + C*(D*p)^2*Var(lambda) gives
    # sd = 14,546 (6 seeds measured 15,025). Allow 4 sd around the book's count.
    n = book_world.manifest.tables["transactions"].rows
    assert abs(n - BOOK_TRANSACTIONS) < 4 * 14_546, n


def test_book_run_matches_published_fraud_rate(book_world) -> None:
    # Over 6 seeds the fraud rate was 0.838% with sd 0.0087 points; 0.05 points is ~5.7 sd,
    # wide enough for an sd estimated from 6 runs, narrow enough to catch a lost scenario
    # (the smallest, scenario 1, is 0.06 points).
    rate = book_world.connect().execute("SELECT avg(is_fraud::INT) FROM transactions").fetchone()[0]
    assert abs(rate - BOOK_FRAUD_RATE) < 0.0005, rate


def test_book_run_summary_shape(book_world) -> None:
    m = book_world.manifest
    assert (m.start, m.days) == ("2018-04-01", 183)
    assert m.tables["customers"].rows == 5_000
    assert m.tables["terminals"].rows == 10_000
    assert len(m.tables["transactions"].files) == 183  # one partition per day


def test_scenario_rules_hold(handbook_world) -> None:
    con = handbook_world.connect()
    rows = dict(
        con.execute(
            """SELECT coalesce(fraud_scenario::VARCHAR, 'genuine'), count(*) FROM transactions
               GROUP BY ALL"""
        ).fetchall()
    )
    assert set(rows) == {
        "genuine",
        "amount_over_threshold",
        "compromised_terminal",
        "compromised_customer",
    }
    # Scenario 1 is exactly the rows above 220 that no later scenario claimed.
    bad = con.execute(
        """SELECT count(*) FROM transactions
           WHERE (fraud_scenario = 'amount_over_threshold') != (amount > 220
             AND coalesce(fraud_scenario::VARCHAR, '') NOT IN
                 ('compromised_terminal', 'compromised_customer'))"""
    ).fetchone()[0]
    assert bad == 0
    assert con.execute(
        "SELECT bool_and(is_fraud = (fraud_scenario IS NOT NULL)) FROM transactions"
    ).fetchone()[0]


def test_compromised_terminal_rows_are_the_campaign_windows(handbook_world) -> None:
    con = handbook_world.connect()
    con.register("campaigns", handbook_world.truth("fraud_campaigns"))
    expected = con.execute(
        """SELECT DISTINCT t.transaction_id FROM transactions t JOIN campaigns c
           ON c.target_kind = 'terminal' AND t.terminal_id = c.target_id
           AND t.timestamp >= c.start AND t.timestamp < c."end" """
    ).fetchall()
    got = con.execute(
        "SELECT transaction_id FROM transactions WHERE fraud_scenario = 'compromised_terminal'"
    ).fetchall()
    assert got
    # Every row in a window is fraud; scenario 3, applied last, relabels a few of them.
    relabelled = set(expected) - set(got)
    assert set(got) <= set(expected)
    if relabelled:
        ids = ", ".join(str(r[0]) for r in relabelled)
        scenarios = con.execute(
            "SELECT DISTINCT fraud_scenario::VARCHAR FROM transactions"
            f" WHERE transaction_id IN ({ids})"
        ).fetchall()
        assert scenarios == [("compromised_customer",)]


def test_compromised_customer_share_is_a_third(book_world) -> None:
    con = book_world.connect()
    con.register("campaigns", book_world.truth("fraud_campaigns"))
    share = con.execute(
        """WITH hit AS (SELECT DISTINCT t.transaction_id, t.fraud_scenario FROM transactions t
               JOIN campaigns c ON c.target_kind = 'customer' AND t.customer_id = c.target_id
               AND t.timestamp >= c.start AND t.timestamp < c."end")
           SELECT avg(coalesce(fraud_scenario = 'compromised_customer', false)::INT) FROM hit"""
    ).fetchone()[0]
    # ~13,000 rows in the windows: sd of a 1/3 share is 0.004; overlapping campaigns push the
    # share a little above 1/3. 0.02 covers both.
    assert abs(share - 1 / 3) < 0.02, share


def test_times_amounts_and_label_delay(handbook_world) -> None:
    con = handbook_world.connect()
    lo, hi, min_amount, delays = con.execute(
        """SELECT min(epoch(timestamp) % 86400), max(epoch(timestamp) % 86400), min(amount),
                  count(DISTINCT label_available_at - timestamp) FROM transactions"""
    ).fetchone()
    assert lo > 0 and hi < 86_400
    assert min_amount >= 0
    assert delays == 1
    delay = con.execute(
        "SELECT any_value(label_available_at - timestamp) FROM transactions"
    ).fetchone()[0]
    assert delay == dt.timedelta(days=7)


def test_tables_conform_to_their_specs(handbook_world) -> None:
    for name in handbook_world.tables:
        TABLE_SPECS[name].conform(handbook_world.arrow(name))
    for name in handbook_world.truth_tables:
        TABLE_SPECS[name].conform(handbook_world.truth(name))


def test_same_seed_same_bytes_whatever_the_workers(tmp_path) -> None:
    kw = {"customers": 2_500, "days": 25, "seed": 5}
    one = simulate(tmp_path / "one", "handbook", workers=1, **kw)
    two = simulate(tmp_path / "two", "handbook", workers=2, **kw)
    assert one.manifest.tables["transactions"].rows > 0
    assert world_hashes(one.path) == world_hashes(two.path)
    other = simulate(tmp_path / "other", "handbook", **{**kw, "seed": 6})
    assert (
        world_hashes(other.path)["transactions/day=2018-04-01/part-0.parquet"]
        != world_hashes(one.path)["transactions/day=2018-04-01/part-0.parquet"]
    )


def test_manifest_records_parameters_to_reproduce(tmp_path) -> None:
    w = simulate(tmp_path / "w", "handbook", customers=300, days=5, seed=3, params={"radius": 7})
    m = open_world(w.path).manifest
    assert m.seed == 3 and m.parameters["radius"] == 7 and m.parameters["customers"] == 300
    again = simulate(
        tmp_path / "again", "handbook", customers=300, days=5, seed=3, params={"radius": 7.0}
    )
    assert world_hashes(w.path) == world_hashes(again.path)


def test_bad_parameters_are_named() -> None:
    with pytest.raises(ParameterError, match=r"radius must be positive \(got -1\)"):
        HandbookParams(radius=-1)
    with pytest.raises(ParameterError, match="customer_fraud_share"):
        HandbookParams(customer_fraud_share=2)
