"""The ``retail-bank`` preset, the default world: a retail bank's customers and households, their
devices, cards and accounts, merchants at home and abroad, card payments and account transfers,
and the fraud typologies that prey on them (skimming, card-not-present, card testing, account
takeover, mule rings, impossible travel), each labelled late, as in real life.

Modules: ``params`` (the documented parameters), ``catalogue`` (calibration tables),
``population`` and ``merchants`` (who and where), ``behaviour`` (how each customer pays, travels
and moves money), ``payments`` and ``transfers`` (one block's events), ``fraud`` and ``mules``
(typologies), ``model`` (the :class:`RetailBankModel`; balances via ``fintwin.world._ledger``).
"""

from fintwin.world.retail_bank.model import RetailBankModel
from fintwin.world.retail_bank.params import DEFAULTS, RetailBankParams

__all__ = ["DEFAULTS", "RetailBankModel", "RetailBankParams"]
