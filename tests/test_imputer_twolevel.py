"""Driver-level tests of the two-level continuous methods (2l.pan, 2l.norm, 2l.pmm).

Everything goes through the public API (``MultilevelIterativeImputer`` with
``cluster=``, ``methods=``, ``predictor_matrix=``, and ``multiple_impute``);
the samplers themselves are tested in ``tests/methods/test_twolevel.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from skmice import MultilevelIterativeImputer, multiple_impute
from skmice.methods import TwoLevelPMM

METHODS = ["2l.pan", "2l.norm", "2l.pmm"]


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def _simulate(sizes, seed, var_u0=1.0, var_u1=0.25, sigma=0.7, effects=None):
    """Clustered data: y with a random intercept and a random slope of x, z depends on y.

    Columns: g (cluster id, rows sorted by cluster), x (unit level), w (cluster
    level), y, z. ``effects`` overrides the random intercepts of some clusters.
    """
    rng = np.random.default_rng(seed)
    sizes = np.asarray(sizes)
    n_groups = sizes.size
    g = np.repeat(np.arange(n_groups), sizes)
    n = g.size
    x = rng.standard_normal(n)
    w = rng.standard_normal(n_groups)[g]
    u0 = rng.normal(0.0, np.sqrt(var_u0), n_groups)
    if effects is not None:
        for k, v in effects.items():
            u0[k] = v
    u1 = rng.normal(0.0, np.sqrt(var_u1), n_groups)
    y = 1.0 + x + 0.5 * w + u0[g] + u1[g] * x + sigma * rng.standard_normal(n)
    z = 0.5 * y + 0.5 * rng.standard_normal(n_groups)[g] + rng.standard_normal(n)
    return pd.DataFrame({"g": g, "x": x, "w": w, "y": y, "z": z}), u0


def _pm(columns, rows):
    """Predictor matrix from {target: {predictor: code}}."""
    pm = pd.DataFrame(0, index=columns, columns=columns)
    for target, codes in rows.items():
        for pred, code in codes.items():
            pm.loc[target, pred] = code
    return pm


PM_YZ = {"y": {"g": -2, "x": 2, "w": 1, "z": 1}, "z": {"g": -2, "x": 1, "w": 1, "y": 3}}


def _impute(X, method, pm=None, seed=0, max_iter=5, **kw):
    """fit_transform with every warning turned into an error."""
    pm = _pm(list(X.columns), PM_YZ if pm is None else pm)
    imp = MultilevelIterativeImputer(
        cluster="g",
        methods=method,
        predictor_matrix=pm,
        max_iter=max_iter,
        random_state=seed,
        **kw,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = imp.fit_transform(X)
    return imp, out


def _bits(values):
    return np.asarray(values, dtype=np.float64).view(np.int64)


def _assert_completed(X, out):
    """Complete output; observed values (and complete columns) unchanged bit for bit."""
    assert list(out.columns) == list(X.columns)
    assert out.index.equals(X.index)
    assert not out.isna().any().any()
    for col in X.columns:
        obs = X[col].notna().to_numpy()
        if pd.api.types.is_float_dtype(X[col].dtype):
            np.testing.assert_array_equal(
                _bits(out[col].to_numpy()[obs]), _bits(X[col].to_numpy()[obs])
            )
            assert np.all(np.isfinite(out[col].to_numpy()))
        else:
            assert out[col].dtype == X[col].dtype
            assert (out[col].to_numpy()[obs] == X[col].to_numpy()[obs]).all()


def _awkward_frame(seed=0):
    """Every awkward cluster shape at once (80 clusters).

    clusters 0-9 size 1, 10-19 size 2, the rest 5-15 rows; y and z sporadically
    missing; y never observed in clusters 20, 21 and 79 (the last one), z never
    in 30; exactly one observed y in clusters 40 and 41; y constant where observed
    in cluster 50 (two rows missing); y missing in some of the size-1 clusters.
    """
    rng = np.random.default_rng(seed)
    sizes = np.r_[np.ones(10, int), np.full(10, 2), rng.integers(5, 16, 60)]
    X, _ = _simulate(sizes, seed)
    g = X["g"].to_numpy()
    X.loc[rng.random(len(X)) < 0.25, "y"] = np.nan
    X.loc[rng.random(len(X)) < 0.2, "z"] = np.nan
    X.loc[np.isin(g, [20, 21, 79]), "y"] = np.nan
    X.loc[g == 30, "z"] = np.nan
    for k in (40, 41):
        rows = np.flatnonzero(g == k)
        X.loc[rows, "y"] = np.nan
        X.loc[rows[0], "y"] = X.loc[rows[0], "x"] + 1.0
    X.loc[g == 50, "y"] = 2.5
    X.loc[np.flatnonzero(g == 50)[:2], "y"] = np.nan  # constant, and partly missing
    X.loc[[0, 2, 4], "y"] = np.nan  # size-1 clusters 0, 2, 4: nothing observed
    return X


# --------------------------------------------------------------------------- #
# awkward cluster shapes
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("method", [*METHODS, "2l.lmer"])
def test_awkward_clusters_complete_unchanged_and_quiet(method):
    X = _awkward_frame()
    before = X.copy(deep=True)
    imp, out = _impute(X, method)
    pd.testing.assert_frame_equal(X, before)  # input untouched
    _assert_completed(X, out)
    g = X["g"].to_numpy()
    y_obs = X["y"].dropna().to_numpy()
    empty = np.isin(g, [20, 21, 79])
    imputed_empty = out.loc[empty, "y"].to_numpy()
    # systematically missing clusters get values on the scale of the data
    assert imputed_empty.std() > 0.2 * y_obs.std()
    assert np.all(np.abs(imputed_empty - y_obs.mean()) < 8 * y_obs.std())
    if method == "2l.pmm":
        assert np.isin(out["y"], y_obs).all() and np.isin(out["z"], X["z"].dropna()).all()
    # every target's model saw all 80 cluster codes (empty clusters included)
    assert imp.methods_["y"].b_.shape == (80, 2)
    assert imp.methods_["z"].b_.shape == (80, 1)


@pytest.mark.parametrize("method", ["2l.lmer", "2l.pan"])
def test_every_cluster_with_one_observed_row(method):
    # R's 2l.lmer stops when a cluster has a single observed row; here all have one
    rng = np.random.default_rng(1)
    X, _ = _simulate(np.full(100, 3), seed=1)
    first = X.groupby("g").cumcount().to_numpy() == 0
    X.loc[~first, "y"] = np.nan
    X.loc[rng.random(len(X)) < 0.1, "z"] = np.nan
    _, out = _impute(X, method)
    _assert_completed(X, out)


@pytest.mark.parametrize("method", METHODS)
def test_single_cluster(method):
    X, _ = _simulate([200], seed=2)
    rng = np.random.default_rng(2)
    X.loc[rng.random(200) < 0.3, "y"] = np.nan
    X.loc[rng.random(200) < 0.3, "z"] = np.nan
    # w is a cluster-level variable: constant with one cluster, dropped and said so
    with pytest.warns(UserWarning, match=r"'y': 'w' \(constant\)"):
        out = MultilevelIterativeImputer(cluster="g", methods=method, max_iter=5,
                                         predictor_matrix=_pm(list(X.columns), PM_YZ),
                                         random_state=0).fit_transform(X)
    _assert_completed(X, out)
    # one cluster: the imputations follow the observed regression on x
    # (slope standard errors about 0.1)
    mis = X["y"].isna().to_numpy()
    slope_imp = np.polyfit(out.loc[mis, "x"], out.loc[mis, "y"], 1)[0]
    slope_obs = np.polyfit(X.loc[~mis, "x"], X.loc[~mis, "y"], 1)[0]
    assert abs(slope_imp - slope_obs) < 0.4, (slope_imp, slope_obs)


@pytest.mark.parametrize("method", METHODS)
def test_near_singular_cluster_designs(method):
    # R's 2l.norm Cholesky-failure shape: a binary random slope that is constant
    # within most clusters, clusters of 1-3 rows, and few observed rows per cluster
    rng = np.random.default_rng(3)
    n_groups = 400
    sizes = rng.integers(1, 4, n_groups)
    g = np.repeat(np.arange(n_groups), sizes)
    n = g.size
    sex = (rng.random(n) < 0.5).astype(float)
    constant = np.repeat(rng.random(n_groups) < 0.8, sizes)
    sex[constant] = np.repeat(rng.random(n_groups) < 0.5, sizes)[constant].astype(float)
    x = rng.standard_normal(n)
    y = (
        2
        + 0.8 * sex
        + 0.5 * x
        + rng.standard_normal(n_groups)[g]
        + 0.5 * rng.standard_normal(n_groups)[g] * sex
        + 0.5 * rng.standard_normal(n)
    )
    X = pd.DataFrame({"g": g, "sex": sex, "x": x, "y": y})
    X.loc[rng.random(n) < 0.4, "y"] = np.nan
    X.loc[rng.random(n) < 0.2, "x"] = np.nan
    pm = {"y": {"g": -2, "sex": 2, "x": 2}, "x": {"g": -2, "sex": 2, "y": 1}}
    _, out = _impute(X, method, pm=pm)
    _assert_completed(X, out)
    y_obs = X["y"].dropna()
    assert abs(out["y"].mean() - y_obs.mean()) < 0.5 * y_obs.std()
    assert 0.5 < out["y"].std() / y_obs.std() < 2.0


# --------------------------------------------------------------------------- #
# predictor codes 1, 2, 3, 4, -2
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("code", "p", "q"), [(0, 1, 1), (1, 2, 1), (2, 2, 2), (3, 3, 1), (4, 3, 2)]
)
def test_predictor_codes_shape_the_design(code, p, q):
    X, _ = _simulate(np.full(30, 6), seed=4)
    X.loc[::3, "y"] = np.nan
    X = X.drop(columns=["w", "z"])
    imp, out = _impute(X, "2l.pan", pm={"y": {"g": -2, "x": code}}, max_iter=2)
    method = imp.methods_["y"]
    # beta_: intercept, x (codes 1-4), mean(x) (codes 3, 4); Z: intercept, x (codes 2, 4)
    assert method.beta_.shape == (p,)
    assert method.n_features_z_ == q
    assert imp.predictor_matrix_.loc["y", "g"] == -2
    _assert_completed(X, out)


def _contextual_frame(seed, x_missing=0.2):
    """y depends on x within clusters (0.5) and on the cluster mean of x (1.5 more).

    x has a strong between-cluster part; y is never observed in 40 of 150
    clusters, so only the cluster mean of x tells their level.
    """
    rng = np.random.default_rng(seed)
    n_groups, size = 150, 8
    g = np.repeat(np.arange(n_groups), size)
    n = g.size
    x = rng.standard_normal(n_groups)[g] + rng.standard_normal(n)
    xbar = pd.Series(x).groupby(g).transform("mean").to_numpy()
    y = 0.5 * x + 1.5 * xbar + 0.3 * rng.standard_normal(n_groups)[g] + 0.5 * rng.standard_normal(n)
    complete = pd.DataFrame({"g": g, "x": x, "y": y})
    X = complete.copy()
    empty = np.isin(g, rng.choice(n_groups, 40, replace=False))
    X.loc[empty | (rng.random(n) < 0.2), "y"] = np.nan
    X.loc[rng.random(n) < x_missing, "x"] = np.nan
    return X, complete, empty


@pytest.mark.parametrize("method", METHODS)
def test_cluster_means_codes_3_and_4_recover_contextual_effect(method):
    X, complete, empty = _contextual_frame(5)
    g = X["g"].to_numpy()
    truth = complete.loc[empty].groupby("g")["y"].mean()
    errors = {}
    for code in (1, 3, 4):
        pm = {"y": {"g": -2, "x": code}, "x": {"g": -2, "y": 1}}
        imp, out = _impute(X, method, pm=pm, max_iter=8)
        _assert_completed(X, out)
        imputed = out.loc[empty].groupby(g[empty])["y"].mean()
        errors[code] = float(np.sqrt(np.mean((imputed - truth) ** 2)))
        if code in (3, 4):
            beta = imp.methods_["y"].beta_  # intercept, x, mean(x)
            assert beta.shape == (3,)
            assert abs(beta[1] - 0.5) < 0.2 and abs(beta[2] - 1.5) < 0.4, beta
    # the cluster mean (of the current completed x) carries the empty clusters' level:
    # imputed minus true cluster mean has sd about sqrt(2 * 0.09 + 2 * 0.25 / 8) = 0.5
    # with codes 3/4 (plus the imputed x's share); with code 1 the contextual effect
    # (1.5 times a cluster mean of variance 1.1) is lost
    assert errors[3] < 0.9 and errors[4] < 0.9, errors
    assert errors[1] > 2 * max(errors[3], errors[4]), errors


# --------------------------------------------------------------------------- #
# the cluster id column
# --------------------------------------------------------------------------- #
def _id_frame(seed=6):
    X, _ = _simulate(np.random.default_rng(seed).integers(2, 10, 40), seed)
    rng = np.random.default_rng(seed + 1)
    X.loc[rng.random(len(X)) < 0.3, "y"] = np.nan
    X.loc[rng.random(len(X)) < 0.2, "z"] = np.nan
    X.loc[X["g"] == 7, "y"] = np.nan
    return X


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["str", "object", "float", "categorical"])
def test_cluster_id_types_give_identical_results(method, kind):
    X = _id_frame()
    _, ref = _impute(X, method, seed=3)
    labels = {
        "str": X["g"].map(lambda k: f"school-{k:03d}").astype("str"),
        "object": X["g"].map(lambda k: f"school-{k:03d}").astype(object),
        "float": X["g"] * 0.5 + 0.25,
        "categorical": pd.Categorical(X["g"].map(lambda k: f"s{k:03d}")),
    }[kind]
    Xk = X.assign(g=labels)
    _, out = _impute(Xk, method, seed=3)
    _assert_completed(Xk, out)
    assert out["g"].dtype == Xk["g"].dtype
    # the ids sort like the integers: same cluster codes, same draws, bit for bit
    for col in ("y", "z"):
        np.testing.assert_array_equal(_bits(out[col]), _bits(ref[col]))


@pytest.mark.parametrize("method", METHODS)
def test_unsorted_rows_attach_effects_to_the_right_clusters(method):
    # strong cluster effects, rows interleaved: each cluster's imputations follow
    # its own observed rows (miceadds' 2l.pmm attaches effects to wrong clusters)
    effects = {k: (4.0 if k % 2 else -4.0) for k in range(0, 60, 5)}
    X, u0 = _simulate(np.full(60, 12), seed=7, effects=effects)
    rng = np.random.default_rng(7)
    X.loc[rng.random(len(X)) < 0.35, "y"] = np.nan
    perm = rng.permutation(len(X))
    Xs = X.iloc[perm]
    Xs = Xs.assign(g=Xs["g"].map(lambda k: f"c{(k * 37) % 60:02d}"))  # ids not in row order
    _, out = _impute(Xs, method, seed=1)
    _assert_completed(Xs, out)
    _, ref = _impute(X, method, seed=1)
    mis = Xs["y"].isna().to_numpy()
    resid = out["y"] - out["x"] - 0.5 * out["w"]
    imputed_level = resid[mis].groupby(Xs["g"][mis]).mean()
    observed_level = (Xs["y"] - Xs["x"] - 0.5 * Xs["w"])[~mis].groupby(Xs["g"][~mis]).mean()
    common = imputed_level.index
    r = np.corrcoef(imputed_level, observed_level.loc[common])[0, 1]
    assert r > 0.9, r
    # the same picture as with sorted rows (another chain: a cluster's mean of
    # about 4 imputations differs between chains with sd about 0.7)
    mis_ref = X["y"].isna().to_numpy()
    resid_ref = ref["y"] - ref["x"] - 0.5 * ref["w"]
    level_ref = resid_ref[mis_ref].groupby(X["g"][mis_ref]).mean()
    level_ref.index = [f"c{(k * 37) % 60:02d}" for k in level_ref.index]
    assert np.corrcoef(imputed_level, level_ref.loc[common])[0, 1] > 0.85
    assert np.sqrt(np.mean((imputed_level - level_ref.loc[common]) ** 2)) < 1.0


# --------------------------------------------------------------------------- #
# transform of new data
# --------------------------------------------------------------------------- #
PM_Y = {"y": {"g": -2, "x": 1, "w": 1}}


def _transform_setup(method):
    """Fit on 40 clusters (cluster 0 with effect +6), then new data.

    The new data: 20 rows of cluster 0 and 20 of cluster 1 with y missing;
    cluster 1000 (new) with 60 observed rows 4 above the population and 20 missing
    rows; 60 new clusters of 5 rows with nothing observed.
    """
    train, _ = _simulate(np.full(40, 15), seed=8, var_u1=0.0, sigma=0.5, effects={0: 6.0, 1: 0.0})
    rng = np.random.default_rng(8)
    train.loc[rng.random(len(train)) < 0.2, "y"] = np.nan
    train = train.drop(columns=["z"])
    imp = MultilevelIterativeImputer(
        cluster="g",
        methods={"y": method},
        predictor_matrix=_pm(list(train.columns), PM_Y),
        max_iter=10,
        random_state=0,
    )
    imp.fit(train)

    w_train = train.groupby("g")["w"].first()

    def block(cluster, n, level, observed):
        x = rng.standard_normal(n)
        w = np.full(n, w_train.get(cluster, rng.standard_normal()))
        y = 1 + x + 0.5 * w + level + 0.5 * rng.standard_normal(n)
        if not observed:
            y[:] = np.nan
        return pd.DataFrame({"g": cluster, "x": x, "w": w, "y": y})

    parts = [
        block(0, 20, 6.0, False),
        block(1, 20, 0.0, False),
        block(1000, 60, 4.0, True),
        block(1000, 20, 4.0, False),
    ]
    parts += [block(2000 + k, 5, 0.0, False) for k in range(60)]
    new = pd.concat(parts, ignore_index=True)
    return imp, train, new


def _check_transform(imp, new, out, pmm_slack=1.0):
    """Statistical checks of transform on the data of ``_transform_setup``."""
    method = imp.methods_["y"]
    g = new["g"].to_numpy()
    mis = new["y"].isna().to_numpy()
    X = np.column_stack([np.ones(len(new)), out["x"], out["w"]])
    level = out["y"].to_numpy() - X @ method.beta_  # random effect plus residual
    sigma2 = float(np.mean(method.sigma2_))
    psi = float(method.psi_[0, 0])
    slack = pmm_slack if isinstance(method, TwoLevelPMM) else 0.0  # donors are scarce far out
    # a seen cluster keeps the random effect drawn in fit (+6 here)
    assert method.b_[0, 0] > 4.5
    assert abs(level[g == 0].mean() - method.b_[0, 0]) < 4 * np.sqrt(sigma2 / 20) + slack
    assert abs(level[g == 1].mean() - method.b_[1, 0]) < 4 * np.sqrt(sigma2 / 20) + slack
    # a new cluster with 60 observed rows: its own level (little shrinkage)
    own = level[~mis & (g == 1000)].mean()
    assert own > 3.0
    assert abs(level[mis & (g == 1000)].mean() - own) < 4 * np.sqrt(sigma2 / 15) + slack
    # new clusters without observed rows: effects from N(0, psi), so their means
    # spread by psi + sigma2 / 5 (not just the residual variance)
    empty = g >= 2000
    means = pd.Series(level[empty]).groupby(g[empty]).mean()
    expected = psi + sigma2 / 5
    assert abs(means.mean()) < 4 * np.sqrt(expected / 60)
    assert 0.4 < means.var() / expected < 1.8, (means.var(), expected)
    assert level[empty].var() > 2 * level[g == 0].var()


@pytest.mark.parametrize("method", METHODS)
def test_transform_seen_and_new_clusters(method):
    imp, train, new = _transform_setup(method)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = imp.transform(new)
        again = imp.transform(new)
    _assert_completed(new, out)
    pd.testing.assert_frame_equal(out, again)  # same input, same output
    _check_transform(imp, new, out)


@pytest.mark.parametrize("method", METHODS)
def test_group_kfold_fit_some_clusters_transform_others(method):
    from sklearn.model_selection import GroupKFold

    X, _ = _simulate(np.random.default_rng(9).integers(5, 15, 60), seed=9, var_u0=2.0)
    rng = np.random.default_rng(9)
    X.loc[rng.random(len(X)) < 0.3, "y"] = np.nan
    X.loc[rng.random(len(X)) < 0.2, "z"] = np.nan
    X["g"] = X["g"].map(lambda k: f"school {k}").astype("str")  # labels unseen in fit
    for train, test in GroupKFold(n_splits=3).split(X, groups=X["g"]):
        imp, _ = _impute(X.iloc[train], method, seed=0)
        new = X.iloc[test]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = imp.transform(new)
        _assert_completed(new, out)
        # every test cluster is new: its imputations follow its own observed rows
        mis = new["y"].isna().to_numpy()
        resid = out["y"] - out["x"] - 0.5 * out["w"]
        imputed = resid[mis].groupby(new["g"][mis]).mean()
        observed = resid[~mis].groupby(new["g"][~mis]).mean()
        common = imputed.index.intersection(observed.index)
        assert np.corrcoef(imputed[common], observed[common])[0, 1] > 0.8


# --------------------------------------------------------------------------- #
# scale and statistical validity
# --------------------------------------------------------------------------- #
def test_twenty_thousand_small_clusters():
    rng = np.random.default_rng(10)
    sizes = rng.integers(1, 4, 20_000)
    X, _ = _simulate(sizes, seed=10)
    X.loc[rng.random(len(X)) < 0.3, "y"] = np.nan
    X.loc[rng.random(len(X)) < 0.2, "z"] = np.nan
    _, out = _impute(X, "2l.pan", max_iter=5)
    _assert_completed(X, out)


def _anova_icc(y, g):
    """One-way ANOVA estimator of the ICC and its large-sample variance."""
    y = np.asarray(y, dtype=float)
    codes, _ = pd.factorize(g)
    N = codes.max() + 1
    n = y.size
    n_j = np.bincount(codes, minlength=N)
    mean_j = np.bincount(codes, weights=y, minlength=N) / n_j
    msb = np.sum(n_j * (mean_j - y.mean()) ** 2) / (N - 1)
    msw = np.sum((y - mean_j[codes]) ** 2) / (n - N)
    n0 = (n - np.sum(n_j**2) / n) / (N - 1)
    s2b = (msb - msw) / n0
    icc = s2b / (s2b + msw)
    # Fisher's variance of the ANOVA estimator, balanced clusters of size n0
    k = n0
    var = 2 * (1 - icc) ** 2 * (1 + (k - 1) * icc) ** 2 / (k * (k - 1) * (N - 1))
    return icc, var


def _icc_data(seed=11):
    """100 clusters of 20, ICC 0.5, about 40% of y missing at random given x."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(100), 20)
    n = g.size
    x = rng.standard_normal(n)
    y = rng.standard_normal(100)[g] + 0.6 * x + 0.8 * rng.standard_normal(n)  # 1 between, 1 within
    complete = pd.DataFrame({"g": g, "x": x, "y": y})
    X = complete.copy()
    p = 1 / (1 + np.exp(-(np.log(0.4 / 0.6) + 1.2 * x)))
    X.loc[rng.random(n) < p, "y"] = np.nan
    assert 0.35 < X["y"].isna().mean() < 0.45
    return X, complete


