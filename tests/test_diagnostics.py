import numpy as np
import pandas as pd
import pytest
from scipy import stats

from skmice import MultilevelIterativeImputer, multiple_impute
from skmice.diagnostics import (
    MissingnessTest,
    bulk_ess,
    ess,
    icc,
    md_pattern,
    missingness_associations,
    missingness_test,
    rhat,
    split_rhat,
)


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


# --------------------------------------------------------------------------- #
# md_pattern
# --------------------------------------------------------------------------- #
def _nhanes_like() -> pd.DataFrame:
    """25 rows with the missing-data pattern of R's ``nhanes`` (columns age, bmi, hyp, chl)."""
    blocks = [  # (rows, bmi missing, hyp missing, chl missing)
        (13, False, False, False),
        (3, False, False, True),
        (1, True, False, False),
        (1, True, True, False),
        (7, True, True, True),
    ]
    rows = []
    for count, bmi, hyp, chl in blocks:
        rows += [
            (1.0, np.nan if bmi else 25.0, np.nan if hyp else 1.0, np.nan if chl else 180.0)
        ] * count
    X = pd.DataFrame(rows, columns=["age", "bmi", "hyp", "chl"])
    return X.sample(frac=1.0, random_state=3).reset_index(drop=True)  # order must not matter


def test_md_pattern_matches_r_layout():
    # R: md.pattern(nhanes, plot = FALSE)
    #    age hyp bmi chl
    # 13   1   1   1   1  0
    # 3    1   1   1   0  1
    # 1    1   1   0   1  1
    # 1    1   0   0   1  2
    # 7    1   0   0   0  3
    #      0   8   9  10 27
    table = md_pattern(_nhanes_like())
    assert list(table.columns) == ["age", "hyp", "bmi", "chl", ""]
    assert list(table.index) == [13, 3, 1, 1, 7, ""]
    expected = np.array(
        [
            [1, 1, 1, 1, 0],
            [1, 1, 1, 0, 1],
            [1, 1, 0, 1, 1],
            [1, 0, 0, 1, 2],
            [1, 0, 0, 0, 3],
            [0, 8, 9, 10, 27],
        ]
    )
    np.testing.assert_array_equal(table.to_numpy(), expected)
    assert table.to_numpy().dtype == np.int64


