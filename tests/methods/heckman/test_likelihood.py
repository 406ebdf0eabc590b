"""Tests of skmice/methods/heckman/_likelihood.py: the likelihood's analytic derivatives."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from skmice.methods.heckman._likelihood import _Layout, _Objective, _penalty_weights

from ._common import _selection_data


@pytest.mark.parametrize("binary", [False, True])
def test_analytic_gradient_and_hessian(binary):
    design, y, s = _selection_data(n=400, binary=binary, n_groups=3, seed=2)
    lay = _Layout(2, 3, binary)
    rng = np.random.default_rng(3)
    theta = rng.normal(0, 0.3, (3, lay.d))
    obj = _Objective(
        design.X,
        design.W,
        np.where(s, y, 0.0),
        s,
        design.groups,
        3,
        lay,
        _penalty_weights(lay, 1e-3, 1.0),
    )
    f, g, H = obj.derivatives(theta)
    num_g = approx_fprime(theta.ravel(), lambda t: obj.value(t.reshape(3, -1)).sum(), 1e-6)
    np.testing.assert_allclose(g.ravel(), num_g, atol=1e-3 * max(1.0, np.abs(g).max()))
    for c in range(lay.d):  # column c of every cluster's Hessian

        def gcol(t, c=c):
            th = theta.copy()
            th[:, c] = t
            return obj.derivatives(th)[1]

        step = 1e-6
        diff = (gcol(theta[:, c] + step) - gcol(theta[:, c] - step)) / (2 * step)
        np.testing.assert_allclose(H[:, :, c], diff, atol=1e-3 * max(1.0, np.abs(H).max()))
