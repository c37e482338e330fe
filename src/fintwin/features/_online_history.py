"""The online engine's part for the history families (:mod:`fintwin.features.history`).

:class:`HistoryPlan` groups the definitions by the state they share and computes their values;
:class:`~fintwin.features.OnlineFeatureEngine` calls it and feeds it the labels it releases.
"""

from __future__ import annotations

import math
from typing import Any

from fintwin.features._online_state import AgeKey, ProfileKey
from fintwin.features.feature_set import FeatureSet
from fintwin.features.history import (
    Z_FLOOR_FRACTION,
    Z_FLOOR_MIN_CENTS,
    AmountProfile,
    LabelAge,
)
from fintwin.features.state import StateBackend
from fintwin.features.vocab import Entity, LabelAgeStat, ProfileStat

MS = 1000
_NAN = math.nan


class HistoryPlan:
    """Amount-profile and label-age definitions of a feature set, compiled.

    Attributes
    ----------
    profiles : dict of Entity to tuple of int
        Amount-profile windows (ms) per key entity, shortest first.
    ages : dict of Entity to tuple of (int, int)
        Label-age ``(window, max delay)`` configs (ms) per key entity.
    label_reach : int
        How long after its event a label can still matter (ms): the longest max delay.
    """

    def __init__(self, feature_set: FeatureSet) -> None:
        prof: dict[Entity, set[int]] = {}
        ages: dict[Entity, list[tuple[int, int]]] = {}
        for d in feature_set:
            if isinstance(d, AmountProfile):
                prof.setdefault(d.key, set()).add(d.window_seconds * MS)
            elif isinstance(d, LabelAge):
                cfg = (d.window_seconds * MS, d.max_label_delay_seconds * MS)
                if cfg not in ages.setdefault(d.key, []):
                    ages[d.key].append(cfg)
        self.profiles = {e: tuple(sorted(ws)) for e, ws in prof.items()}
        self.ages = {e: tuple(cfgs) for e, cfgs in ages.items()}
        self.label_reach = max((md for cfgs in ages.values() for _, md in cfgs), default=0)
        self._age_horizon = {e: max(w for w, _ in cfgs) for e, cfgs in self.ages.items()}
        self._prof_out: list[tuple[int, Entity, int, ProfileStat]] = []
        self._age_out: list[tuple[int, Entity, int, int, LabelAgeStat]] = []
        for i, d in enumerate(feature_set):
            if isinstance(d, AmountProfile):
                k = self.profiles[d.key].index(d.window_seconds * MS)
                self._prof_out.append((i, d.key, k, d.stat))
            elif isinstance(d, LabelAge):
                cfg = (d.window_seconds * MS, d.max_label_delay_seconds * MS)
                self._age_out.append((i, d.key, self.ages[d.key].index(cfg), cfg[0], d.stat))

    def __bool__(self) -> bool:
        return bool(self.profiles or self.ages)

    def owns(self, d: Any) -> bool:
        return isinstance(d, AmountProfile | LabelAge)

    # ------------------------------------------------------------------ amount profiles
    def amount_profiles(
        self, state: StateBackend, keys: dict, t: int, cents: int, out: list[float]
    ) -> None:
        """Read each key's earlier amounts, then add this event's."""
        got: dict[Entity, list[tuple[int, int, int]]] = {}
        for e, windows in self.profiles.items():
            k = keys[e]
            if k is None:
                continue
            slot = "profile/" + e.value
            st = state.get(slot, k)
            if st is None:
                st = ProfileKey(len(windows))
            got[e] = st.advance(windows, t)
            st.push(t, cents)
            state.put(slot, k, st, t + windows[-1])
        for i, e, k, stat in self._prof_out:
            sums = got.get(e)
            if sums is not None:
                out[i] = _profile_value(stat, cents, *sums[k])

    # ------------------------------------------------------------------ label ages
    def add_label(
        self, state: StateBackend, e: Entity, k: Any, avail: int, tj: int, fraud: int
    ) -> None:
        """A label of key value ``k`` (entity ``e``) that became available at ``avail``."""
        configs = self.ages.get(e)
        if configs is None:
            return
        slot = "label_age/" + e.value
        st = state.get(slot, k)
        if st is None:
            st = AgeKey(len(configs))
        st.add(configs, avail, tj, fraud)
        state.put(slot, k, st, st.latest + self._age_horizon[e])

    def label_ages(self, state: StateBackend, keys: dict, t: int, out: list[float]) -> None:
        states: dict[Entity, AgeKey | None] = {}
        for e in self.ages:
            k = keys[e]
            if k is not None:
                states[e] = state.get("label_age/" + e.value, k)
        for i, e, k, w, stat in self._age_out:
            if e not in states:
                continue
            st = states[e]
            if st is None:
                continue
            first, last, genuine = st.read(k, w, t)
            at = (
                first
                if stat is LabelAgeStat.FIRST_FRAUD
                else last
                if stat is LabelAgeStat.LAST_FRAUD
                else genuine
            )
            if at is not None:
                out[i] = (t - at) / 1000.0
        for e, st in states.items():
            if st is not None:  # reading trimmed it: write it back for serialising backends
                state.put("label_age/" + e.value, keys[e], st, st.latest + self._age_horizon[e])


def _profile_value(stat: ProfileStat, cents: int, n: int, s1: int, s2: int) -> float:
    """One amount-profile value, by the very float operations of the offline engine."""
    if n == 0:
        return _NAN
    mean = float(s1) / float(n)
    if stat is ProfileStat.MEAN:
        return mean / 100.0
    if stat is ProfileStat.RATIO:
        return float(cents) / mean if s1 != 0 else _NAN
    if n < 2:
        return _NAN
    std = math.sqrt(float(n * s2 - s1 * s1) / float(n * n))
    if stat is ProfileStat.STD:
        return std / 100.0
    return (float(cents) - mean) / max(std, Z_FLOOR_FRACTION * max(mean, Z_FLOOR_MIN_CENTS))
