"""Credit decisions: scorecards, challengers, reasons, fairness audits and cut-off what-ifs."""
