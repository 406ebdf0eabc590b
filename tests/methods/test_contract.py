"""The ConditionalMethod contract, checked for every registered method and target kind.

The cases come from ``registered_methods()``: a new method is checked here
without editing a list. Each method gets the design its class attributes ask
for (a random part, a selection equation, every row), single-level and
two-level data, and clusters new to the fitted method.
"""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skmice.methods import Design, registered_methods

N_CLUSTERS, SIZE = 24, 12


def _data(kind, seed=0):
    """Rows, cluster codes, a design and a target of the given kind; about 25% missing."""
    rng = np.random.default_rng(seed)
    n = N_CLUSTERS * SIZE
    groups = np.repeat(np.arange(N_CLUSTERS), SIZE)
    x = rng.standard_normal((n, 2))
    u = rng.standard_normal(N_CLUSTERS)[groups]
    eta = 0.8 * x[:, 0] - 0.5 * x[:, 1] + u
    if kind == "continuous":
        y = eta + rng.standard_normal(n)
    elif kind == "binary":
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    else:
        y = np.digitize(eta + rng.logistic(size=n), [-0.7, 0.7]).astype(float)
    missing = rng.random(n) < 0.25
    return x, groups, y, missing


def _design(method, x, groups, rows, n_groups=N_CLUSTERS):
    X = np.column_stack([np.ones(len(rows)), x[rows]])
    d = Design(X=X, groups=groups[rows], n_groups=n_groups)
    if method.needs_groups:
        d.Z = X[:, :2].copy()
        d.z_in_x = np.array([0, 1])
    if method.needs_selection:
        d.W = np.column_stack([X, np.cos(3 * x[rows, 0])])
    return d


def _cases():
    for name, cls in sorted(registered_methods().items()):
        for kind in cls.supported_kinds if isinstance(cls.supported_kinds, tuple) else ():
            yield pytest.param(name, kind, id=f"{name}-{kind}")


def _fit(method, kind, seed=0):
    """Fit ``method`` on its data; return the data and the design of the rows to impute."""
    x, groups, y, missing = _data(kind)
    if method.cluster_level:  # one value per cluster
        y = y[np.arange(N_CLUSTERS) * SIZE][groups]
        missing = np.isin(groups, [1, 5, 9]) | (missing & (groups % 2 == 0))
    rows = np.arange(len(y))
    if method.needs_all_rows:
        y_fit = np.where(missing, np.nan, y)
        design = _design(method, x, groups, rows)
    else:
        y_fit = y[~missing]
        design = _design(method, x, groups, rows[~missing])
    method.fit(design, y_fit, np.random.default_rng(seed))
    return x, groups, y, missing, _design(method, x, groups, rows[missing])


def _sample(method, design, seed=1, observed=None):
    return method.sample(design, np.random.default_rng(seed), observed=observed)


@pytest.mark.parametrize("name,kind", list(_cases()))
def test_fit_sample_contract(name, kind):
    cls = registered_methods()[name]
    method = cls()
    assert clone(method).get_params() == method.get_params()
    x, groups, y, missing, design_mis = _fit(method, kind)
    out = _sample(method, design_mis)
    assert out.shape == (missing.sum(),) and out.dtype == np.float64
    assert np.isfinite(out).all()
    if kind != "continuous":
        assert set(np.unique(out)) <= set(np.unique(y))
    if method.cluster_level:  # one value per cluster
        for g in np.unique(design_mis.groups):
            assert np.unique(out[design_mis.groups == g]).size == 1
    # the same seeds give the same draws, from a clone fitted afresh
    again = clone(cls())
    _fit(again, kind)
    np.testing.assert_array_equal(_sample(again, design_mis), out)


@pytest.mark.parametrize("name,kind", list(_cases()))
def test_not_fitted_and_wrong_columns(name, kind):
    cls = registered_methods()[name]
    x, groups, y, missing = _data(kind)
    design = _design(cls(), x, groups, np.arange(10))
    with pytest.raises(NotFittedError):
        cls().sample(design, np.random.default_rng(0))
    method = cls()
    _, _, _, _, design_mis = _fit(method, kind)
    wider = Design(X=np.column_stack([design_mis.X, design_mis.X[:, 1]]), Z=design_mis.Z,
                   groups=design_mis.groups, n_groups=design_mis.n_groups, W=design_mis.W)
    with pytest.raises(ValueError):
        method.sample(wider, np.random.default_rng(0))
    with pytest.raises(TypeError):
        method.sample(design_mis.X, np.random.default_rng(0))


@pytest.mark.parametrize("name,kind", list(_cases()))
def test_new_clusters(name, kind):
    """Rows of clusters unseen in fit, with the new data's observed rows."""
    cls = registered_methods()[name]
    method = cls()
    _fit(method, kind)
    x, groups, y, missing = _data(kind, seed=7)
    groups = groups + N_CLUSTERS  # all new
    if method.cluster_level:
        y = y[np.arange(N_CLUSTERS) * SIZE][groups - N_CLUSTERS]
    rows = np.arange(len(y))
    n_groups = 2 * N_CLUSTERS
    design_mis = _design(method, x, groups, rows[missing], n_groups)
    observed = (_design(method, x, groups, rows[~missing], n_groups), y[~missing])
    out = _sample(method, design_mis, observed=observed)
    assert out.shape == (missing.sum(),) and np.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(registered_methods()))
def test_declared_parameters_are_checked(name):
    cls = registered_methods()[name]
    constraints = getattr(cls, "_parameter_constraints", {})
    params = cls().get_params(deep=False)
    assert set(constraints) == set(params), "every parameter has declared constraints"
    kind = cls.supported_kinds[0]
    for param in constraints:
        method = cls().set_params(**{param: object()})
        with pytest.raises((ValueError, TypeError), match=param):
            _fit(method, kind)
