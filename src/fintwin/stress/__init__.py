"""Stress testing and scenario pre-play: regulatory capital, portfolio losses, macro scenarios
and expected credit loss, market risk, and policy changes tried in the twin.

- :mod:`.irb`: Basel IRB risk weights and capital (``irb_risk_weight``).
- :mod:`.portfolio`: multi-factor Gaussian-copula loss simulation, Vasicek closed forms.
- :mod:`.scenarios`, :mod:`.ecl`: macro scenarios (YAML), conditional PDs, loss projection,
  IFRS 9 staging and expected credit loss.
- :mod:`.market`: VaR and ES, back-testing (Basel traffic light, Kupiec).
- :mod:`.lending_replay`, :mod:`.fraud_replay`, :mod:`.policy_change`, :mod:`.preplay`: the
  pre-play of a policy change on a world.
"""

from fintwin.stress.irb import (
    AssetClass,
    IRBParameters,
    capital_requirement,
    irb_risk_weight,
    risk_weighted_assets,
)

__all__ = [
    "AssetClass",
    "IRBParameters",
    "capital_requirement",
    "irb_risk_weight",
    "risk_weighted_assets",
]
