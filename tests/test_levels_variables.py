"""Several grouping levels in the imputer: defaults, level-specific variables,
cluster means at any level, random slopes named by predictor."""

import warnings

import numpy as np
import pandas as pd
import pytest

from skmice import MultilevelIterativeImputer, make_methods
from skmice._design import variable_levels
from skmice.methods import (
    ClusterNormal,
    ClusterPMM,
    ConditionalMethod,
    MultilevelNormal,
    registered_methods,
)


def _pupils(seed=0, n_schools=12, classes=4, pupils=6):
    """Pupils in classes in schools with a class-level and a school-level variable."""
    rng = np.random.default_rng(seed)
    n = n_schools * classes * pupils
    school = np.repeat(np.arange(n_schools), classes * pupils)
    klass = np.repeat(np.arange(n_schools * classes), pupils)
    size = np.repeat(rng.integers(15, 35, n_schools * classes), pupils).astype(float)
    kind = np.repeat(rng.integers(0, 3, n_schools), classes * pupils).astype(float)
    x = rng.standard_normal(n) + 0.05 * size
    y = (1 + x + 0.3 * kind + rng.standard_normal(n_schools)[school]
         + 0.5 * rng.standard_normal(n_schools * classes)[klass] + rng.standard_normal(n))
    X = pd.DataFrame({"school": school, "class": klass, "size": size, "kind": kind, "x": x,
                      "y": y})
    X.loc[rng.random(n) < 0.3, "y"] = np.nan
    X.loc[rng.random(n) < 0.1, "x"] = np.nan
    X.loc[X["class"].isin([0, 5, 9]), "size"] = np.nan  # whole classes
    X.loc[(X["class"] % 4 == 1) & (rng.random(n) < 0.5), "size"] = np.nan  # partly
    X.loc[X["school"].isin([2, 7]), "kind"] = np.nan  # whole schools
    X.loc[(X["school"] == 4) & (rng.random(n) < 0.5), "kind"] = np.nan  # partly
    return X


def _fit(X, **kw):
    kw.setdefault("max_iter", 3)
    kw.setdefault("random_state", 0)
    kw.setdefault("cluster", ["class", "school"])
    imp = MultilevelIterativeImputer(**kw)
    return imp, imp.fit_transform(X)


# --------------------------------------------------------------------------- #
# Defaults
# --------------------------------------------------------------------------- #
def test_defaults_with_several_levels_model_every_level_and_are_logged():
    X = _pupils()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning about ignored levels
        imp, out = _fit(X)
    assert imp.method_names_ == {"school": "", "class": "", "size": "2lonly.pmm",
                                 "kind": "2lonly.pmm", "x": "ml.pmm", "y": "ml.pmm"}
    log = imp.log_[imp.log_["event"] == "default method"].set_index("variable")["detail"]
    assert sorted(log.index) == ["kind", "size", "x", "y"]  # the incomplete columns
    assert log["y"].startswith("ml.pmm: numeric, every grouping level modelled")
    assert "'class'" in log["size"] and "'school'" in log["kind"]
    assert imp.variable_levels_ == {"size": "class", "kind": "school"}
    assert out.notna().all().all()


def test_binary_default_looks_up_ml_bin_by_name():
    X = _pupils()
    X["pass"] = (X["y"] > 1).astype(float)
    X.loc[X["y"].isna(), "pass"] = np.nan
    X = X.drop(columns="y")
    methods = make_methods(X, cluster=["class", "school"])
    if "ml.bin" in registered_methods():
        assert methods["pass"] == "ml.bin"
        return
    assert methods["pass"] == "2l.bin"
    with pytest.warns(UserWarning, match=r"ignore the levels \['school'\]"):
        imp, _ = _fit(X, max_iter=1)
    detail = imp.log_.query("variable == 'pass' and event == 'default method'")["detail"]
    assert "no multilevel binary method ('ml.bin') is registered" in detail.iloc[0]