def test_md_pattern_ties_arrays_and_complete_data():
    # ties in the number of missing values keep the column order (R's order() is stable)
    X = np.array([[1.0, np.nan, 1.0], [np.nan, 1.0, 1.0], [1.0, 1.0, 1.0]])
    table = md_pattern(X)
    assert list(table.columns) == [2, 0, 1, ""]
    np.testing.assert_array_equal(
        table.to_numpy(), [[1, 1, 1, 0], [1, 1, 0, 1], [1, 0, 1, 1], [0, 1, 1, 2]]
    )
    assert list(table.index) == [1, 1, 1, ""]
    complete = md_pattern(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    np.testing.assert_array_equal(complete.to_numpy(), [[1, 1, 0], [0, 0, 0]])
    assert list(complete.index) == [2, ""]
    # string and categorical columns: None / NA are missing
    S = pd.DataFrame({"s": ["a", None, "b"], "c": pd.Categorical(["u", "v", None])})
    assert md_pattern(S).iloc[-1].tolist() == [1, 1, 2]
    with pytest.raises(ValueError, match="at least one row"):
        md_pattern(pd.DataFrame())
    with pytest.raises(TypeError, match="2-dimensional"):
        md_pattern(pd.Series([1.0, np.nan]))


# --------------------------------------------------------------------------- #
# icc
# --------------------------------------------------------------------------- #
def _icc_direct(y, g):
    """ANOVA estimator written out cluster by cluster."""
    clusters = sorted(set(g))
    groups = [np.array([v for v, c in zip(y, g) if c == k]) for k in clusters]
    n = sum(len(x) for x in groups)
    k = len(groups)
    grand = np.mean(np.concatenate(groups))
    msb = sum(len(x) * (x.mean() - grand) ** 2 for x in groups) / (k - 1)
    msw = sum(((x - x.mean()) ** 2).sum() for x in groups) / (n - k)
    n0 = (n - sum(len(x) ** 2 for x in groups) / n) / (k - 1)
    return (msb - msw) / (msb + (n0 - 1) * msw)


def _clustered(n_clusters, sizes, tau2, sigma2, rng):
    g = np.repeat(np.arange(n_clusters), sizes)
    u = rng.normal(0, np.sqrt(tau2), n_clusters)
    y = 2.0 + u[g] + rng.normal(0, np.sqrt(sigma2), g.size)
    return pd.DataFrame({"g": g, "y": y})


def test_icc_anova_matches_direct_computation():
    rng = np.random.default_rng(0)
    X = _clustered(30, rng.integers(2, 15, 30), 0.5, 1.0, rng)
    X.loc[rng.random(len(X)) < 0.2, "y"] = np.nan  # missing rows are dropped
    X["g"] = X["g"].map(lambda k: f"school {k}")  # any cluster labels
    obs = X.dropna()
    expected = _icc_direct(obs["y"].to_numpy(), obs["g"].to_numpy())
    assert icc(X, "y", "g") == pytest.approx(expected, rel=1e-12)


def test_icc_mixed_equals_anova_for_balanced_data_and_recovers_truth():
    rng = np.random.default_rng(1)
    X = _clustered(200, 10, 1.0, 1.0, rng)  # ICC 0.5
    anova = icc(X, "y", "g")
    mixed = icc(X, "y", "g", method="mixed")
    # balanced one-way design: the REML estimate equals the ANOVA estimate
    assert mixed == pytest.approx(anova, abs=2e-3)
    rho, n, k = 0.5, 10, 200
    se = np.sqrt(2 * (1 - rho) ** 2 * (1 + (n - 1) * rho) ** 2 / (n * (n - 1) * (k - 1)))
    assert abs(anova - rho) < 4 * se


def test_icc_several_variables_and_validation():
    rng = np.random.default_rng(2)
    X = _clustered(40, 8, 0.0, 1.0, rng)
    X["z"] = X["g"] * 1.0  # constant within clusters: ICC 1
    out = icc(X, ["y", "z"], "g")
    assert list(out.index) == ["y", "z"] and out.name == "icc"
    assert out["z"] == pytest.approx(1.0)
    assert abs(out["y"]) < 0.1  # no cluster effect (the estimator may be negative)
    assert 0 <= icc(X, "y", "g", method="mixed") < 0.1
    with pytest.raises(ValueError, match="method"):
        icc(X, "y", "g", method="reml")
    with pytest.raises(ValueError, match="cluster"):
        icc(X, "y", "nope")
    with pytest.raises(ValueError, match="variable"):
        icc(X, "nope", "g")
    with pytest.raises(TypeError, match="numeric"):
        icc(X.assign(s="a"), "s", "g")
    with pytest.raises(ValueError, match="two clusters"):
        icc(X.assign(g=1), "y", "g")


# --------------------------------------------------------------------------- #
# missingness_test and missingness_associations
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def mar_data():
    """y MAR on x1, z MAR on the category g, w missing for whole clusters."""
    rng = np.random.default_rng(5)
    n = 2000
    X = pd.DataFrame(
        {
            "c": np.repeat(np.arange(50), 40),
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "g": rng.choice(["a", "b", "c"], size=n),
        }
    )
    X["y"] = X["x1"] + rng.normal(size=n)
    X["z"] = rng.normal(size=n)
    X["w"] = rng.normal(size=n)
    X.loc[rng.random(n) < _logistic(-0.5 + 1.0 * X["x1"]), "y"] = np.nan
    p_z = X["g"].map({"a": 0.1, "b": 0.5, "c": 0.3})
    X.loc[rng.random(n) < p_z, "z"] = np.nan
    X.loc[X["c"] < 5, "w"] = np.nan  # systematically missing in 5 clusters
    return X


def test_missingness_test_welch_matches_scipy(mar_data):
    res = missingness_test(mar_data, "x1", by="y")
    r = mar_data["y"].isna()
    ref = stats.ttest_ind(mar_data.loc[r, "x1"], mar_data.loc[~r, "x1"], equal_var=False)
    assert isinstance(res, MissingnessTest)
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(ref.pvalue)
    assert res.df == pytest.approx(ref.df)
    assert res.n_missing == r.sum() and res.n_observed == (~r).sum()
    assert res.mean_missing > res.mean_observed  # high x1: y missing more often
    assert str(res).startswith(f"Welch t = {ref.statistic:.2f}, df = ")


def test_missingness_test_permutation(mar_data):
    strong = missingness_test(
        mar_data, "x1", "y", method="permutation", n_permutations=200, random_state=0
    )
    assert strong.p_value == pytest.approx(1 / 201)  # no permutation as extreme
    assert "\u2264" in str(strong) and "200 permutations" in str(strong)
    # a moderate effect: agrees with scipy's permutation test within Monte Carlo error
    sub = mar_data.iloc[:300].copy()
    sub["v"] = sub["x2"] + 0.25 * sub["y"].isna()
    ours = missingness_test(
        sub, "v", "y", method="permutation", n_permutations=4000, random_state=1
    )
    again = missingness_test(
        sub, "v", "y", method="permutation", n_permutations=4000, random_state=1
    )
    assert ours == again  # reproducible
    r = sub["y"].isna().to_numpy()
    ref = stats.permutation_test(
        (sub["v"].to_numpy()[r], sub["v"].to_numpy()[~r]),
        lambda a, b, axis: a.mean(axis=axis) - b.mean(axis=axis),
        permutation_type="independent",
        vectorized=True,
        n_resamples=4000,
        alternative="two-sided",
        rng=np.random.default_rng(2),
    )
    assert ours.statistic == pytest.approx(ref.statistic)
    se = np.sqrt(2 * ref.pvalue * (1 - ref.pvalue) / 4000)
    assert abs(ours.p_value - ref.pvalue) < 4 * se + 1e-3
    with pytest.raises(ValueError, match="n_permutations"):
        missingness_test(sub, "v", "y", method="permutation", n_permutations=0)


def test_missingness_test_validation(mar_data):
    with pytest.raises(ValueError, match="method"):
        missingness_test(mar_data, "x1", "y", method="mannwhitney")
    with pytest.raises(ValueError, match="by 'nope'"):
        missingness_test(mar_data, "x1", "nope")
    with pytest.raises(TypeError, match="numeric"):
        missingness_test(mar_data, "g", "y")
    with pytest.raises(ValueError, match="at least two rows"):
        missingness_test(mar_data, "y", "x1")  # x1 is complete
    with pytest.raises(ValueError, match="different"):
        missingness_test(mar_data, "y", "y")


def test_missingness_associations_finds_the_mar_predictors(mar_data):
    tab = missingness_associations(mar_data, cluster="c")
    assert list(tab.columns) == [
        "variable",
        "predictor",
        "n_missing",
        "n_observed",
        "mean_missing",
        "mean_observed",
        "smd",
        "corr",
        "cramers_v",
        "p_value",
        "test",
    ]
    assert list(dict.fromkeys(tab["variable"])) == ["y", "z", "w"]
    y = tab[tab["variable"] == "y"].set_index("predictor")
    assert set(y.index) == {"x1", "x2", "g", "z", "w", "c"}
    assert y.index[0] == "x1"  # sorted by p-value: the MAR predictor first
    assert y.loc["x1", "smd"] > 0.5 and y.loc["x1", "corr"] > 0.2
    assert y.loc["x1", "p_value"] < 1e-20
    n1, n0 = y.loc["x2", "n_missing"], y.loc["x2", "n_observed"]
    assert abs(y.loc["x2", "smd"]) < 4 * np.sqrt(1 / n1 + 1 / n0)  # noise
    assert y.loc["g", "test"] == "chi2" and y.loc["g", "cramers_v"] < 0.1
    assert np.isnan(y.loc["g", "smd"]) and np.isnan(y.loc["x1", "cramers_v"])
    z = tab[tab["variable"] == "z"].set_index("predictor")
    assert z.index[0] == "g"
    assert z.loc["g", "cramers_v"] > 0.25 and z.loc["g", "p_value"] < 1e-20
    assert abs(z.loc["x1", "smd"]) < 4 * np.sqrt(
        1 / z.loc["x1", "n_missing"] + 1 / z.loc["x1", "n_observed"]
    )
    # w is missing for whole clusters: the cluster row shows it
    w = tab[tab["variable"] == "w"].set_index("predictor")
    assert w.index[0] == "c" and w.loc["c", "test"] == "chi2"
    assert w.loc["c", "cramers_v"] > 0.9 and w.loc["c", "p_value"] < 1e-50
    # p-values sorted within each variable
    for _, part in tab.groupby("variable", sort=False):
        assert part["p_value"].is_monotonic_increasing


def test_missingness_associations_numbers_match_direct_computation(mar_data):
    tab = missingness_associations(mar_data)  # no cluster: c is an ordinary predictor
    row = tab[(tab["variable"] == "y") & (tab["predictor"] == "x1")].iloc[0]
    r = mar_data["y"].isna().to_numpy()
    x = mar_data["x1"].to_numpy()
    smd = (x[r].mean() - x[~r].mean()) / np.sqrt((x[r].var(ddof=1) + x[~r].var(ddof=1)) / 2)
    assert row["smd"] == pytest.approx(smd)
    assert row["corr"] == pytest.approx(stats.pointbiserialr(r, x).statistic)
    assert row["p_value"] == pytest.approx(stats.ttest_ind(x[r], x[~r], equal_var=False).pvalue)
    assert row["mean_missing"] == pytest.approx(x[r].mean())
    # z as a predictor of y uses only the rows where z is observed
    row = tab[(tab["variable"] == "y") & (tab["predictor"] == "z")].iloc[0]
    zobs = mar_data["z"].notna().to_numpy()
    assert row["n_missing"] == (r & zobs).sum() and row["n_observed"] == (~r & zobs).sum()
    chi2 = stats.chi2_contingency(
        pd.crosstab(mar_data["g"], mar_data["z"].isna()), correction=False
    )
    row = tab[(tab["variable"] == "z") & (tab["predictor"] == "g")].iloc[0]
    assert row["p_value"] == pytest.approx(chi2.pvalue)
    assert row["cramers_v"] == pytest.approx(np.sqrt(chi2.statistic / len(mar_data)))
    assert "c" in set(tab["predictor"]) and (tab["test"] != "chi2").sum() > 0
    assert missingness_associations(mar_data.dropna()).empty
    with pytest.raises(ValueError, match="cluster"):
        missingness_associations(mar_data, cluster="nope")


# --------------------------------------------------------------------------- #
# R-hat and ESS
# --------------------------------------------------------------------------- #
def _ar1(phi, n_chains, n_draws, rng):
    e = rng.normal(size=(n_chains, n_draws))
    x = np.empty_like(e)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi**2)
    for t in range(1, n_draws):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


