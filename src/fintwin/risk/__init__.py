"""Fraud and AML risk.

- :mod:`~fintwin.risk.metrics`: AUC ROC, average precision, card precision@k, alert-rate
  metrics, fraud amount caught, latency percentiles (pure functions of arrays);
- :mod:`~fintwin.risk.evaluation`: all of them at once as a JSON-ready record;
- :mod:`~fintwin.risk.protocols`: the handbook's time-based train / delay / test splits;
- :mod:`~fintwin.risk.policy`: versioned decision policies (YAML, rules in CEL, score bands);
- :mod:`~fintwin.risk.engine`: the decision engine (features, model score, policy, reasons), one
  event at a time or a whole table in batch; :mod:`~fintwin.risk.decision`: what it returns.
"""

from fintwin.risk.decision import (
    DECISION_SCHEMA,
    Decision,
    Explain,
    Explanation,
    FeatureContribution,
)
from fintwin.risk.engine import DecisionEngine
from fintwin.risk.evaluation import DEFAULT_ALERT_RATE, FraudEvaluation, evaluate_scores
from fintwin.risk.metrics import (
    CardPrecision,
    LatencySummary,
    PRCurve,
    alert_rate,
    auc_roc,
    average_precision,
    card_precision_at_k,
    flags_at_alert_rate,
    fraud_amount_caught,
    latency_percentiles,
    precision_recall_curve,
    recall_at_alert_rate,
    recall_by_group,
    threshold_at_alert_rate,
)
from fintwin.risk.policy import (
    HANDBOOK_FEATURES,
    Action,
    Policy,
    PolicyDecision,
    Rule,
    ScoreBand,
    builtin_policy_path,
    load_policy,
)
from fintwin.risk.protocols import (
    KnownCompromised,
    TimeSplit,
    check_no_label_leakage,
    day_index,
    handbook_split,
    prequential_splits,
)

__all__ = [
    "DECISION_SCHEMA",
    "DEFAULT_ALERT_RATE",
    "HANDBOOK_FEATURES",
    "Action",
    "CardPrecision",
    "Decision",
    "DecisionEngine",
    "Explain",
    "Explanation",
    "FeatureContribution",
    "FraudEvaluation",
    "KnownCompromised",
    "LatencySummary",
    "PRCurve",
    "Policy",
    "PolicyDecision",
    "Rule",
    "ScoreBand",
    "TimeSplit",
    "alert_rate",
    "auc_roc",
    "average_precision",
    "builtin_policy_path",
    "card_precision_at_k",
    "check_no_label_leakage",
    "day_index",
    "evaluate_scores",
    "flags_at_alert_rate",
    "fraud_amount_caught",
    "handbook_split",
    "latency_percentiles",
    "load_policy",
    "precision_recall_curve",
    "prequential_splits",
    "recall_at_alert_rate",
    "recall_by_group",
    "threshold_at_alert_rate",
]