def test_unordered_categorical_default_looks_up_ml_polyreg_by_name():
    X = _pupils()
    X["track"] = pd.Categorical(np.where(X["y"] > 1.5, "a", np.where(X["y"] > 0, "b", "c")))
    X.loc[X["y"].isna(), "track"] = np.nan
    want = "ml.polyreg" if "ml.polyreg" in registered_methods() else "2l.polyreg"
    assert make_methods(X, cluster=["class", "school"])["track"] == want


def test_one_level_defaults_and_log_are_unchanged():
    X = _pupils().drop(columns="class")
    assert make_methods(X, cluster="school") == {
        "school": "", "size": "2l.pmm", "kind": "2lonly.pmm", "x": "2l.pmm", "y": "2l.pmm"}
    imp, _ = _fit(X.drop(columns="size"), cluster="school", max_iter=1)
    assert not imp.log_["event"].isin(["default method", "level-specific"]).any()
    assert imp.variable_levels_ == {"kind": "school"}


def test_two_level_method_warns_naming_the_ignored_levels():
    X = _pupils()
    with pytest.warns(UserWarning, match=r"'2l.pan'.*'class'.*ignore the levels \['school'\]"):
        _fit(X, methods={"y": "2l.pan"}, max_iter=1)


# --------------------------------------------------------------------------- #
# Level-specific variables
# --------------------------------------------------------------------------- #
def _check_level_values(X, out, column, level):
    observed = X[column].notna()
    np.testing.assert_array_equal(out.loc[observed, column], X.loc[observed, column])
    assert (out.groupby(level)[column].nunique() == 1).all()
    # deductive fill: a unit with an observed value keeps it
    known = X.groupby(level)[column].transform("first")
    has = known.notna()
    np.testing.assert_array_equal(out.loc[has, column], known[has])


def test_level_specific_variables_are_constant_within_their_units():
    X = _pupils()
    before = X.copy(deep=True)
    imp, out = _fit(X)
    pd.testing.assert_frame_equal(X, before)  # input untouched
    _check_level_values(X, out, "size", "class")
    _check_level_values(X, out, "kind", "school")
    assert set(out["kind"]) <= set(X["kind"].dropna())  # 2lonly.pmm: observed values
    assert imp.methods_["kind"].level_ == "school"
    assert imp.methods_["size"].level_ == "class"
    event = imp.log_[imp.log_["event"] == "level-specific"].set_index("variable")["detail"]
    assert "'school'" in event["kind"] and "'class'" in event["size"]
    # the school variable varies between the classes of no school
    assert (out.groupby("school")["kind"].nunique() == 1).all()


def test_same_seed_same_result():
    X = _pupils()
    pd.testing.assert_frame_equal(_fit(X)[1], _fit(X)[1])


def test_constant_within_class_but_not_school_belongs_to_the_classes():
    X = _pupils()
    assert X.groupby("school")["size"].nunique().max() > 1
    assert variable_levels(X, ["class", "school"]) == {"size": "class", "kind": "school"}
    assert variable_levels(X, ["school", "class"]) == {"size": "class", "kind": "school"}


def test_level_parameter_names_the_grouping_column():
    X = _pupils()
    imp, out = _fit(X, methods={"kind": ClusterNormal(level="school"), "size": "2lonly.mean"})
    assert imp.methods_["kind"].level_index_ == 1
    _check_level_values(X, out, "kind", "school")
    _check_level_values(X, out, "size", "class")
    # the school variable at class level: one value per class, not per school
    imp, out = _fit(X, methods={"kind": ClusterPMM(level="class")})
    assert imp.variable_levels_["kind"] == "class"
    assert (out.groupby("class")["kind"].nunique() == 1).all()


def test_level_parameter_errors_name_the_column_and_level():
    X = _pupils()
    with pytest.raises(ValueError, match=r"Column 'size'.*level 'school'.*differ within the "
                                         r"units \[0, 1"):
        _fit(X, methods={"size": ClusterPMM(level="school")})
    with pytest.raises(ValueError, match=r"level='district' is not a grouping column"):
        _fit(X, methods={"size": ClusterPMM(level="district")})


