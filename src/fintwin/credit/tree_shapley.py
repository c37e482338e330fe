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
coalitions. A challenger's trees have four leaves, so ``k <= 3`` and eight coalitions. Trees
reading the same number of inputs are padded into arrays and evaluated together, every
coalition and applicant at once.

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
# Elements of the largest temporary array (coalitions x applicants x trees x inputs): ~8 MB;
# larger chunks were no faster (bench_credit.py --part reasons).
_CHUNK_ELEMENTS = 1_000_000


@dataclass(frozen=True)
class _TreeGroup:
    """Trees reading the same number ``k`` of inputs, padded to common sizes.

    Splits are nodes ``0..S-1`` of every tree (padding splits are never reached); leaf ``j``
    is node ``S + j``. Split and leaf arrays index the tree's inputs by local position, so a
    coalition is a bit mask over ``inputs[t]``.
    """

    inputs: np.ndarray  # (T, k) model input positions
    split_input: np.ndarray  # (T, S) local position
    threshold: np.ndarray  # (T, S)
    nan_goes_left: np.ndarray  # (T, S) bool: where missing_type "NaN" sends a NaN
    zero_is_missing: np.ndarray  # (T, S) bool: missing_type "Zero"
    missing_is_zero: np.ndarray  # (T, S) bool: missing_type "None" (NaN read as 0)
    left: np.ndarray  # (T, S) node id
    right: np.ndarray  # (T, S) node id
    leaf_value: np.ndarray  # (T, L)
    leaf_const: np.ndarray  # (T, L)
    leaf_coeff: np.ndarray  # (T, L, k): 0 where a leaf's model does not use the input
    leaf_uses: np.ndarray  # (T, L, k) bool
    depth: int

    @property
    def k(self) -> int:
        return self.inputs.shape[1]

    def evaluate(self, hybrid: np.ndarray) -> np.ndarray:
        """Every tree's output, shape (..., T), for inputs of shape (..., T, k)."""
        n_splits = self.split_input.shape[1]
        trees = np.arange(len(self.inputs))
        node = np.zeros(hybrid.shape[:-1], dtype=np.int64)
        for _ in range(self.depth):
            at_split = node < n_splits
            split = np.where(at_split, node, 0)
            local = self.split_input[trees, split]
            value = np.take_along_axis(hybrid, local[..., None], axis=-1)[..., 0]
            nan = np.isnan(value)
            missing_is_zero = self.missing_is_zero[trees, split]
            zero_is_missing = self.zero_is_missing[trees, split]
            value = np.where(nan & missing_is_zero, 0.0, value)
            is_missing = (nan & ~missing_is_zero & ~zero_is_missing) | (
                zero_is_missing & (np.isnan(value) | (np.abs(value) <= _ZERO))
            )
            go_left = np.where(
                is_missing, self.nan_goes_left[trees, split], value <= self.threshold[trees, split]
            )
            child = np.where(go_left, self.left[trees, split], self.right[trees, split])
            node = np.where(at_split, child, node)
        leaf = node - n_splits
        uses = self.leaf_uses[trees, leaf]
        # A linear leaf with a missing input answers its constant-leaf value, as LightGBM does.
        missing_input = (np.isnan(hybrid) & uses).any(axis=-1)
        linear = self.leaf_const[trees, leaf] + (
            np.where(uses, hybrid, 0.0) * self.leaf_coeff[trees, leaf]
        ).sum(axis=-1)
        return np.where(missing_input, self.leaf_value[trees, leaf], linear)


def _shapley_weights(k: int) -> np.ndarray:
    """``w[s] = s! (k - s - 1)! / k!``: the weight of a coalition of size ``s`` without a player."""
    return np.array(
        [math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k) for s in range(k)]
    )