def _pooled_icc(X, imputer, m=10):
    """Mean ICC over m imputations, Rubin's total and between-imputation variances."""
    mi = multiple_impute(X, imputer, n_imputations=m, random_state=11)
    est = np.array([_anova_icc(d["y"], d["g"]) for d in mi])
    qbar, ubar, b = est[:, 0].mean(), est[:, 1].mean(), est[:, 0].var(ddof=1)
    return qbar, ubar + (1 + 1 / m) * b, (1 + 1 / m) * b


@pytest.mark.parametrize("method", METHODS)
def test_pooled_icc_is_unbiased(method):
    X, complete = _icc_data()
    pm = _pm(list(X.columns), {"y": {"g": -2, "x": 1}})
    imputer = MultilevelIterativeImputer(
        cluster="g", methods={"y": method}, predictor_matrix=pm, max_iter=10
    )
    icc, total, between = _pooled_icc(X, imputer)
    # against the truth, with Rubin's total variance (SE about 0.04) ...
    assert abs(icc - 0.5) < 3 * np.sqrt(total), (icc, np.sqrt(total))
    # ... and against the same data before deletion, which differs from the
    # pooled estimate only through the missing information (SE about 0.006)
    icc_complete = _anova_icc(complete["y"], complete["g"])[0]
    assert abs(icc - icc_complete) < 4 * np.sqrt(between), (icc, icc_complete)


