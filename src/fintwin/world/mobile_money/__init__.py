"""The ``mobile-money`` preset: a PaySim-style mobile-money service (Lopez-Rojas, Elmir and
Axelsson, *PaySim: a financial mobile money simulator for fraud detection*, 2016), vectorised.

Who holds an account (table ``accounts``):

- every customer (:func:`~fintwin.world.population.draw_population`) owns one ``wallet``;
- ``agent`` accounts are the shops where cash becomes e-money and back, placed where people
  live; each customer uses the two nearest of a few agents of their region;
- ``merchant`` accounts receive payments; a few popular merchants draw most of them;
- ``external`` accounts stand for the banks outside the service, so that money entering or
  leaving has two sides (their balance is the outside world's net position, negative when money
  came in);
- a fraud campaign opens a fresh mule ``wallet`` (and its holder in ``customers``) on its day.

What happens (table ``transfers``), with a daily cycle
(:data:`fintwin.world._flows.HOURLY_ACTIVITY`): each wallet makes ``Poisson(rate)`` transfers
a day, of PaySim's five kinds in PaySim's proportions by default: CASH_IN (agent -> wallet),
CASH_OUT (wallet -> agent), PAYMENT (wallet -> merchant), TRANSFER (wallet -> wallet of a
contact) and DEBIT (wallet -> the holder's bank). Amounts are lognormal, scaled by the holder's
income; each wallet's mean cash-in is set so that its expected inflow, transfers received
included, slightly exceeds its outflow. At midnight a settlement batch tops agents' e-money
float back up from their bank (CASH_IN external -> agent) or sweeps the excess (CASH_OUT
agent -> external), and sweeps merchants' takings to their bank (DEBIT merchant -> external).

Balances: the parent settles each day in time order (:class:`~fintwin.world._ledger.Ledger`);
a wallet or agent cannot go below zero, so a transfer it cannot afford is declined (absent from
the table). Every row carries both accounts' balances before and after it, and money is
conserved: per account, opening balance + credits - debits = last balance after.

Fraud (account takeover, as in PaySim): a fraudster takes over a victim's wallet (richer wallets
are likelier targets), TRANSFERs its whole balance at that moment to a mule wallet opened that
day, and the mule CASH_OUTs all of it at a random agent minutes to hours later. Both rows are
labelled ``fraud_scenario = account_takeover``; a takeover of an empty wallet moves nothing.
Labels of fraud rows are known after a lognormal delay (days to weeks, drawn per campaign),
those of genuine rows ``genuine_label_delay_days`` after they happen.
"""

from fintwin.world.mobile_money._model import MobileMoneyModel
from fintwin.world.mobile_money._params import DEFAULTS, MobileMoneyParams

__all__ = ["DEFAULTS", "MobileMoneyModel", "MobileMoneyParams"]
