"""predictor_matrix_from_formula with several grouping factors (lme4 syntax)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from skmice import MultilevelIterativeImputer, predictor_matrix_from_formula
from skmice.methods import MultilevelPMM


def _pupils(seed=0, n_schools=10, classes=3, pupils=6):
    rng = np.random.default_rng(seed)
    n = n_schools * classes * pupils
    school = np.repeat(np.arange(n_schools), classes * pupils)
    klass = np.tile(np.repeat(np.arange(classes), pupils), n_schools)  # 0..2 in every school
    hood = rng.integers(0, 7, n)
    size = np.repeat(rng.integers(15, 30, n_schools * classes), pupils).astype(float)
    ses = np.repeat(rng.standard_normal(n_schools), classes * pupils)
    x = rng.standard_normal(n)
    y = 1 + x + ses + rng.standard_normal(n_schools)[school] + rng.standard_normal(n)
    X = pd.DataFrame({"school": school, "class": klass, "hood": hood, "size": size,
                      "ses": ses, "x": x, "y": y})
    X.loc[rng.random(n) < 0.3, "y"] = np.nan
    X.loc[rng.random(n) < 0.1, "x"] = np.nan
    X.loc[X["school"] == 1, "ses"] = np.nan
    return X


def _impute(d, max_iter=2):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every level modelled: no warning
        imp = MultilevelIterativeImputer(cluster=d.cluster, predictor_matrix=d.predictor_matrix,
                                         methods=d.methods, max_iter=max_iter, random_state=0)
        return imp, imp.fit_transform(d.data)


def test_nested_grouping_expands_to_the_combined_factor():
    X = _pupils()
    d = predictor_matrix_from_formula("y ~ x + ses + (1 | school/class)", X)
    assert d.cluster == ["class:school", "school"]
    # classes numbered 0..2 in every school: the combination is the unit
    assert d.data["class:school"].nunique() == 30
    assert d.data.groupby("class:school")["school"].nunique().max() == 1
    pm = d.predictor_matrix
    assert pm.loc["y", ["class:school", "school", "x", "ses"]].tolist() == [-2, -2, 1, 1]
    assert pm.loc["y", "class"] == 0
    assert d.methods["y"] == "ml.pmm" and d.methods["x"] == "ml.pmm"
    assert d.methods["ses"] == "2lonly.pmm"
    assert d.random_slopes is None
    assert any("ses is constant within school" in n for n in d.notes)
    imp, out = _impute(d)
    assert imp.levels_["relation_to_next"].tolist() == ["nested", ""]
    assert imp.variable_levels_ == {"ses": "school"}
    assert out[["x", "y", "ses"]].notna().all().all()


def test_separate_factors_and_crossed_slopes():
    X = _pupils()
    X["class"] = X["school"] * 10 + X["class"]  # unique class ids
    a = predictor_matrix_from_formula("y ~ x + (1 | school) + (1 | class)", X)
    b = predictor_matrix_from_formula("y ~ x + (1 | class) + (1 | school)", X)
    assert a.cluster == b.cluster == ["class", "school"]
    pd.testing.assert_frame_equal(a.predictor_matrix, b.predictor_matrix)
    d = predictor_matrix_from_formula("y ~ x + ses + (1 + x | school) + (1 | hood)", X)
    assert d.cluster == ["school", "hood"]  # 10 schools, 7 neighbourhoods
    assert d.random_slopes == {"school": ["x"]}
    assert d.predictor_matrix.loc["y", "x"] == 2
    assert isinstance(d.methods["y"], MultilevelPMM)
    assert d.methods["y"].random_slopes == {"school": ["x"]}
    # x, incomplete, has a slope: the outcome gets one in x's model, at the school level
    assert d.predictor_matrix.loc["x", "y"] == 2
    assert d.methods["x"].random_slopes == {"school": ["y"]}
    imp, out = _impute(d)
    assert imp.levels_["relation_to_next"].tolist() == ["crossed", ""]
    assert [c.tolist() for c in imp.methods_["y"].random_columns_] == [[0, 1], [0]]
    assert out[["x", "y"]].notna().all().all()


def test_level_variable_gets_no_slope_over_its_own_level():
    X = _pupils()
    d = predictor_matrix_from_formula("y ~ x + ses + (1 + ses | school) + (1 + ses | hood)", X)
    assert d.random_slopes == {"hood": ["ses"]}
    assert any("ses is constant within school: it cannot have a random slope" in n
               for n in d.notes)


def test_uncorrelated_random_effects_are_noted():
    d = predictor_matrix_from_formula("y ~ x + (1 + x || school) + (1 | hood)", _pupils())
    assert d.random_slopes == {"school": ["x"]}
    assert any("uncorrelated (||)" in n for n in d.notes)


def test_single_grouping_factor_is_unchanged():
    X = _pupils()
    d = predictor_matrix_from_formula("y ~ x + (1 + x | school)", X)
    assert d.cluster == "school" and d.random_slopes is None
    assert d.methods["y"] == "2l.pmm"


def test_several_factors_bad_input():
    X = _pupils()
    X.loc[0, "hood"] = np.nan
    with pytest.raises(ValueError, match="grouping factor 'hood' has missing values"):
        predictor_matrix_from_formula("y ~ x + (1 | school) + (1 | hood)", X)
    with pytest.raises(ValueError, match=r"\['district'\] are not columns of X"):
        predictor_matrix_from_formula("y ~ x + (1 | school) + (1 | district)", _pupils())
    with pytest.raises(ValueError, match="is the outcome or a grouping factor"):
        predictor_matrix_from_formula("y ~ x + (1 | school) + (1 | hood)", _pupils(),
                                      auxiliary=["hood"])