def test_transform_checks_and_fills_units_old_and_new():
    X = _pupils()
    imp, _ = _fit(X)
    new = _pupils(seed=1).iloc[:96].copy()
    new["class"] += 1000  # new classes ...
    new.loc[new["school"] == 3, "school"] = 99  # ... some in a new school
    out = imp.transform(new)
    assert out.notna().all().all()
    _check_level_values(new, out, "size", "class")
    _check_level_values(new, out, "kind", "school")
    bad = new.copy()
    bad.loc[bad.index[bad["school"] == 0][:2], "kind"] = [0.0, 1.0]
    with pytest.raises(ValueError, match=r"Column 'kind'.*level 'school'.*units \[0\]"):
        imp.transform(bad)


@pytest.mark.parametrize("labels", ["int", "str", "float", "category", "tuple", "mixed"])
def test_grouping_labels_of_every_dtype(labels):
    X = _pupils()
    as_label = {
        "int": lambda s: s,
        "str": lambda s: "u" + s.astype(str),
        "float": lambda s: s * 0.5 + 0.25,
        "category": lambda s: pd.Categorical("u" + s.astype(str)),
        "tuple": lambda s: pd.Series([("u", int(v)) for v in s], index=s.index, dtype=object),
        "mixed": lambda s: pd.Series([int(v) if v % 2 else f"u{v}" for v in s],
                                     index=s.index, dtype=object),
    }[labels]
    X["class"] = as_label(X["class"])
    X["school"] = as_label(X["school"])
    imp, out = _fit(X, max_iter=2)
    assert out.notna().all().all()
    _check_level_values(X, out, "size", "class")
    _check_level_values(X, out, "kind", "school")


def test_a_level_with_one_unit_and_units_with_one_row():
    X = _pupils(n_schools=1, classes=12)
    X.loc[X.index[:6], "class"] = np.arange(100, 106)  # six classes of one pupil
    X.loc[X.index[:3], "size"] = np.nan
    with pytest.warns(UserWarning, match="'kind' \\(constant\\)"):
        imp, out = _fit(X, max_iter=2)
    assert out.notna().all().all()
    assert imp.levels_["n_units"].tolist()[1] == 1
    # constant over the single school: it belongs to the school
    assert imp.variable_levels_.get("kind") == "school"
    assert out["kind"].nunique() == 1
    assert (out.groupby("class")["size"].nunique() == 1).all()


# --------------------------------------------------------------------------- #
# Cluster means at any level
# --------------------------------------------------------------------------- #
class _Keep(ConditionalMethod):
    """Imputes the mean; keeps the fixed part of the design it was fitted on."""

    def _fit(self, design, y, rng):
        self.mean_ = float(y.mean())
        self.X_ = design.X.copy()

    def _sample(self, design, rng, observed):
        return np.full(design.n_rows, self.mean_)


def test_cluster_means_at_chosen_levels_follow_the_completed_data():
    X = _pupils()
    pm = pd.DataFrame(0, index=X.columns, columns=X.columns)
    pm.loc["y", "x"] = 3
    imp, out = _fit(X[["school", "class", "x", "y"]], predictor_matrix=pm.loc[
        ["school", "class", "x", "y"], ["school", "class", "x", "y"]],
        methods={"y": _Keep(), "x": "ml.pmm"}, cluster_means={"y": ["school", "class"]})
    seen = imp.methods_["y"].X_
    obs = X["y"].notna().to_numpy()
    done = out["x"]  # x as completed at the last visit of y (x is visited before y)
    school_mean = done.groupby(out["school"]).transform("mean").to_numpy()[obs]
    class_mean = done.groupby(out["class"]).transform("mean").to_numpy()[obs]
    np.testing.assert_allclose(seen[:, 1], done.to_numpy()[obs])
    np.testing.assert_allclose(seen[:, 2], school_mean)
    np.testing.assert_allclose(seen[:, 3], class_mean)


