"""Exact Shapley values of a LightGBM model against one baseline applicant.

LightGBM computes SHAP values itself (``pred_contrib``) only for trees with constant leaves;
for trees whose leaves hold a linear model (``linear_tree``) it refuses. This module computes,
for either kind, the *baseline Shapley* value of every input: the Shapley value of the game
``v(S) = f(x_S, b_rest)``, where ``x`` is the applicant, ``b`` a baseline applicant and ``f``
the model's margin (log-odds). The values are exact and add up to ``f(x) - f(b)``
(Sundararajan and Najmi, "The many Shapley values for model explanation", 2020).

The margin is a sum of trees, and a Shapley value is linear in the game, so each tree is
explained on its own and the results are added. A tree reads only the few inputs it splits on
(and, with linear leaves, those its leaf models use): with ``k`` of them, its game has ``2**k``
coalitions, each a pass of the tree over all applicants at once. A challenger's trees have four
leaves, so ``k <= 3`` and eight passes.

Trees are read from ``Booster.dump_model()`` and evaluated as LightGBM does (numerical
splits, its rules for missing values, and a linear leaf falling back to its constant when one
of its inputs is missing); :meth:`TreeEnsemble.margin` reproduces ``predict(raw_score=True)``,
which the tests check. Categorical splits are not supported: the challenger gives LightGBM
numbers only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fintwin.exceptions import ParameterError

__all__ = ["TreeEnsemble"]

# LightGBM's kZeroThreshold: |x| <= this counts as zero for missing_type "Zero".
_ZERO = 1e-35


@dataclass(frozen=True)
class _Tree:
    """One tree in flat arrays. Nodes ``0..n_splits-1`` are splits, the rest leaves.

    ``inputs`` are the model inputs the tree reads; the split and leaf arrays index into them
    (local positions), so a coalition is a bit mask over ``inputs``.
    """

    inputs: np.ndarray  # (k,) model input positions
    split_input: np.ndarray  # (n_splits,) local position
    threshold: np.ndarray  # (n_splits,)
    nan_goes_left: np.ndarray  # (n_splits,) bool: for missing_type "NaN"
    zero_is_missing: np.ndarray  # (n_splits,) bool: missing_type "Zero"
    missing_is_zero: np.ndarray  # (n_splits,) bool: missing_type "None" (NaN read as 0)
    left: np.ndarray  # (n_splits,) node id
    right: np.ndarray  # (n_splits,) node id
    leaf_value: np.ndarray  # (n_leaves,)
    leaf_const: np.ndarray  # (n_leaves,)
    leaf_coeff: np.ndarray  # (n_leaves, k): 0 where a leaf's model does not use the input
    leaf_uses: np.ndarray  # (n_leaves, k) bool
    depth: int

    def evaluate(self, local: np.ndarray) -> np.ndarray:
        """Tree output for rows of its inputs, shape (n,); ``local`` is (n, k)."""
        n_splits = len(self.split_input)
        node = np.zeros(len(local), dtype=np.int64)
        rows = np.arange(len(local))
        for _ in range(self.depth):
            at_split = node < n_splits
            split = np.where(at_split, node, 0)
            value = local[rows, self.split_input[split]] if n_splits else np.zeros(len(local))
            nan = np.isnan(value)
            value = np.where(nan & self.missing_is_zero[split], 0.0, value)
            is_missing = (nan & ~self.missing_is_zero[split] & ~self.zero_is_missing[split]) | (
                self.zero_is_missing[split] & (np.isnan(value) | (np.abs(value) <= _ZERO))
            )
            default_left = self.nan_goes_left[split]
            go_left = np.where(is_missing, default_left, value <= self.threshold[split])
            child = np.where(go_left, self.left[split], self.right[split])
            node = np.where(at_split, child, node)
        leaf = node - n_splits
        uses = self.leaf_uses[leaf]
        # A linear leaf with a missing input answers its constant-leaf value, as LightGBM does.
        missing_input = (np.isnan(local) & uses).any(axis=1)
        linear = self.leaf_const[leaf] + np.einsum(
            "nk,nk->n", np.where(uses, local, 0.0), self.leaf_coeff[leaf]
        )
        return np.where(missing_input, self.leaf_value[leaf], linear)


def _shapley_weights(k: int) -> np.ndarray:
    """``w[s] = s! (k - s - 1)! / k!``: the weight of a coalition of size ``s`` without a player."""
    return np.array(
        [math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k) for s in range(k)]
    )


class TreeEnsemble:
    """A LightGBM model's trees, for exact baseline Shapley values.

    Parameters
    ----------
    trees : list
        Parsed trees; build with :meth:`from_booster`.
    n_features : int
        Model inputs.
    """

    def __init__(self, trees: list[_Tree], n_features: int) -> None:
        self._trees = trees
        self.n_features = n_features

    @classmethod
    def from_booster(cls, booster: Any) -> TreeEnsemble:
        """Read the trees of a trained ``lightgbm.Booster`` (binary or regression)."""
        dump = booster.dump_model()
        if dump.get("num_tree_per_iteration", 1) != 1:
            raise ParameterError("only models with one tree per iteration are supported")
        n_features = int(dump["max_feature_idx"]) + 1
        return cls([_parse(info["tree_structure"]) for info in dump["tree_info"]], n_features)

    def _check(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise ParameterError(
                f"features must have shape (n, {self.n_features}), got {features.shape}"
            )
        return features

    def margin(self, features: np.ndarray) -> np.ndarray:
        """Sum of the trees' outputs (the raw score), shape (n,)."""
        features = self._check(features)
        out = np.zeros(len(features))
        for tree in self._trees:
            out += tree.evaluate(features[:, tree.inputs])
        return out

    def shapley(self, features: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        """Exact baseline Shapley values, shape (n, n_features).

        Parameters
        ----------
        features : numpy.ndarray of shape (n, n_features)
            Applicants, as the booster reads them (NaN = missing).
        baseline : numpy.ndarray of shape (n_features,)
            The applicant each one is compared with.

        Returns
        -------
        numpy.ndarray of shape (n, n_features)
            Row ``i`` sums to ``margin(features[i]) - margin(baseline)``.
        """
        features = self._check(features)
        baseline = np.asarray(baseline, dtype=np.float64)
        if baseline.shape != (self.n_features,):
            raise ParameterError(
                f"baseline must have shape ({self.n_features},), got {baseline.shape}"
            )
        out = np.zeros_like(features)
        for tree in self._trees:
            k = len(tree.inputs)
            if k == 0:
                continue  # a constant tree: the same for applicant and baseline
            own, base = features[:, tree.inputs], baseline[tree.inputs]
            masks = np.arange(2**k)
            taken = (masks[:, None] >> np.arange(k)) & 1 == 1  # (2**k, k)
            # Every coalition's hybrid applicants in one pass: (2**k * n, k).
            hybrid = np.where(taken[:, None, :], own[None, :, :], base)
            values = tree.evaluate(hybrid.reshape(-1, k)).reshape(2**k, len(features))
            weights = _shapley_weights(k)
            sizes = taken.sum(axis=1)
            for player in range(k):
                without = masks[~taken[:, player]]
                gain = values[without | (1 << player)] - values[without]  # (2**(k-1), n)
                out[:, tree.inputs[player]] += weights[sizes[without]] @ gain
        return out


def _parse(root: Mapping[str, Any]) -> _Tree:
    splits: list[Mapping[str, Any]] = []
    leaves: list[Mapping[str, Any]] = []

    def count(node: Mapping[str, Any]) -> None:
        if "split_index" in node:
            splits.append(node)
            count(node["left_child"])
            count(node["right_child"])
        else:
            leaves.append(node)

    count(root)
    n_splits = len(splits)
    split_id = {id(node): i for i, node in enumerate(splits)}
    leaf_id = {id(node): n_splits + i for i, node in enumerate(leaves)}

    def node_id(node: Mapping[str, Any]) -> int:
        return split_id[id(node)] if "split_index" in node else leaf_id[id(node)]

    for node in splits:
        if node["decision_type"] != "<=":
            raise ParameterError("categorical splits are not supported; give numeric inputs")
    inputs = sorted(
        {int(node["split_feature"]) for node in splits}
        | {int(f) for leaf in leaves for f in leaf.get("leaf_features", [])}
    )
    local = {feature: i for i, feature in enumerate(inputs)}
    k = len(inputs)
    coeff = np.zeros((len(leaves), k))
    uses = np.zeros((len(leaves), k), dtype=bool)
    for i, leaf in enumerate(leaves):
        for feature, c in zip(
            leaf.get("leaf_features", []), leaf.get("leaf_coeff", []), strict=True
        ):
            coeff[i, local[int(feature)]] = c
            uses[i, local[int(feature)]] = True
    missing = [node["missing_type"] for node in splits]

    def depth(node: Mapping[str, Any]) -> int:
        if "split_index" not in node:
            return 0
        return 1 + max(depth(node["left_child"]), depth(node["right_child"]))

    return _Tree(
        inputs=np.array(inputs, dtype=np.int64),
        split_input=np.array([local[int(n["split_feature"])] for n in splits], dtype=np.int64),
        threshold=np.array([float(n["threshold"]) for n in splits]),
        nan_goes_left=np.array([bool(n["default_left"]) for n in splits], dtype=bool),
        zero_is_missing=np.array([m == "Zero" for m in missing], dtype=bool),
        missing_is_zero=np.array([m == "None" for m in missing], dtype=bool),
        left=np.array([node_id(n["left_child"]) for n in splits], dtype=np.int64),
        right=np.array([node_id(n["right_child"]) for n in splits], dtype=np.int64),
        leaf_value=np.array([float(leaf["leaf_value"]) for leaf in leaves]),
        leaf_const=np.array([float(leaf.get("leaf_const", leaf["leaf_value"])) for leaf in leaves]),
        leaf_coeff=coeff,
        leaf_uses=uses,
        depth=depth(root),
    )