def test_single_level_pmm_dilutes_the_icc():
    X, complete = _icc_data()
    pm = _pm(list(X.columns), {"y": {"x": 1}})  # cluster ignored
    imputer = MultilevelIterativeImputer(methods={"y": "pmm"}, predictor_matrix=pm, max_iter=10)
    icc, total, _ = _pooled_icc(X, imputer)
    assert icc < 0.5 - 4 * np.sqrt(total), (icc, np.sqrt(total))


# --------------------------------------------------------------------------- #
# 2l.pmm keeps the variance components of 2l.pan
# --------------------------------------------------------------------------- #
def _random_slope_frame(seed=1, n_clusters=100, size=20):
    """Pupils in schools: a random intercept and a random slope of a binary sex,
    popular missing more often for boys (as in the popularity data)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_clusters), size)
    sex = (rng.random(g.size) < 0.5).astype(float)
    u = rng.multivariate_normal([0, 0], [[0.412, 0.023], [0.023, 0.226]], n_clusters)[g]
    y = 3.3 + 1.33 * sex + u[:, 0] + u[:, 1] * sex + rng.normal(0, np.sqrt(0.392), g.size)
    data = pd.DataFrame({"g": g, "y": y, "sex": sex})
    data.loc[rng.random(g.size) < np.where(sex == 0, 0.5, 0.33), "y"] = np.nan
    return data


def _components(frames):
    """var(intercept), var(slope), residual of y ~ sex + (1 + sex | g), per dataset."""
    smf = pytest.importorskip("statsmodels.formula.api")
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for d in frames:
            fit = smf.mixedlm("y ~ sex", d, groups=d["g"], re_formula="~sex").fit(reml=True)
            cov = fit.cov_re.to_numpy()
            out.append([cov[0, 0], cov[1, 1], fit.scale])
    return np.array(out)


def test_pmm_variance_components_agree_with_pan():
    # Own-cluster donors share a row's predicted mean exactly here (a binary slope
    # variable): copying them inflated var(slope) by half and shrank the residual
    # (about 6 and 9 Monte Carlo SEs from 2l.pan). Both methods estimate the same
    # thing, so they must agree within Monte Carlo error.
    data = _random_slope_frame()
    pm = _pm(data.columns, {"y": {"g": -2, "sex": 2}})
    m = 8
    comps = {}
    for method in ("2l.pan", "2l.pmm"):
        imp = MultilevelIterativeImputer(methods={"y": method}, predictor_matrix=pm,
                                         cluster="g", max_iter=10)
        comps[method] = _components(multiple_impute(data, imp, n_imputations=m,
                                                    random_state=0))
    pan, pmm = comps["2l.pan"], comps["2l.pmm"]
    mc_se = np.sqrt(pan.var(axis=0, ddof=1) / m + pmm.var(axis=0, ddof=1) / m)
    z = (pmm.mean(axis=0) - pan.mean(axis=0)) / mc_se
    assert np.all(np.abs(z) < 3.5), z
