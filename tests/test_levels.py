"""Several grouping levels: the design carries them all, the imputer detects nesting."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from skmice import MultilevelIterativeImputer, MultipleImputationPipeline
from skmice.methods import ConditionalMethod, Design, Level


def _three_level(seed=0, n_schools=12, classes=4, pupils=8):
    rng = np.random.default_rng(seed)
    n = n_schools * classes * pupils
    school = np.repeat(np.arange(n_schools), classes * pupils)
    klass = np.repeat(np.arange(n_schools * classes), pupils)
    x = rng.standard_normal(n)
    y = (1 + x + rng.standard_normal(n_schools)[school]
         + 0.5 * rng.standard_normal(n_schools * classes)[klass] + rng.standard_normal(n))
    hood = rng.integers(0, 5, n)
    X = pd.DataFrame({"school": school, "class": klass, "hood": hood, "x": x, "y": y})
    X.loc[rng.random(n) < 0.3, "y"] = np.nan
    return X


class _RecordLevels(ConditionalMethod):
    """Imputes the mean; keeps what the design told it about the levels."""

    def _fit(self, design, y, rng):
        self.mean_ = float(y.mean())
        self.seen_ = [(lv.name, lv.n_groups, lv.groups.copy()) for lv in design.levels]

    def _sample(self, design, rng, observed):
        return np.full(design.n_rows, self.mean_)


def test_nested_levels_reach_the_design_and_are_described():
    X = _three_level()
    imp = MultilevelIterativeImputer(cluster=["class", "school"], methods={"y": _RecordLevels()},
                                     max_iter=1, random_state=0)
    out = imp.fit_transform(X)
    seen = imp.methods_["y"].seen_
    obs = X["y"].notna().to_numpy()
    assert [name for name, _, _ in seen] == ["class", "school"]
    assert [n for _, n, _ in seen] == [48, 12]
    np.testing.assert_array_equal(seen[0][2], X["class"].to_numpy()[obs])
    np.testing.assert_array_equal(seen[1][2], X["school"].to_numpy()[obs])
    assert imp.levels_["relation_to_next"].tolist() == ["nested", ""]
    assert imp.levels_["n_units"].tolist() == [48, 12]
    event = imp.log_[imp.log_["event"] == "grouping levels"]
    assert event["detail"].tolist() == ["48 units, nested in 'school'"]
    pd.testing.assert_frame_equal(out[["school", "class", "hood", "x"]],
                                  X[["school", "class", "hood", "x"]])


def test_crossed_levels_are_detected():
    X = _three_level()
    imp = MultilevelIterativeImputer(cluster=["school", "hood"], methods={"y": "pmm"},
                                     max_iter=1, random_state=0).fit(X)
    assert imp.levels_["relation_to_next"].tolist() == ["crossed", ""]
    assert imp.predictor_matrix_.loc["y", ["school", "hood"]].tolist() == [-2, -2]


def test_one_level_as_a_list_is_the_same_imputation():
    X = _three_level().drop(columns=["class", "hood"])
    a = MultilevelIterativeImputer(cluster="school", max_iter=3, random_state=1).fit_transform(X)
    b = MultilevelIterativeImputer(cluster=["school"], max_iter=3,
                                   random_state=1).fit_transform(X)
    pd.testing.assert_frame_equal(a, b)


def test_two_level_methods_warn_that_they_model_the_first_level():
    X = _three_level()
    imp = MultilevelIterativeImputer(cluster=["class", "school"], methods={"y": "2l.pan"},
                                     max_iter=2, random_state=0)
    with pytest.warns(UserWarning, match=r"model one grouping level.*'class'"):
        out = imp.fit_transform(X)
    assert out["y"].notna().all()
    # new units at both levels in transform
    new = X.iloc[:64].copy()
    new["class"] += 1000
    new["school"] += 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        completed = imp.transform(new)
    assert completed["y"].notna().all()
    pd.testing.assert_series_equal(completed["class"], new["class"])


def test_bad_cluster_lists():
    X = _three_level()
    with pytest.raises(ValueError, match="twice"):
        MultilevelIterativeImputer(cluster=["school", "school"]).fit(X)
    with pytest.raises(ValueError, match="names no column"):
        MultilevelIterativeImputer(cluster=[]).fit(X)
    with pytest.raises(ValueError, match="'room' is not a column"):
        MultilevelIterativeImputer(cluster=["school", "room"]).fit(X)
    pm = pd.DataFrame(0, index=X.columns, columns=X.columns)
    pm.loc["y", ["x", "hood"]] = [1, -2]
    with pytest.raises(ValueError, match="as the cluster"):
        MultilevelIterativeImputer(cluster=["class", "school"], predictor_matrix=pm).fit(X)


def test_pipeline_drops_every_grouping_column():
    X = _three_level()
    target = X.pop("x")
    pipe = MultipleImputationPipeline(
        MultilevelIterativeImputer(cluster=["class", "school"], methods={"y": "pmm"},
                                   max_iter=2),
        LinearRegression(), n_imputations=2, random_state=0).fit(X, target)
    assert pipe.estimators_[0].n_features_in_ == 2  # hood and y


def test_design_levels_api():
    g1, g2 = np.array([0, 0, 1, 2]), np.array([0, 0, 0, 1])
    d = Design(X=np.ones((4, 1)), levels=[Level(g1, 3, name="class"), Level(g2, 2)])
    assert d.groups is g1 and d.n_groups == 3 and d.Z is None
    sub = d.take([1, 3])
    assert [lv.groups.tolist() for lv in sub.levels] == [[0, 2], [0, 1]]
    assert sub.levels[0].name == "class" and sub.n_groups == 3
    with pytest.raises(TypeError, match="either levels"):
        Design(X=np.ones((4, 1)), groups=g1, n_groups=3, levels=[Level(g2, 2)])
    single = Design(X=np.ones((2, 1)))
    single.Z = np.ones((2, 1))  # setting a first-level part creates the level
    assert len(single.levels) == 1 and single.groups is None
    assert "2 units" in repr(d.take([0]))


@pytest.mark.parametrize("names", [
    ("class", "school"),  # plain labels
    (("cl", 1), ("sch", 2)),  # tuple labels: one column each, not a list of columns
    ("class id ✓", "school\n"),  # odd text
    (3, 7),  # integer labels of a DataFrame
])
def test_hostile_grouping_labels(names):
    X = _three_level().rename(columns={"class": names[0], "school": names[1]})
    before = X.copy(deep=True)
    imp = MultilevelIterativeImputer(cluster=[names[0], names[1]], methods={"y": "2l.pan"},
                                     max_iter=2, random_state=0)
    with pytest.warns(UserWarning, match="model one grouping level"):
        out = imp.fit_transform(X)
    pd.testing.assert_frame_equal(X, before)
    assert out["y"].notna().all()
    assert list(imp.levels_["column"]) == [names[0], names[1]]
    assert list(imp.levels_["relation_to_next"]) == ["nested", ""]


def test_grouping_columns_of_an_array_by_position():
    X = _three_level()
    arr = X[["class", "school", "x", "y"]].to_numpy()
    imp = MultilevelIterativeImputer(cluster=[0, 1], methods={3: "2l.pan"}, max_iter=2,
                                     random_state=0)
    with pytest.warns(UserWarning, match="model one grouping level"):
        out = imp.fit_transform(arr)
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out[:, :3], arr[:, :3])
    assert list(imp.levels_["n_units"]) == [48, 12]
    with pytest.raises(ValueError, match=r"cluster=5 is not a column position of X \(4"):
        MultilevelIterativeImputer(cluster=[0, 5]).fit(arr)
    with pytest.raises(ValueError, match="names a column twice"):
        MultilevelIterativeImputer(cluster=[1, 1]).fit(arr)
    with pytest.raises(ValueError, match="cluster=\\[\\] names no column"):
        MultilevelIterativeImputer(cluster=[]).fit(arr)


def test_missing_unit_code_at_an_upper_level_is_named():
    X = _three_level()
    X["school"] = X["school"].astype(float)
    X.loc[5, "school"] = np.nan
    with pytest.raises(ValueError, match="cluster column 'school' has missing values"):
        MultilevelIterativeImputer(cluster=["class", "school"]).fit(X)
