"""SubstantiveModelImputer: data safety, determinism, models, errors, a simulator's truth."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skmice import MultilevelIterativeImputer, multiple_impute
from skmice.datasets import make_popularity, make_random_slope
from skmice.smc import SubstantiveModelImputer, parameter_rhat

FORMULA = "y ~ x * w + (1 + x | cluster)"


@pytest.fixture(scope="module")
def sim():
    return make_random_slope(n_clusters=40, cluster_size=10, missing_x=0.3, missing_y=0.1,
                             random_state=0)


def _fit(data, **kw):
    kw.setdefault("max_iter", 30)
    kw.setdefault("random_state", 0)
    return SubstantiveModelImputer(kw.pop("model", FORMULA), **kw).fit(data)


def test_fills_model_variables_and_keeps_observed_values(sim):
    data = sim.data
    before = data.copy()
    imp = SubstantiveModelImputer(FORMULA, max_iter=30, random_state=0)
    out = imp.fit_transform(data)
    pd.testing.assert_frame_equal(data, before)  # the input is not mutated
    assert not out[["y", "x"]].isna().any().any()
    obs = data.notna()
    for c in data.columns:
        a, b = data.loc[obs[c], c].to_numpy(), out.loc[obs[c], c].to_numpy()
        assert np.array_equal(a.view(np.uint8), b.view(np.uint8))  # bit for bit
    assert list(imp.log_["variable"]) == ["x", "y"]
    assert list(imp.log_["draw"]) == ["exact", "exact"]
    assert imp.models_ == ["x ~ w", FORMULA]


def test_same_seed_same_result_and_chains_independent_of_n_jobs(sim):
    a = SubstantiveModelImputer(FORMULA, max_iter=20, random_state=3).fit_transform(sim.data)
    b = SubstantiveModelImputer(FORMULA, max_iter=20, random_state=3).fit_transform(sim.data)
    pd.testing.assert_frame_equal(a, b)
    imp = SubstantiveModelImputer(FORMULA, max_iter=10)
    m1 = multiple_impute(sim.data, imp, n_imputations=2, n_jobs=1, random_state=5)
    m2 = multiple_impute(sim.data, imp, n_imputations=2, n_jobs=2, random_state=5)
    for x, y in zip(m1.imputations, m2.imputations):
        pd.testing.assert_frame_equal(x, y)
    assert not m1.imputations[0].equals(m1.imputations[1])


def test_recovers_slope_variance_and_interaction_of_the_simulator():
    """Pooled analysis of the imputations within 3 standard errors of the truth."""
    sim = make_random_slope(n_clusters=150, cluster_size=20, slope_variance=0.2,
                            missing_x=0.35, mar_strength=1.5, random_state=11)
    imp = SubstantiveModelImputer(FORMULA, max_iter=150)
    mi = multiple_impute(sim.data, imp, n_imputations=5, random_state=1)
    an = mi.analyze_mixed(FORMULA)
    pooled = an.pool()
    for term in ("x", "w", "x:w"):
        est, se = pooled.loc[term, ["estimate", "std_error"]]
        assert abs(est - sim.truth[term]) < 3 * se, term
    # slope variance: its sampling s.e. with 150 clusters is about 0.2 * sqrt(2 / 150) * 1.3
    slope = an.pool_extra()["x~~x|cluster"]
    assert abs(slope - 0.2) < 3 * 0.2 * np.sqrt(2 / 150) * 1.3
    # chained equations that ignore the random slope shrink it (the point of the model)
    fcs = multiple_impute(sim.data, MultilevelIterativeImputer(cluster="cluster", max_iter=5),
                          n_imputations=5, random_state=1)
    assert fcs.analyze_mixed(FORMULA).pool_extra()["x~~x|cluster"] < slope


def test_parameter_traces_and_rhat(sim):
    imp = SubstantiveModelImputer(FORMULA, max_iter=40)
    mi = multiple_impute(sim.data, imp, n_imputations=3, random_state=2)
    table = parameter_rhat(mi)
    assert {"x:w", "var(cluster: x)", "var(Residual)", "[x] var(cluster: (Intercept))"} <= set(
        table.index)
    assert np.isfinite(table["rhat"]).all() and (table["ess"] > 0).all()
    fitted = mi.imputers[0]
    assert fitted.parameter_trace_["iteration"].max() == 40
    assert set(fitted.trace_["variable"]) == {"x", "y"}
    with pytest.raises(ValueError, match="at least 2 chains"):
        parameter_rhat([fitted])
    with pytest.raises(TypeError, match="parameter_trace_"):
        parameter_rhat([fitted, MultilevelIterativeImputer()])


def test_square_is_drawn_by_metropolis_with_adapted_acceptance(sim):
    data = sim.data.copy()
    imp = _fit(data, model="y ~ x + I(x^2) + w + (1 | cluster)", max_iter=60)
    row = imp.log_.set_index("variable").loc["x"]
    assert row["draw"] == "mh"
    assert 0.15 < imp.acceptance_["x"] < 0.8
    assert "I(x^2)" in set(imp.parameters_["parameter"])


def test_binary_predictor_and_level2_predictor():
    data = make_popularity(random_state=1).data
    rng = np.random.default_rng(0)
    data.loc[rng.random(len(data)) < 0.2, "sex"] = np.nan
    schools = data["school"].unique()
    data.loc[data["school"].isin(schools[:10]), "texp"] = np.nan  # whole schools
    data.loc[data.index[::50], "texp"] = np.nan  # and rows of schools observed elsewhere
    imp = SubstantiveModelImputer("popular ~ sex * texp + (1 + sex | school)", max_iter=30,
                                  random_state=0)
    out = imp.fit_transform(data)
    log = imp.log_.set_index("variable")
    assert log.loc["sex", "draw"] == "binary" and log.loc["texp", "level"] == 2
    assert set(out["sex"].unique()) <= {0, 1}
    # a level-2 variable stays constant within its clusters, and deductive where observed
    assert (out.groupby("school")["texp"].nunique() == 1).all()
    known = data.dropna(subset=["texp"]).groupby("school")["texp"].first()
    assert out.groupby("school")["texp"].first().loc[known.index].equals(known)
    # the level-2 model comes first in the factorisation
    assert imp.models_[0].startswith("texp ~") and imp.models_[1].startswith("sex ~")


def test_binomial_outcome_and_auxiliary_variable():
    data = make_popularity(random_state=2).data
    data["high"] = (data["popular"] > data["popular"].median()).astype(float)
    data.loc[data["popular"].isna(), "high"] = np.nan
    data = data.drop(columns="popular")
    data.loc[data.index[::9], "teachpop"] = np.nan
    imp = SubstantiveModelImputer("high ~ sex + texp + (1 | school)", family="binomial",
                                  auxiliary=["teachpop"], max_iter=40, random_state=0)
    out = imp.fit_transform(data)
    assert set(out["high"].unique()) == {0.0, 1.0} and not out["teachpop"].isna().any()
    assert imp.models_[-1].startswith("teachpop ~ high")
    params = imp.parameters_.set_index("parameter")["value"]
    assert params["sex"] > 0  # girls more popular in the simulator
    assert "var(Residual)" not in params.index  # logistic: no residual variance
    assert {"[teachpop] high", "[teachpop] var(Residual)"} <= set(params.index)


def test_transform_new_clusters(sim):
    imp = SubstantiveModelImputer(FORMULA, max_iter=20, transform_iter=5, random_state=0)
    imp.fit(sim.data)
    new = make_random_slope(n_clusters=5, cluster_size=8, random_state=9).data
    new["cluster"] += 1000  # clusters not seen in fit
    out = imp.transform(new)
    assert not out[["x", "y"]].isna().any().any()
    obs = new["x"].notna()
    assert out.loc[obs, "x"].equals(new.loc[obs, "x"])
    # the fitted parameters are not changed by transform
    before = imp.parameters_.copy()
    imp.transform(new)
    pd.testing.assert_frame_equal(before, imp.parameters_)


def test_dtypes_survive():
    data = make_popularity(random_state=3).data
    data["sex"] = data["sex"].map({0: "boy", 1: "girl"}).astype("category")
    data["texp"] = data["texp"].astype("Int64")
    data.loc[data.index[::6], "sex"] = np.nan
    data["note"] = "None"  # a text column outside the model is passed through
    out = _fit(data, model="popular ~ sex + texp + (1 | school)").transform(data)
    assert out["sex"].dtype == data["sex"].dtype and set(out["sex"].unique()) <= {"boy", "girl"}
    assert out["texp"].dtype == data["texp"].dtype
    assert (out["note"] == "None").all()


def test_clone_and_not_fitted():
    imp = SubstantiveModelImputer(FORMULA, auxiliary=["a"], max_iter=7)
    assert clone(imp).get_params() == imp.get_params()
    with pytest.raises(NotFittedError):
        imp.transform(pd.DataFrame({"y": [1.0]}))


@pytest.mark.parametrize("kwargs, data_change, error, match", [
    ({}, lambda d: d.to_numpy(), TypeError, "DataFrame"),
    ({}, lambda d: d.drop(columns="w"), ValueError, r"\['w'\]"),
    ({"model": "y ~ x + (1 | a) + (1 | b)"}, None, ValueError, "grouping factor"),
    ({"family": "binomial"}, None, ValueError, "binary outcome"),
    ({"auxiliary": ["x"]}, None, ValueError, "also in the analysis model"),
    ({"level2": ["x"]}, None, ValueError, "vary within clusters"),
    ({"variable_types": {"x": "count"}}, None, ValueError, "variable_types"),
    ({"max_iter": 0}, None, ValueError, "max_iter"),
    ({"family": "poisson"}, None, ValueError, "family"),
    ({}, lambda d: d.assign(cluster=d["cluster"].astype(float).where(d.index > 0)),
     ValueError, "grouping column 'cluster'"),
    ({}, lambda d: d.assign(w=pd.Categorical(np.where(d["x"] > 0, "a",
                                                      np.where(d["x"] < -1, "b", "c")))
                            ).assign(w=lambda e: e["w"].where(e.index % 7 > 0)),
     ValueError, "categorical"),
    ({}, lambda d: d.assign(x=d["x"].where(d.index > 0, np.inf)), ValueError, "infinite"),
])
def test_bad_input_names_the_problem(sim, kwargs, data_change, error, match):
    data = sim.data if data_change is None else data_change(sim.data.copy())
    with pytest.raises(error, match=match):
        SubstantiveModelImputer(kwargs.pop("model", FORMULA), max_iter=kwargs.pop("max_iter", 2),
                                **kwargs).fit(data)


def test_untouched_incomplete_column_is_a_warning(sim):
    data = sim.data.assign(other=np.where(np.arange(len(sim.data)) % 3, 1.0, np.nan))
    with pytest.warns(UserWarning, match="other"):
        out = _fit(data, max_iter=2).fit_transform(data)
    assert out["other"].isna().sum() == data["other"].isna().sum()


def test_pipeline_with_the_imputer(sim):
    from sklearn.linear_model import LinearRegression

    from skmice import MultipleImputationPipeline

    data = sim.data.dropna(subset=["y"]).reset_index(drop=True)
    pipe = MultipleImputationPipeline(
        SubstantiveModelImputer("y ~ x * w + (1 + x | cluster)", max_iter=10,
                                transform_iter=3),
        LinearRegression(), n_imputations=2, random_state=0, include_target=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(data.drop(columns="y"), data["y"])
        pred = pipe.predict(data.drop(columns="y"))
    assert pred.shape == (len(data),) and np.isfinite(pred).all()


def test_command_line_model(tmp_path, capsys):
    from skmice.cli import main

    sim = make_random_slope(n_clusters=20, cluster_size=8, random_state=4)
    path = tmp_path / "in.csv"
    sim.data.to_csv(path, index=False)
    out = tmp_path / "out.csv"
    code = main(["impute", str(path), "--model", FORMULA, "-m", "2", "--max-iter", "5",
                 "--seed", "1", "--quiet", "--out", str(out)])
    assert code == 0
    long = pd.read_csv(out)
    assert long[".imp"].nunique() == 2 and not long[["x", "y"]].isna().any().any()
    assert "compatible with the model" in capsys.readouterr().err
    code = main(["impute", str(path), "--model", FORMULA, "--method", "x=pmm", "--quiet",
                 "--out", str(tmp_path / "o2.csv")])
    assert code != 0
    assert "--method and --model" in capsys.readouterr().err


def test_hostile_names_scales_and_clusters():
    sim = make_random_slope(n_clusters=25, cluster_size=6, missing_x=0.3, missing_y=0.2,
                            random_state=6)
    data = sim.data.rename(columns={"x": "my x", "y": "y.out", "cluster": "school id"})
    data["my x"] *= 1e6  # huge and tiny scales
    data["w"] *= 1e-6
    data["school id"] = data["school id"].map(lambda g: f"s{g}")  # string labels
    data.loc[data["school id"] == "s3", ["my x", "y.out"]] = np.nan  # a cluster with nothing
    data = pd.concat([data, pd.DataFrame({"school id": ["lonely"], "y.out": [np.nan],
                                          "my x": [np.nan], "w": [0.0]})], ignore_index=True)
    model = "y.out ~ `my x` * w + (1 + `my x` | `school id`)"
    out = SubstantiveModelImputer(model, max_iter=40, random_state=0).fit_transform(data)
    assert np.isfinite(out[["my x", "y.out"]].to_numpy()).all()
    assert out["my x"].abs().median() > 1e4  # imputed in the column's own units


@pytest.mark.slow
def test_reference_data_with_incomplete_predictor_and_level2_auxiliary():
    """ref_a (R's reference data): extrav (a predictor) and popular incomplete, club and
    tsize auxiliary; the pooled analysis within 2 complete-data standard errors of the
    complete data's fit."""
    from tests._reference import load_json, reference_path

    data = pd.read_csv(reference_path("ref_a.csv"))
    truth = load_json("ref_a_truth.json")["model1"]
    model = "popular ~ 1 + sex + texp + sex:texp + extrav + (1 + sex | school)"
    imp = SubstantiveModelImputer(model, auxiliary=["club", "tsize"], max_iter=400)
    mi = multiple_impute(data, imp, n_imputations=5, random_state=1)
    an = mi.analyze_mixed(model)
    pooled = an.pool()
    for term, est, se in zip(truth["term"], truth["estimate"], truth["se"]):
        name = "Intercept" if term == "(Intercept)" else term
        assert abs(pooled.loc[name, "estimate"] - est) < 2 * se, term
    extra = an.pool_extra()
    assert abs(extra["sex~~sex|school"] - truth["varcomp"]["sex~~NA"]) < 0.08
    assert abs(extra["Residual~~Residual"] - truth["varcomp"]["NA~~NA"]) < 0.03


def test_feature_names_set_output_and_tags(sim):
    imp = SubstantiveModelImputer(FORMULA, max_iter=3, random_state=0).set_output(
        transform="pandas")
    out = imp.fit_transform(sim.data)
    assert list(imp.get_feature_names_out()) == list(sim.data.columns) == list(out.columns)
    with pytest.raises(ValueError, match="input_features"):
        imp.get_feature_names_out(["a"])
    assert imp.__sklearn_tags__().input_tags.allow_nan
