"""Fraud and AML risk.

- :mod:`~fintwin.risk.metrics`: AUC ROC, average precision, card precision@k, alert-rate
  metrics, fraud amount caught, latency percentiles (pure functions of arrays);
- :mod:`~fintwin.risk.evaluation`: all of them at once as a JSON-ready record;
- :mod:`~fintwin.risk.protocols`: the handbook's time-based train / delay / test splits;
- :mod:`~fintwin.risk.policy`: versioned decision policies (YAML, rules in CEL, score bands);
- :mod:`~fintwin.risk.training`: LightGBM fraud models trained, calibrated, tested and registered
  under a time protocol; :mod:`~fintwin.risk.replay`: a world's labelled events, the protocols,
  offline features and scores; :mod:`~fintwin.risk.model_evaluation`: a registered model on a
  world, prequential folds; :mod:`~fintwin.risk.fraud_features`: feature sets for them;
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
from fintwin.risk.fraud_features import default_feature_set, handbook_plus_feature_set
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
from fintwin.risk.model_evaluation import (
    PrequentialEvaluation,
    evaluate_model,
    prequential_evaluation,
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
from fintwin.risk.replay import (
    LabelledEvents,
    Protocol,
    ProtocolPlan,
    WorldFeatures,
    load_events,
    protocol_splits,
    resolve_protocol,
    world_features,
)
from fintwin.risk.training import TrainResult, train_fraud_model

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
    "LabelledEvents",
    "LatencySummary",
    "PRCurve",
    "Policy",
    "PolicyDecision",
    "PrequentialEvaluation",
    "Protocol",
    "ProtocolPlan",
    "Rule",
    "ScoreBand",
    "TimeSplit",
    "TrainResult",
    "WorldFeatures",
    "alert_rate",
    "auc_roc",
    "average_precision",
    "builtin_policy_path",
    "card_precision_at_k",
    "check_no_label_leakage",
    "day_index",
    "default_feature_set",
    "evaluate_model",
    "evaluate_scores",
    "flags_at_alert_rate",
    "fraud_amount_caught",
    "handbook_plus_feature_set",
    "handbook_split",
    "latency_percentiles",
    "load_events",
    "load_policy",
    "precision_recall_curve",
    "prequential_evaluation",
    "prequential_splits",
    "protocol_splits",
    "recall_at_alert_rate",
    "recall_by_group",
    "resolve_protocol",
    "threshold_at_alert_rate",
    "train_fraud_model",
    "world_features",
]
