"""The ``aml`` preset: a bank's customers and businesses moving money the ordinary way, with
money-laundering alert groups of the AMLSim catalogue (Suzumura and Kanezashi, *Anti-Money
Laundering Datasets: AMLSim*, IBM, 2021) hidden among them.

Who holds an account (table ``accounts``): every customer
(:func:`~fintwin.world.population.draw_population`) one ``current`` account; businesses a
``merchant`` account (no owning customer); ``external`` accounts for cash, the pension fund and
outside banks, so that money entering or leaving has two sides.

Ordinary activity (table ``transfers``), a sparse, degree-skewed graph of regular
counterparties: salaried customers are paid by an employer business on its payday (SALARY),
the retired by the pension fund, students by family at outside banks, the self-employed by
clients there (TRANSFER); customers pay bills to two billers each month (BILL; the largest
businesses bill most people), pay at usual nearby shops and at popular ones (PAYMENT), send
TRANSFERs to a few contacts (popular people are the contacts of many), withdraw and deposit
cash (CASH_OUT, CASH_IN). Spending is budgeted as shares of monthly pay. Businesses get revenue
from outside the bank (PAYMENT, enough to cover payroll), pay two supplier businesses
(TRANSFER), and each midnight sweep cash above twice their target buffer to their bank (DEBIT).

Laundering (:mod:`fintwin.world.aml._laundering`): alert groups, each with one typology
(fan_out, fan_in, cycle, scatter_gather, gather_scatter, bipartite, stack; every typology at
least once), members drawn from customers' and businesses' accounts, structured cash placement,
the pattern's TRANSFERs just under the reporting threshold with a small fee kept at each hop,
over days, then sub-threshold withdrawals or wires out. Every such row has ``is_laundering``,
``laundering_typology`` and ``alert_id``; ``truth/aml_alerts`` and ``truth/aml_alert_members``
hold each group and its members' roles. Laundering rows are labelled a lognormal delay (weeks)
after the group's last transfer; genuine rows ``genuine_label_delay_days`` after they happen.

Balances: settled day by day in time order (:class:`~fintwin.world._ledger.Ledger`); an
ordinary debit a customer or business cannot afford is declined (absent from the table);
laundering rows always go through. Money is conserved: per account, opening balance + credits -
debits = last balance after.
"""

from fintwin.world.aml._model import AmlModel
from fintwin.world.aml._params import DEFAULTS, AmlParams

__all__ = ["DEFAULTS", "AmlModel", "AmlParams"]
