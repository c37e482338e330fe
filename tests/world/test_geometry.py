from __future__ import annotations

import numpy as np

from fintwin.world._geometry import within_radius


def test_within_radius_matches_brute_force() -> None:
    rng = np.random.default_rng(4)
    cust, term = rng.uniform(0, 50, (300, 2)), rng.uniform(0, 50, (2_000, 2))
    offsets, idx = within_radius(cust, term, 3.0)
    for i in range(len(cust)):
        brute = np.flatnonzero(((cust[i] - term) ** 2).sum(axis=1) < 9.0)
        assert np.array_equal(np.sort(idx[offsets[i] : offsets[i + 1]]), brute)