def _ess_direct(chains):
    """Stan's split bulk ESS written out with loops (no FFT, no vectorisation)."""
    x = np.asarray(chains, dtype=float)
    half = x.shape[1] // 2
    x = np.vstack([x[:, :half], x[:, x.shape[1] - half :]])
    ranks = stats.rankdata(x, method="average").reshape(x.shape)
    z = stats.norm.ppf((ranks - 0.375) / (x.size + 0.25))
    m, n = z.shape
    acov = np.zeros((m, n))
    for c in range(m):
        d = z[c] - z[c].mean()
        for lag in range(n):
            acov[c, lag] = sum(d[i] * d[i + lag] for i in range(n - lag)) / n
    mean_var = np.mean([acov[c, 0] * n / (n - 1) for c in range(m)])
    var_plus = mean_var * (n - 1) / n + np.var(z.mean(axis=1), ddof=1)
    rho = np.zeros(n + 2)
    rho[0] = even = 1.0
    rho[1] = odd = 1 - (mean_var - acov[:, 1].mean()) / var_plus
    s = 1
    while s < n - 4 and even + odd > 0:
        even = 1 - (mean_var - acov[:, s + 1].mean()) / var_plus
        odd = 1 - (mean_var - acov[:, s + 2].mean()) / var_plus
        if even + odd >= 0:
            rho[s + 1], rho[s + 2] = even, odd
        s += 2
    max_s = s
    if even > 0:
        rho[max_s + 1] = even
    s = 1
    while s <= max_s - 3:
        if rho[s + 1] + rho[s + 2] > rho[s - 1] + rho[s]:
            rho[s + 1] = rho[s + 2] = (rho[s - 1] + rho[s]) / 2
        s += 2
    total = m * n
    tau = -1 + 2 * sum(rho[:max_s]) + rho[max_s + 1]
    return min(total / tau, total * np.log10(total))


