"""multilevel_ampute with several grouping levels: whole units of a chosen level."""

import numpy as np
import pandas as pd
import pytest

from skmice import multilevel_ampute


def _pupils(seed=0, n_schools=60, classes=4, pupils=5):
    rng = np.random.default_rng(seed)
    n = n_schools * classes * pupils
    school = np.repeat(np.arange(n_schools), classes * pupils)
    klass = np.repeat(np.arange(n_schools * classes), pupils)
    kind = np.repeat(rng.standard_normal(n_schools), classes * pupils)
    size = np.repeat(rng.integers(15, 30, n_schools * classes), pupils).astype(float)
    return pd.DataFrame({"school": school, "class": klass, "hood": rng.integers(0, 30, n),
                         "kind": kind, "size": size, "x": rng.standard_normal(n),
                         "y": rng.standard_normal(n)})


def _units_missing(Y, unit, column):
    share = Y[column].isna().groupby(Y[unit]).mean()
    assert set(share) <= {0.0, 1.0}  # whole units or nothing
    return share[share == 1.0].index


@pytest.mark.parametrize("unit, n_units", [("class", 240), ("school", 60), ("hood", 30)])
def test_whole_units_of_the_chosen_level(unit, n_units):
    X = _pupils()
    Y = multilevel_ampute(X, ["class", "school", "hood"], mechanism="MCAR",
                          systematic={"y": 0.2}, sporadic=False, unit=unit,
                          columns=["x", "y"], random_state=0)
    assert len(_units_missing(Y, unit, "y")) == round(0.2 * n_units)
    assert Y["x"].notna().all()
    pd.testing.assert_frame_equal(Y.drop(columns="y"), X.drop(columns="y"))


def test_mar_by_a_unit_level_covariate():
    X = _pupils()
    shifts = []
    for seed in range(20):
        Y = multilevel_ampute(X, ["class", "school"], mechanism="MAR", systematic={"y": 0.3},
                              sporadic=False, unit="school", columns=["y"],
                              score_columns=["kind"], random_state=seed)
        gone = _units_missing(Y, "school", "y")
        kind = X.groupby("school")["kind"].first()
        shifts.append(kind[gone].mean() - kind.drop(gone).mean())
    # schools with larger 'kind' go missing more often (RIGHT); under MCAR the shift
    # has mean 0 and standard deviation about sd(kind) * sqrt(1/18 + 1/42) ~ 0.28 per draw
    assert np.mean(shifts) > 5 * 0.28 / np.sqrt(20)


def test_level_specific_columns_go_missing_for_whole_units_of_their_level():
    X = _pupils()
    Y = multilevel_ampute(X, ["class", "school"], mechanism="MCAR", prop=0.4,
                          columns=["kind", "size", "x"], random_state=1)
    for column, level in (("kind", "school"), ("size", "class")):
        share = Y[column].isna().groupby(Y[level]).mean()
        assert set(share) <= {0.0, 1.0} and 0 < share.mean() < 1
    assert 0 < Y["x"].isna().mean() < 1


def test_one_grouping_column_as_before():
    X = _pupils()
    a = multilevel_ampute(X, "school", systematic=0.2, random_state=3,
                          columns=["x", "y", "kind"])
    b = multilevel_ampute(X, ["school"], systematic=0.2, random_state=3, unit="school",
                          columns=["x", "y", "kind"])
    pd.testing.assert_frame_equal(a, b)


def test_bad_unit_and_cluster():
    X = _pupils()
    with pytest.raises(ValueError, match=r"unit: 'district' is not one of the grouping"):
        multilevel_ampute(X, ["class", "school"], unit="district", columns=["y"])
    with pytest.raises(ValueError, match="cluster=\\[\\] names no column"):
        multilevel_ampute(X, [], columns=["y"])
    with pytest.raises(ValueError, match="cluster: 'room' is not a column"):
        multilevel_ampute(X, ["class", "room"], columns=["y"])
    with pytest.raises(ValueError, match="never amputed"):
        multilevel_ampute(X, ["class", "school"], columns=["school", "y"])