class TreeEnsemble:
    """A LightGBM model's trees, for exact baseline Shapley values.

    Build one with :meth:`from_booster`.

    Parameters
    ----------
    groups : list of _TreeGroup
        The trees that read at least one input, by number of inputs read.
    constant : float
        The summed output of the trees that read none (single leaves).
    n_features : int
        Model inputs.
    """

    def __init__(self, groups: list[_TreeGroup], constant: float, n_features: int) -> None:
        self._groups = groups
        self._constant = constant
        self.n_features = n_features

    @classmethod
    def from_booster(cls, booster: Any) -> TreeEnsemble:
        """Read the trees of a trained ``lightgbm.Booster`` (binary or regression)."""
        dump = booster.dump_model()
        if dump.get("num_tree_per_iteration", 1) != 1:
            raise ParameterError("only models with one tree per iteration are supported")
        trees = [_parse(info["tree_structure"]) for info in dump["tree_info"]]
        by_size: dict[int, list[dict[str, Any]]] = {}
        for tree in trees:
            by_size.setdefault(len(tree["inputs"]), []).append(tree)
        constant = float(sum(t["leaf_value"][0] for t in by_size.pop(0, [])))
        groups = [_group(by_size[k]) for k in sorted(by_size)]
        return cls(groups, constant, int(dump["max_feature_idx"]) + 1)

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
        out = np.full(len(features), self._constant)
        for group in self._groups:
            out += group.evaluate(features[:, group.inputs]).sum(axis=-1)
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
        for group in self._groups:
            k, n_trees = group.k, len(group.inputs)
            masks = np.arange(2**k)
            taken = (masks[:, None] >> np.arange(k)) & 1 == 1  # (2**k, k)
            sizes = taken.sum(axis=1)
            weights = _shapley_weights(k)
            # (T, n_features) per player: adds each tree's share to the input it reads there.
            scatter = [np.eye(self.n_features)[group.inputs[:, player]] for player in range(k)]
            base = baseline[group.inputs]  # (T, k)
            chunk = max(1, _CHUNK_ELEMENTS // (2**k * n_trees * k))
            for start in range(0, len(features), chunk):
                own = features[start : start + chunk][:, group.inputs]  # (n, T, k)
                hybrid = np.where(taken[:, None, None, :], own[None], base)  # (2**k, n, T, k)
                values = group.evaluate(hybrid)  # (2**k, n, T)
                for player in range(k):
                    without = masks[~taken[:, player]]
                    gain = values[without | (1 << player)] - values[without]
                    share = np.tensordot(weights[sizes[without]], gain, axes=1)  # (n, T)
                    out[start : start + chunk] += share @ scatter[player]
        return out


def _parse(root: Mapping[str, Any]) -> dict[str, Any]:
    """One tree as flat lists: its splits, and its leaves, each in walk order."""
    splits: list[Mapping[str, Any]] = []
    leaves: list[Mapping[str, Any]] = []

    def walk(node: Mapping[str, Any], depth: int) -> int:
        if "split_index" not in node:
            leaves.append(node)
            return depth
        splits.append(node)
        return max(walk(node["left_child"], depth + 1), walk(node["right_child"], depth + 1))

    depth = walk(root, 0)
    for node in splits:
        if node["decision_type"] != "<=":
            raise ParameterError("categorical splits are not supported; give numeric inputs")
    split_id = {id(node): i for i, node in enumerate(splits)}
    leaf_id = {id(node): i for i, node in enumerate(leaves)}
    inputs = sorted(
        {int(node["split_feature"]) for node in splits}
        | {int(f) for leaf in leaves for f in leaf.get("leaf_features", [])}
    )
    local = {feature: i for i, feature in enumerate(inputs)}
    k = len(inputs)
    coeff = np.zeros((len(leaves), k))
    uses = np.zeros((len(leaves), k), dtype=bool)
    for i, leaf in enumerate(leaves):
        pairs = zip(leaf.get("leaf_features", []), leaf.get("leaf_coeff", []), strict=True)
        for feature, value in pairs:
            coeff[i, local[int(feature)]] = value
            uses[i, local[int(feature)]] = True

    def child(node: Mapping[str, Any]) -> tuple[bool, int]:
        """(is a leaf, index among the splits or among the leaves)."""
        if "split_index" in node:
            return False, split_id[id(node)]
        return True, leaf_id[id(node)]

    return {
        "inputs": inputs,
        "split_input": [local[int(n["split_feature"])] for n in splits],
        "threshold": [float(n["threshold"]) for n in splits],
        "nan_goes_left": [bool(n["default_left"]) for n in splits],
        "zero_is_missing": [n["missing_type"] == "Zero" for n in splits],
        "missing_is_zero": [n["missing_type"] == "None" for n in splits],
        "left": [child(n["left_child"]) for n in splits],
        "right": [child(n["right_child"]) for n in splits],
        "leaf_value": [float(leaf["leaf_value"]) for leaf in leaves],
        "leaf_const": [float(leaf.get("leaf_const", leaf["leaf_value"])) for leaf in leaves],
        "leaf_coeff": coeff,
        "leaf_uses": uses,
        "depth": depth,
    }


def _group(trees: list[dict[str, Any]]) -> _TreeGroup:
    """Pad trees reading the same number of inputs into one :class:`_TreeGroup`."""
    n_trees, k = len(trees), len(trees[0]["inputs"])
    n_splits = max(len(t["split_input"]) for t in trees)
    n_leaves = max(len(t["leaf_value"]) for t in trees)

    def padded(key: str, fill: Any, dtype: Any) -> np.ndarray:
        out = np.full((n_trees, n_splits), fill, dtype=dtype)
        for i, tree in enumerate(trees):
            out[i, : len(tree[key])] = tree[key]
        return out

    def node_ids(key: str) -> np.ndarray:
        out = np.zeros((n_trees, n_splits), dtype=np.int64)
        for i, tree in enumerate(trees):
            for j, (is_leaf, index) in enumerate(tree[key]):
                out[i, j] = n_splits + index if is_leaf else index
        return out

    leaf_value = np.zeros((n_trees, n_leaves))
    leaf_const = np.zeros((n_trees, n_leaves))
    leaf_coeff = np.zeros((n_trees, n_leaves, k))
    leaf_uses = np.zeros((n_trees, n_leaves, k), dtype=bool)
    for i, tree in enumerate(trees):
        count = len(tree["leaf_value"])
        leaf_value[i, :count] = tree["leaf_value"]
        leaf_const[i, :count] = tree["leaf_const"]
        leaf_coeff[i, :count] = tree["leaf_coeff"]
        leaf_uses[i, :count] = tree["leaf_uses"]
    return _TreeGroup(
        inputs=np.array([t["inputs"] for t in trees], dtype=np.int64),
        split_input=padded("split_input", 0, np.int64),
        threshold=padded("threshold", 0.0, np.float64),
        nan_goes_left=padded("nan_goes_left", False, bool),
        zero_is_missing=padded("zero_is_missing", False, bool),
        missing_is_zero=padded("missing_is_zero", False, bool),
        left=node_ids("left"),
        right=node_ids("right"),
        leaf_value=leaf_value,
        leaf_const=leaf_const,
        leaf_coeff=leaf_coeff,
        leaf_uses=leaf_uses,
        depth=max(t["depth"] for t in trees),
    )
