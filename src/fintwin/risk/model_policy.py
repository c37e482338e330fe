"""The policy a registered model decides with: one given, the copy stored with it, or score-only.

``fintwin risk train --policy FILE`` stores a verbatim copy of the policy as ``policy.yaml`` in
the model's version folder (``REGISTRY/NAME/0003/policy.yaml``), outside the registry manifest:
its content hash, recorded in every decision, identifies it. :func:`policy_for_model` is what
``fintwin risk decide``, the evaluation report and the service run.
"""

from __future__ import annotations

from pathlib import Path

from fintwin.governance import LoadedModel
from fintwin.risk.model_evaluation import model_feature_set
from fintwin.risk.policy import Policy, load_policy

__all__ = [
    "POLICY_FILE",
    "model_policy",
    "policy_for_model",
    "score_only_policy",
    "stored_policy_path",
]

POLICY_FILE = "policy.yaml"
"""Name of the policy copy stored in a model's version folder."""


def stored_policy_path(model: LoadedModel) -> Path:
    """Where ``train --policy`` stores the policy copy of ``model``."""
    return model.version.path / POLICY_FILE


def model_policy(model: LoadedModel, given: Path | None = None) -> Policy | None:
    """``given``, else the copy stored with the model, checked against its features; None if
    neither exists.

    Raises
    ------
    PolicyError
        The policy is invalid or uses features the model lacks (the error names the rule).
    """
    path = given if given is not None else stored_policy_path(model)
    if given is None and not path.is_file():
        return None
    return load_policy(path, model_feature_set(model).names)


def score_only_policy(model: LoadedModel) -> Policy:
    """A policy without rules: ``review`` when the score reaches the model's recorded alert
    threshold, ``approve`` below.

    The threshold is the ``threshold`` metric the model recorded at training (the score that
    flagged :data:`~fintwin.risk.DEFAULT_ALERT_RATE` of its test events), else 0.5. Used when a
    model travels without a policy.
    """
    threshold = float(model.metadata.metrics.get("threshold", 0.5))
    threshold = min(max(threshold, 0.0), 1.0)
    text = (
        "policy: score-only\n"
        "version: 1\n"
        "model: null\n"
        f"thresholds: {{review: {threshold!r}}}\n"
        "rules: []\n"
        "default: {bands: {review: review}, otherwise: approve}\n"
    )
    return load_policy(text, model.metadata.feature_names)


def policy_for_model(model: LoadedModel, given: Path | None = None) -> Policy:
    """:func:`model_policy`, falling back to :func:`score_only_policy`."""
    return model_policy(model, given) or score_only_policy(model)