@pytest.mark.parametrize(
    "shape, phi", [((4, 60), 0.6), ((3, 41), -0.3), ((1, 30), 0.0), ((5, 12), 0.9)]
)
def test_bulk_ess_matches_direct_implementation(shape, phi):
    rng = np.random.default_rng(7)
    x = _ar1(phi, *shape, rng) ** 3  # skewed: the rank normalisation matters
    assert bulk_ess(x) == pytest.approx(_ess_direct(x), rel=1e-10)


def test_bulk_ess_statistical_properties():
    rng = np.random.default_rng(8)
    n_total = 4 * 1000
    assert bulk_ess(rng.normal(size=(4, 1000))) == pytest.approx(n_total, rel=0.15)
    phi = 0.7
    theory = n_total * (1 - phi) / (1 + phi)
    assert bulk_ess(_ar1(phi, 4, 1000, rng)) == pytest.approx(theory, rel=0.25)
    # chains stuck at different levels: few effective draws
    assert bulk_ess(rng.normal(size=(4, 100)) + 5 * np.arange(4)[:, None]) < 20
    assert bulk_ess(np.ones((3, 12))) == 36.0  # constant: every draw counts
    assert bulk_ess(rng.normal(size=50)) > 10  # one chain as a 1-d array
    assert np.isnan(bulk_ess(np.r_[np.nan, rng.normal(size=19)]))
    with pytest.raises(ValueError, match="n_draws >= 12"):
        bulk_ess(np.ones((2, 11)))


