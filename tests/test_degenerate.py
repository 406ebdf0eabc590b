"""Degenerate data, one shape per test, and the numerical health of the samplers.

Each shape is one that real clustered data takes: a single cluster, clusters of
one row, more random effects than rows, random slopes constant within
clusters, collinear predictors, separation in a binary target, extreme
scales, many clusters, cluster ids of every type, and the shapes on which
R mice stops (a cluster with one observed value for 2l.lmer with a random
slope; few clusters for 2l.norm, whose improper prior then gives a singular
random-effect covariance; near-singular cluster designs). For every method
that applies, each must complete the data, keep the observed values bit for
bit, leave the input alone, stay quiet (no warnings), and give imputations on
the scale of the data.

Numerical health: a method that returns NaN or inf is caught at the door
with a message that names the column and the clusters; no warning is raised
on well-behaved data by any method.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from skmice import MultilevelIterativeImputer, make_predictor_matrix
from skmice.methods import ConditionalMethod

CONTINUOUS = ["2l.pan", "2l.lmer", "2l.norm", "2l.pmm"]


def _frame(sizes, seed=0, slope_sd=0.5, frac=0.3):
    """y with a random intercept and slope of x, a binary b, a cluster-level w."""
    rng = np.random.default_rng(seed)
    sizes = np.asarray(sizes)
    g = np.repeat(np.arange(sizes.size), sizes)
    n = g.size
    x = rng.standard_normal(n)
    w = rng.standard_normal(sizes.size)[g]
    u0, u1 = rng.standard_normal(sizes.size), slope_sd * rng.standard_normal(sizes.size)
    y = 1 + x + 0.5 * w + u0[g] + u1[g] * x + 0.6 * rng.standard_normal(n)
    b = (y + rng.standard_normal(n) > 1).astype(float)
    X = pd.DataFrame({"g": g, "x": x, "w": w, "y": y, "b": b})
    X.loc[rng.random(n) < frac, "y"] = np.nan
    X.loc[rng.random(n) < frac / 2, "x"] = np.nan
    X.loc[rng.random(n) < frac / 2, "b"] = np.nan
    return X


def _impute(X, methods, pm=None, max_iter=3, seed=0, expect=None):
    """Impute; check the guarantees that hold for every shape.

    No warning may be raised but one matching ``expect`` (which must be).
    """
    before = X.copy(deep=True)
    imp = MultilevelIterativeImputer(
        cluster="g", methods=methods, predictor_matrix=pm, max_iter=max_iter, random_state=seed
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = imp.fit_transform(X)
    messages = [str(w.message) for w in caught]
    if expect is not None:
        assert any(re.search(expect, m) for m in messages), messages
        messages = [m for m in messages if not re.search(expect, m)]
    assert not messages
    pd.testing.assert_frame_equal(X, before)  # input not modified
    assert list(out.columns) == list(X.columns) and out.index.equals(X.index)
    for col in methods:
        assert out[col].notna().all(), col
        obs = X[col].notna().to_numpy()
        np.testing.assert_array_equal(out.loc[obs, col].to_numpy(), X.loc[obs, col].to_numpy())
    return imp, out


def _on_scale(X, out, col="y", k=8.0):
    """Imputed values lie within k observed standard deviations of the observed mean."""
    obs = X[col].dropna()
    imputed = out.loc[X[col].isna(), col]
    assert np.all(np.abs(imputed - obs.mean()) < k * obs.std()), col


def _methods(method):
    """``method`` for the continuous columns, or for the binary one (2l.bin)."""
    if method == "2l.bin":
        return {"y": "2l.pan", "x": "2l.pan", "b": "2l.bin"}
    return {"y": method, "x": method, "b": "2l.bin"}


# --------------------------------------------------------------------------- #
# cluster shapes
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("method", CONTINUOUS)
def test_one_cluster(method):
    X = _frame([300], seed=1)
    # w is a cluster-level variable: constant with one cluster, so dropped (and said so)
    _, out = _impute(X, _methods(method), expect=r"'y': 'w' \(constant\)")
    _on_scale(X, out)
    # with one cluster the model is the single-level regression of y on x
    mis = X["y"].isna().to_numpy()
    slope_obs = np.polyfit(X.loc[~mis, "x"].fillna(0), X.loc[~mis, "y"], 1)[0]
    slope_imp = np.polyfit(out.loc[mis, "x"], out.loc[mis, "y"], 1)[0]
    assert abs(slope_imp - slope_obs) < 0.4


@pytest.mark.parametrize("method", CONTINUOUS)
def test_all_clusters_of_size_one(method):
    X = _frame(np.ones(300, dtype=int), seed=2)
    _, out = _impute(X, _methods(method))
    _on_scale(X, out)
    assert out.loc[X["y"].isna(), "y"].std() > 0.3 * X["y"].std()  # draws, not means


@pytest.mark.parametrize("method", ["2l.pan", "2l.norm", "2l.pmm", "2l.bin"])
def test_more_random_effects_than_rows_in_a_cluster(method):
    # q = 4 random effects (intercept, x, w, and y or b), clusters of 2 rows
    X = _frame(np.full(60, 2), seed=3)
    X["z"] = np.random.default_rng(33).standard_normal(len(X))
    pm = make_predictor_matrix(X, cluster="g")
    for target in ("y", "b", "x"):
        pm.loc[target, [c for c in ("x", "z", "y", "b") if c != target]] = 2
    imp, out = _impute(X, _methods(method), pm=pm)
    _on_scale(X, out)
    assert imp.methods_["y"].b_.shape[1] == 4  # all four random effects kept


@pytest.mark.parametrize("method", ["2l.pan", "2l.norm", "2l.pmm", "2l.bin"])
def test_random_slope_of_a_predictor_constant_within_every_cluster(method):
    X = _frame(np.full(40, 8), seed=4)
    pm = make_predictor_matrix(X, cluster="g")
    pm.loc["y", "w"] = 2  # w is constant within clusters: its slope is not identified
    pm.loc["b", "w"] = 2
    _, out = _impute(X, _methods(method), pm=pm)
    _on_scale(X, out)


@pytest.mark.parametrize("method", CONTINUOUS)
def test_perfectly_collinear_predictors(method):
    X = _frame(np.full(30, 8), seed=5)
    X["x2"] = 2.0 * X["w"]
    X["x3"] = X["x2"] - X["w"]  # = w
    imp, out = _impute(X, _methods(method), expect=r"'y': .*collinear with other predictors")
    _on_scale(X, out)
    dropped = imp.log_[imp.log_["event"] == "predictors dropped"]
    assert dropped["variable"].eq("y").any()


def test_binary_target_all_zero_in_some_clusters():
    # separation: b is 0 in every observed row of clusters 0-9
    X = _frame(np.full(40, 10), seed=6)
    zero = X["g"] < 10
    X.loc[zero & X["b"].notna(), "b"] = 0.0
    imp, out = _impute(X, {"b": "2l.bin", "y": "2l.pan", "x": "2l.pan"})
    assert np.all(np.isfinite(imp.methods_["b"].b_))
    mis = X["b"].isna()
    assert set(out.loc[mis, "b"].unique()) <= {0.0, 1.0}
    # the separated clusters keep their (very low) rate of ones among imputations
    assert out.loc[mis & zero, "b"].mean() < out.loc[mis & ~zero, "b"].mean()


@pytest.mark.parametrize("method", CONTINUOUS)
@pytest.mark.parametrize("scale", [1e-8, 1e8])
def test_extreme_scales(method, scale):
    X = _frame(np.full(30, 10), seed=7)
    X[["x", "y"]] *= scale
    _, out = _impute(X, _methods(method))
    _on_scale(X, out)
    for col in ("x", "y"):  # imputations spread like the observed values, at any scale
        ratio = out.loc[X[col].isna(), col].std() / X[col].std()
        assert 0.3 < ratio < 3.0, (col, ratio)


def test_ten_thousand_clusters():
    X = _frame(np.random.default_rng(8).integers(1, 6, 10_000), seed=8)
    imp, out = _impute(X, {"y": "2l.pan", "x": "2l.norm", "b": "2l.bin"}, max_iter=2)
    assert imp.methods_["y"].b_.shape[0] == 10_000
    _on_scale(X, out)


@pytest.mark.parametrize("kind", ["str", "float", "category"])
def test_cluster_ids_of_every_type_give_the_same_imputations(kind):
    X = _frame(np.full(30, 6), seed=9)
    relabel = {
        "str": lambda g: "school" + g.astype(str).str.zfill(3),
        "float": lambda g: g + 0.5,
        "category": lambda g: pd.Categorical("s" + g.astype(str).str.zfill(3)),
    }[kind]
    methods = {"y": "2l.pan", "x": "2l.norm", "b": "2l.bin"}
    _, ref = _impute(X, methods)
    Y = X.assign(g=relabel(X["g"]))
    _, out = _impute(Y, methods)
    pd.testing.assert_frame_equal(out.drop(columns="g"), ref.drop(columns="g"), check_exact=True)
    pd.testing.assert_series_equal(out["g"], Y["g"])


# --------------------------------------------------------------------------- #
# the two shapes on which R mice stops
# --------------------------------------------------------------------------- #
def test_cluster_with_exactly_one_observed_value_for_2l_lmer():
    # R (random slope): "Error in psi.star %*% t(Zi): non-conformable arguments";
    # benchmarks/compare_r_failures.py runs R on this shape
    X = _frame(np.full(30, 8), seed=10)
    rows = X.index[X["g"] == 4]
    X.loc[rows, "y"] = np.nan
    X.loc[rows[0], "y"] = 2.0
    pm = make_predictor_matrix(X, cluster="g")
    pm.loc["y", "x"] = 2
    imp, out = _impute(X, {"y": "2l.lmer"}, pm=pm)
    _on_scale(X, out)
    assert out.loc[rows[0], "y"] == 2.0
    assert imp.methods_["y"].b_.shape == (30, 2)


def test_few_clusters_with_a_random_slope_for_2l_norm():
    # R's 2l.norm draws Psi from an improper Wishart (N - q - 1 = 0 degrees of freedom
    # here) and stops: "the leading minor of order 1 is not positive definite"
    X = _frame(np.full(3, 40), seed=14)
    pm = make_predictor_matrix(X, cluster="g")
    pm.loc["y", "x"] = 2
    imp, out = _impute(X, {"y": "2l.norm"}, pm=pm)
    _on_scale(X, out)
    assert np.all(np.isfinite(imp.methods_["y"].psi_))
    assert np.all(np.linalg.eigvalsh(imp.methods_["y"].psi_) > 0)


def test_near_singular_clusters_for_2l_norm():
    # R's 2l.norm fails its Cholesky factorisation: x nearly constant in a cluster
    X = _frame(np.full(30, 8), seed=11)
    rows = X.index[X["g"] == 3]
    X.loc[rows, "x"] = 1.0 + 1e-12 * np.arange(len(rows))
    X.loc[X.index[X["g"] == 5], "x"] = -0.5
    pm = make_predictor_matrix(X, cluster="g")
    pm.loc["y", "x"] = 2
    _, out = _impute(X, {"y": "2l.norm"}, pm=pm)
    _on_scale(X, out)


# --------------------------------------------------------------------------- #
# numerical health
# --------------------------------------------------------------------------- #
class _Broken(ConditionalMethod):
    """Returns NaN for the rows of cluster 'school_07' (a sampler gone wrong)."""

    needs_groups = True

    def fit(self, design, y, random_state):
        self.mean_ = float(np.mean(y))
        return self

    def sample(self, design, random_state, observed=None):
        out = np.full(design.n_rows, self.mean_)
        out[np.asarray(design.groups) == 7] = np.nan
        return out


def test_non_finite_draws_are_caught_and_located():
    X = _frame(np.full(12, 10), seed=12)
    X["g"] = "school_" + X["g"].astype(str).str.zfill(2)
    imp = MultilevelIterativeImputer(cluster="g", methods={"y": _Broken()}, max_iter=1)
    msg = (
        "Method _Broken produced {k} non-finite imputations for column 'y' in clusters "
        "['school_07']. Check the column's scale and its predictors there (constant, "
        "collinear or extreme values)."
    )
    k = int(X.loc[X["g"] == "school_07", "y"].isna().sum())
    with pytest.raises(
        FloatingPointError, match="^" + __import__("re").escape(msg.format(k=k)) + "$"
    ):
        imp.fit_transform(X)


@pytest.mark.parametrize(
    "methods",
    [
        {"y": "2l.pan", "x": "2l.norm", "b": "2l.bin", "c": "2l.polyreg", "w": "2lonly.norm"},
        {"y": "2l.pmm", "x": "2l.lmer", "b": "2l.pmm", "c": "2l.polyreg", "w": "2lonly.pmm"},
        {"y": "norm", "x": "pmm", "b": "logreg", "c": "polyreg", "w": "norm"},
        None,  # the defaults
    ],
    ids=["two-level", "two-level-pmm", "single-level", "defaults"],
)
def test_no_warnings_from_any_method_on_well_behaved_data(methods):
    X = _frame(np.full(30, 10), seed=13)
    rng = np.random.default_rng(13)
    X["c"] = pd.Categorical(np.array(["a", "b", "c"])[np.digitize(X["y"].fillna(1), [0, 2])])
    X.loc[rng.random(len(X)) < 0.2, "c"] = np.nan
    X.loc[X["g"].isin([2, 9]), "w"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        imp = MultilevelIterativeImputer(cluster="g", methods=methods, random_state=0)
        out = imp.fit_transform(X)
    assert out.notna().all().all()
    assert imp.log_.empty, imp.log_


def test_no_warnings_from_the_selection_model_on_well_behaved_data():
    from skmice.datasets import make_hiv

    b = make_hiv(region_sizes=[300] * 4, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = MultilevelIterativeImputer(
            cluster="region",
            methods={"hiv": "2l.heckman"},
            predictor_matrix=b.predictor_matrix,
            max_iter=1,
            random_state=0,
        ).fit_transform(b.data)
    assert out["hiv"].notna().all()