def test_cluster_means_default_is_the_lowest_level_and_bad_specs_fail():
    X = _pupils()[["school", "class", "x", "y"]]
    pm = pd.DataFrame([[0] * 4] * 3 + [[-2, -2, 3, 0]], index=X.columns, columns=X.columns)
    a, _ = _fit(X, predictor_matrix=pm, methods={"y": _Keep(), "x": "pmm"})
    b, _ = _fit(X, predictor_matrix=pm, methods={"y": _Keep(), "x": "pmm"},
                cluster_means="class")
    np.testing.assert_array_equal(a.methods_["y"].X_, b.methods_["y"].X_)
    with pytest.raises(ValueError, match=r"cluster_means\['y'\] names 'district'"):
        _fit(X, predictor_matrix=pm, methods={"y": _Keep()}, cluster_means={"y": "district"})
    with pytest.raises(ValueError, match=r"cluster_means names columns that are not in X"):
        _fit(X, predictor_matrix=pm, methods={"y": _Keep()}, cluster_means={"z": "school"})
    with pytest.raises(ValueError, match=r"cluster is None"):
        _fit(X, predictor_matrix=None, methods={"y": "pmm"}, cluster=None,
             cluster_means="school")


# --------------------------------------------------------------------------- #
# Random slopes named by predictor
# --------------------------------------------------------------------------- #
def _slopes_data():
    X = _pupils()[["school", "class", "size", "x", "y"]]
    X["size"] = X.groupby("class")["size"].transform("first").fillna(25.0)
    X["x"] = X["x"].fillna(0.0)
    pm = pd.DataFrame(0, index=X.columns, columns=X.columns)
    pm.loc["y"] = [-2, -2, 1, 2, 0]
    pm.loc["y", "size"] = 2
    return X, pm


def test_random_slopes_by_name_equal_slopes_by_position():
    X, pm = _slopes_data()
    by_name, a = _fit(X, predictor_matrix=pm, methods={
        "y": MultilevelNormal(random_slopes={"school": ["x"], "class": "size"})})
    by_pos, b = _fit(X, predictor_matrix=pm, methods={
        "y": MultilevelNormal(random_slopes={"school": [2], "class": [1]})})
    pd.testing.assert_frame_equal(a, b)
    cols = [c.tolist() for c in by_name.methods_["y"].random_columns_]
    assert cols == [[0, 1], [0, 2]]  # Z: intercept, size, x


def test_random_slopes_naming_a_predictor_without_code_2_fails():
    X, pm = _slopes_data()
    pm.loc["y", "size"] = 1
    with pytest.raises(ValueError, match=r"column 'y'.*names 'size', which is not in the "
                                         r"random part.*code 2 there: \['x'\]"):
        _fit(X, predictor_matrix=pm, methods={
            "y": MultilevelNormal(random_slopes={"school": ["size"]})})


def test_random_slopes_by_name_of_a_categorical_predictor_take_its_dummies():
    X, pm = _slopes_data()
    X["track"] = pd.Categorical(np.resize(["a", "b", "c"], len(X)))
    pm = pm.reindex(index=X.columns, columns=X.columns, fill_value=0)
    pm.loc["y", "track"] = 2
    imp, out = _fit(X, predictor_matrix=pm, methods={
        "y": MultilevelNormal(random_slopes={"school": ["track"]})})
    assert [c.tolist() for c in imp.methods_["y"].random_columns_] == [[0], [0, 3, 4]]
    assert out["y"].notna().all()


def test_cluster_means_and_named_slopes_with_new_units_at_transform():
    X, pm = _slopes_data()
    pm.loc["y", "x"] = 4
    imp, _ = _fit(X, predictor_matrix=pm, cluster_means=["class", "school"],
                  methods={"y": MultilevelNormal(random_slopes={"school": ["x"]})})
    new = X.iloc[:60].copy()
    new["class"] += 500
    new.loc[new["school"] == 0, "school"] = 77
    new.loc[new.index[::3], "y"] = np.nan
    out = imp.transform(new)
    assert out["y"].notna().all()
    observed = new["y"].notna()
    np.testing.assert_array_equal(out.loc[observed, "y"], new.loc[observed, "y"])
    pd.testing.assert_frame_equal(out, imp.transform(new))  # reproducible