def test_rhat_and_ess_on_an_imputation():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=120)})
    X["y"] = X["x"] + rng.normal(size=120)
    X["z"] = X["y"] + rng.normal(size=120)
    X.loc[:39, "y"] = np.nan
    X.loc[60:89, "z"] = np.nan
    mi = multiple_impute(X, MultilevelIterativeImputer(max_iter=14), 3, random_state=0)
    r = rhat(mi)
    e = ess(mi)
    assert list(r.index) == list(e.index) == ["y", "z"]
    assert (r < 1.3).all() and (e > 5).all() and e.name == "ess"
    # one fitted imputer is one chain; a trace DataFrame works too
    single = ess(mi.imputers[0], statistic="sd")
    trace = mi.imputers[0].trace_
    wide = trace[trace["variable"] == "y"].set_index("iteration")["sd"].to_numpy()
    assert single["y"] == pytest.approx(bulk_ess(wide[None, :]))
    pd.testing.assert_series_equal(ess(mi.trace_), e)
    with pytest.raises(ValueError, match="at least 12 iterations"):
        ess(mi, start=4)
    with pytest.raises(ValueError, match="statistic"):
        ess(mi, statistic="median")
    with pytest.raises(TypeError, match="MultiplyImputedData"):
        ess(42)
    # R-hat of a trace DataFrame; chains stuck at different levels are flagged
    pd.testing.assert_series_equal(rhat(mi.trace_), r)
    rows = [(c, it, "v", c + 0.01 * rng.normal(), 1.0) for c in (1, 2, 3) for it in range(1, 13)]
    stuck = pd.DataFrame(rows, columns=["chain", "iteration", "variable", "mean", "sd"])
    assert rhat(stuck)["v"] > 1.5 and ess(stuck)["v"] < 10


def test_split_rhat_detects_a_trend_within_chains():
    rng = np.random.default_rng(3)
    mixed = rng.normal(size=(4, 200))
    assert split_rhat(mixed) < 1.05
    assert split_rhat(mixed, rank_normalize=False) < 1.05
    # every chain drifts the same way: only the split halves reveal it
    drifting = mixed + np.linspace(0, 4, 200)
    assert split_rhat(drifting) > 1.3
    with pytest.raises(ValueError, match="n_draws >= 4"):
        split_rhat(np.ones((2, 3)))
