"""Data shared by the tests of skmice/methods/heckman/."""

from __future__ import annotations

import numpy as np

from skmice.methods import Design


def _selection_data(n=4000, rho=0.6, binary=False, n_groups=1, seed=0, strength=1.0):
    """y = 1 + x + e (binary: 1(0.2 + x + e > 0)); observed when 0.4 + 0.5 x + z + u > 0."""
    rng = np.random.default_rng(seed)
    x, z = rng.standard_normal(n), rng.standard_normal(n)
    e, u = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n).T
    y = (0.2 + x + e > 0).astype(float) if binary else 1 + x + e
    observed = 0.4 + 0.5 * x + strength * z + u > 0
    groups = np.arange(n) % n_groups
    design = Design(
        X=np.column_stack([np.ones(n), x]),
        groups=groups,
        n_groups=n_groups,
        W=np.column_stack([np.ones(n), x, z]),
    )
    return design, y, observed


def _hiv_design(b):
    d = b.data
    mar = d["marital"].astype(str).to_numpy()
    X = np.column_stack(
        [np.ones(len(d)), d["age"], mar == "married", mar == "previously", d["condom"]]
    ).astype(float)
    W = np.column_stack([X, d["smoke"]]).astype(float)
    g = d["region"].to_numpy() - 1
    return Design(X=X, W=W, groups=g, n_groups=int(g.max()) + 1), d["hiv"].to_numpy(float)
