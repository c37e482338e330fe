"""Reference: the handbook's transaction simulator as the book runs it.

This is an independent re-implementation of the procedure published in *Reproducible Machine
Learning for Credit Card Fraud Detection - Practical Handbook*, chapter 3.2, in the book's own
style: profiles drawn in Python loops with NumPy's legacy global seed, a row-wise pandas
``apply`` to find each customer's terminals, a ``groupby().apply`` that loops over days and
payments per customer, then pandas loops over days for fraud scenarios 2 and 3. It is what users
of the book run today, and the baseline that ``bench_handbook.py`` times side by side with
fintwin's vectorised ``handbook`` preset.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def customer_profiles(n_customers: int, seed: int = 0) -> pd.DataFrame:
    np.random.seed(seed)
    rows = []
    for cid in range(n_customers):
        x, y = np.random.uniform(0, 100), np.random.uniform(0, 100)
        mean_amount = np.random.uniform(5, 100)
        rows.append((cid, x, y, mean_amount, mean_amount / 2, np.random.uniform(0, 4)))
    return pd.DataFrame(
        rows,
        columns=["CUSTOMER_ID", "x", "y", "mean_amount", "std_amount", "mean_nb_tx_per_day"],
    )


def terminal_profiles(n_terminals: int, seed: int = 1) -> pd.DataFrame:
    np.random.seed(seed)
    rows = [
        (tid, np.random.uniform(0, 100), np.random.uniform(0, 100)) for tid in range(n_terminals)
    ]
    return pd.DataFrame(rows, columns=["TERMINAL_ID", "x", "y"])


def customer_transactions(profile: pd.Series, nb_days: int, start_date: str) -> pd.DataFrame:
    # One seed per customer, as in the book.
    random.seed(int(profile.CUSTOMER_ID))
    np.random.seed(int(profile.CUSTOMER_ID))
    out = []
    for day in range(nb_days):
        for _ in range(np.random.poisson(profile.mean_nb_tx_per_day)):
            t = int(np.random.normal(43_200, 20_000))
            if 0 < t < 86_400:
                amount = np.random.normal(profile.mean_amount, profile.std_amount)
                if amount < 0:
                    amount = np.random.uniform(0, 2 * profile.mean_amount)
                amount = np.round(amount, decimals=2)
                if len(profile.available_terminals) > 0:
                    terminal = random.choice(profile.available_terminals)
                    out.append((t + day * 86_400, day, profile.CUSTOMER_ID, terminal, amount))
    frame = pd.DataFrame(
        out, columns=["TX_TIME_SECONDS", "TX_TIME_DAYS", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT"]
    )
    if len(frame):
        frame["TX_DATETIME"] = pd.to_datetime(frame["TX_TIME_SECONDS"], unit="s", origin=start_date)
    return frame


def add_frauds(customers: pd.DataFrame, terminals: pd.DataFrame, tx: pd.DataFrame) -> pd.DataFrame:
    tx["TX_FRAUD"] = 0
    tx["TX_FRAUD_SCENARIO"] = 0
    over = tx.TX_AMOUNT > 220
    tx.loc[over, "TX_FRAUD"] = 1
    tx.loc[over, "TX_FRAUD_SCENARIO"] = 1
    for day in range(tx.TX_TIME_DAYS.max()):
        hit = terminals.TERMINAL_ID.sample(n=2, random_state=day)
        sel = tx[(tx.TX_TIME_DAYS >= day) & (tx.TX_TIME_DAYS < day + 28) & tx.TERMINAL_ID.isin(hit)]
        tx.loc[sel.index, "TX_FRAUD"] = 1
        tx.loc[sel.index, "TX_FRAUD_SCENARIO"] = 2
    for day in range(tx.TX_TIME_DAYS.max()):
        hit = customers.CUSTOMER_ID.sample(n=3, random_state=day).values
        sel = tx[(tx.TX_TIME_DAYS >= day) & (tx.TX_TIME_DAYS < day + 14) & tx.CUSTOMER_ID.isin(hit)]
        random.seed(day)
        chosen = random.sample(list(sel.index.values), k=len(sel) // 3)
        tx.loc[chosen, "TX_AMOUNT"] = tx.loc[chosen, "TX_AMOUNT"] * 5
        tx.loc[chosen, "TX_FRAUD"] = 1
        tx.loc[chosen, "TX_FRAUD_SCENARIO"] = 3
    return tx


def generate(
    n_customers: int = 5_000,
    n_terminals: int = 10_000,
    nb_days: int = 183,
    start_date: str = "2018-04-01",
    radius: float = 5.0,
) -> pd.DataFrame:
    """The book's run; returns the transactions table with fraud labels."""
    customers = customer_profiles(n_customers)
    terminals = terminal_profiles(n_terminals)
    xy = terminals[["x", "y"]].to_numpy()
    customers["available_terminals"] = customers.apply(
        lambda c: list(
            np.where(np.sqrt(((c[["x", "y"]].to_numpy(float) - xy) ** 2).sum(1)) < radius)[0]
        ),
        axis=1,
    )
    tx = (
        customers.groupby("CUSTOMER_ID")[customers.columns]
        .apply(lambda g: customer_transactions(g.iloc[0], nb_days, start_date))
        .reset_index(drop=True)
    )
    tx = tx.sort_values("TX_DATETIME").reset_index(drop=True)
    tx.insert(0, "TRANSACTION_ID", np.arange(len(tx)))
    return add_frauds(customers, terminals, tx)


def write_parquet(tx: pd.DataFrame, out: Path) -> None:
    """One Parquet file per day, as fintwin writes (the book pickles one file per day)."""
    out.mkdir(parents=True, exist_ok=True)
    for day, part in tx.groupby("TX_TIME_DAYS"):
        part.to_parquet(out / f"day={int(day):03d}.parquet", index=False)


if __name__ == "__main__":  # pragma: no cover
    frame = generate()
    write_parquet(frame, Path(sys.argv[1]) if len(sys.argv) > 1 else Path("bench/out/reference"))
    print(len(frame), frame.TX_FRAUD.mean())
