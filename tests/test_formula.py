"""Tests for skmice/_formula.py: the formula parser and predictor_matrix_from_formula."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skmice import MultilevelIterativeImputer, make_methods, predictor_matrix_from_formula
from skmice._formula import parse_formula
from skmice.datasets import make_popularity

POPULARITY = "popular ~ 1 + sex + texp + sex:texp + (1 + sex | school)"
HIV = "hiv ~ age + marital + condom + (1 | region)"
IMPACT = "mort ~ type + age + motor_score + pupil + ct + hypox + hypots + tsah + edh + (1 | name)"


# --------------------------------------------------------------------------- #
# Synthetic frames with the case studies' columns
# --------------------------------------------------------------------------- #
def _hiv_frame(n=600, seed=0):
    rng = np.random.default_rng(seed)
    region = np.repeat(np.arange(1, 10), n // 9)
    n = region.size
    d = pd.DataFrame(
        {
            "region": region,
            "hiv": (rng.random(n) < 0.13).astype(float),
            "age": rng.integers(15, 60, n).astype(float),
            "marital": pd.Categorical(rng.choice(["married", "never", "previously"], n)),
            "condom": (rng.random(n) < 0.4).astype(float),
            "smoke": (rng.random(n) < 0.2).astype(float),
        }
    )
    d.loc[rng.random(n) < 0.2, "hiv"] = np.nan
    return d


def _impact_frame(seed=0):
    rng = np.random.default_rng(seed)
    name = np.repeat([f"study{k}" for k in range(15)], 30)
    n = name.size
    study_type = np.repeat(rng.choice(["RCT", "OBS"], 15), 30)
    d = pd.DataFrame(
        {
            "name": name,
            "type": pd.Categorical(study_type),
            "age": rng.normal(35, 12, n),
            "motor_score": pd.Categorical(rng.choice(["1", "2", "3", "4", "5/6"], n)),
            "pupil": pd.Categorical(rng.choice(["both", "one", "none"], n)),
            "ct": pd.Categorical(rng.choice(["I", "II", "III", "IV"], n)),
            "hypox": rng.integers(0, 2, n).astype(float),
            "hypots": rng.integers(0, 2, n).astype(float),
            "tsah": rng.integers(0, 2, n).astype(float),
            "edh": rng.integers(0, 2, n).astype(float),
            "mort": rng.integers(0, 2, n).astype(float),
        }
    )
    for col, rate in [
        ("pupil", 0.1),
        ("ct", 0.24),
        ("hypox", 0.23),
        ("hypots", 0.12),
        ("tsah", 0.18),
        ("edh", 0.2),
    ]:
        d.loc[rng.random(n) < rate, col] = np.nan
    return d


# --------------------------------------------------------------------------- #
# Parser
# --------------------------------------------------------------------------- #
def test_parse_popularity():
    f = parse_formula(POPULARITY)
    assert f.outcome == "popular"
    assert f.intercept
    assert f.fixed == (("sex",), ("texp",), ("sex", "texp"))
    assert f.random == (("sex",),)
    assert f.random_intercept and f.cluster == "school" and f.correlated


def test_parse_star_expands_to_all_interactions():
    f = parse_formula("y ~ a * b * c")
    assert {frozenset(t) for t in f.fixed} == {
        frozenset(s) for s in ["a", "b", "c", "ab", "ac", "bc", "abc"]
    }
    assert f.cluster is None and not f.random_intercept


def test_parse_intercepts_and_double_bar():
    f = parse_formula("y ~ 0 + x + (0 + x || g)")
    assert not f.intercept and not f.random_intercept and not f.correlated
    assert f.random == (("x",),)
    assert not parse_formula("y ~ x - 1").intercept
    g = parse_formula("y ~ x + z - z + factor(w) + (1 | g)")
    assert g.fixed == (("x",), ("w",)) and g.random_intercept and g.random == ()


def test_parse_deduplicates_interactions_and_backticks():
    f = parse_formula("y ~ a:b + b:a + `odd name`")
    assert f.fixed == (("a", "b"), ("odd name",))


@pytest.mark.parametrize(
    "formula, match",
    [
        ("y ~ log(x)", "function log"),
        ("y ~ (a + b):c", "parentheses"),
        ("y ~ x + (1 | g/h)", "nested grouping"),
        ("y ~ x + (1 | g) + (1 | h)", "several grouping"),
        ("y ~ x +", "term is missing"),
        ("y ~ x + 2", "number 2"),
        ("y x", "expected '~'"),
        ("y ~ y + x", "outcome"),
        ("y ~ g + (1 | g)", "grouping factor"),
        ("y ~ (a + b)^2", "parentheses"),
        ("y ~ x $ z", "cannot read"),
    ],
)
def test_parse_errors(formula, match):
    with pytest.raises(ValueError, match=match):
        parse_formula(formula)


def test_parse_type_error():
    with pytest.raises(TypeError, match="formula"):
        parse_formula(3)


# --------------------------------------------------------------------------- #
# Popularity
# --------------------------------------------------------------------------- #
def _popularity():
    return make_popularity(n_schools=30, random_state=0).data.drop(columns="pupil")


def test_popularity_predictor_matrix():
    data = _popularity()
    d = predictor_matrix_from_formula(POPULARITY, data)
    pm = d.predictor_matrix
    assert d.cluster == "school"
    assert "sex_texp" in d.data and "sex_texp" not in data  # input untouched
    np.testing.assert_array_equal(d.data["sex_texp"], data["sex"] * data["texp"])
    assert pm.loc["popular"].to_dict() == {
        "school": -2,
        "popular": 0,
        "sex": 2,
        "texp": 1,
        "teachpop": 0,
        "sex_texp": 1,
    }
    # only popular is incomplete: every other row is zero
    assert (pm.drop(index="popular") == 0).all().all()
    assert d.methods == {
        "school": "",
        "popular": "2l.pmm",
        "sex": "",
        "texp": "",
        "teachpop": "",
        "sex_texp": "",
    }
    assert any("sex_texp" in n for n in d.notes)
    assert "FormulaDesign" in repr(d)


def test_popularity_auxiliary_and_cluster_means():
    data = _popularity()
    d = predictor_matrix_from_formula(POPULARITY, data, auxiliary=["teachpop"], cluster_means=True)
    row = d.predictor_matrix.loc["popular"]
    # sex unit level with a random slope: 4; texp cluster level: 1; teachpop unit level: 3
    assert (row["sex"], row["texp"], row["teachpop"], row["sex_texp"]) == (4, 1, 3, 1)


def test_popularity_design_runs_in_the_imputer():
    d = predictor_matrix_from_formula(POPULARITY, _popularity(), auxiliary=["teachpop"])
    imp = MultilevelIterativeImputer(
        cluster=d.cluster,
        methods=d.methods,
        predictor_matrix=d.predictor_matrix,
        max_iter=2,
        random_state=0,
    )
    out = imp.fit_transform(d.data)
    assert not out["popular"].isna().any()


def test_incomplete_interaction_note_and_jav():
    data = _popularity()
    data.loc[data.index[::7], "sex"] = np.nan
    d = predictor_matrix_from_formula(POPULARITY, data)
    assert "sex_texp" not in d.data
    assert any("just another variable" in n and "passive" in n for n in d.notes)
    # sex is incomplete, has a random slope: the outcome gets 2 in its row
    assert d.predictor_matrix.loc["sex", "popular"] == 2
    assert d.predictor_matrix.loc["sex", "school"] == -2
    j = predictor_matrix_from_formula(POPULARITY, data, jav=True)
    assert j.data["sex_texp"].isna().sum() == data["sex"].isna().sum()
    assert j.methods["sex_texp"] == make_methods(j.data, cluster="school")["sex_texp"] != ""
    assert j.predictor_matrix.loc["sex_texp", "popular"] == 1
    assert j.predictor_matrix.loc["popular", "sex_texp"] == 1


def test_cluster_level_target_and_random_slope_on_cluster_variable():
    data = _popularity()
    data.loc[data["school"] <= 3, "texp"] = np.nan  # whole schools
    d = predictor_matrix_from_formula("popular ~ sex + texp + (1 + texp | school)", data)
    assert d.methods["texp"] == "2lonly.pmm"
    assert d.predictor_matrix.loc["popular", "texp"] == 1  # no random slope possible
    assert d.predictor_matrix.loc["texp"].to_dict() == {
        "school": -2,
        "popular": 1,
        "sex": 1,
        "texp": 0,
        "teachpop": 0,
    }
    assert any("cannot have a random slope" in n for n in d.notes)
    assert any("cluster-level method" in n for n in d.notes)


# --------------------------------------------------------------------------- #
# HIV: binary outcome, exclusion restriction
# --------------------------------------------------------------------------- #
def test_hiv_exclusion_restriction():
    data = _hiv_frame()
    d = predictor_matrix_from_formula(HIV, data, exclusion=["smoke"])
    row = d.predictor_matrix.loc["hiv"]
    assert row.to_dict() == {
        "region": -2,
        "hiv": 0,
        "age": 1,
        "marital": 1,
        "condom": 1,
        "smoke": -3,
    }
    assert d.methods["hiv"] == make_methods(data, cluster="region")["hiv"]
    assert any("2l.heckman" in n for n in d.notes)
    # without the exclusion, smoke is not used at all
    plain = predictor_matrix_from_formula(HIV, data)
    assert plain.predictor_matrix.loc["hiv", "smoke"] == 0
    if plain.methods["hiv"] != "2l.bin":  # make_methods' choice for a binary column
        assert any("binary" in n and "2l.bin" in n for n in plain.notes)


# --------------------------------------------------------------------------- #
# IMPACT: many incomplete categorical and binary covariates, a study-level type
# --------------------------------------------------------------------------- #
def test_impact_rows_for_every_incomplete_covariate():
    data = _impact_frame()
    d = predictor_matrix_from_formula(IMPACT, data)
    pm = d.predictor_matrix
    covariates = ["type", "age", "motor_score", "pupil", "ct", "hypox", "hypots", "tsah", "edh"]
    assert (pm.loc["mort", covariates] == 1).all() and pm.loc["mort", "name"] == -2
    for t in ["pupil", "ct", "hypox", "hypots", "tsah", "edh"]:
        assert pm.loc[t, "mort"] == 1 and pm.loc[t, "name"] == -2
        assert pm.loc[t, t] == 0
        assert (pm.loc[t, [c for c in covariates if c != t]] == 1).all()
    defaults = make_methods(data, cluster="name")
    for t in ["pupil", "ct", "hypox", "hypots", "tsah", "edh"]:
        assert d.methods[t] == defaults[t] != ""
    assert (pm.loc[["name", "type", "age", "motor_score"]] == 0).all().all()
    assert d.methods["mort"] == ""  # complete outcome


def test_impact_categorical_interaction_products():
    data = _impact_frame()
    d = predictor_matrix_from_formula("mort ~ age * motor_score + (1 | name)", data)
    added = [c for c in d.data.columns if c not in data.columns]
    assert added == [
        "age_motor_score2",
        "age_motor_score3",
        "age_motor_score4",
        "age_motor_score5/6",
    ]
    expected = data["age"] * (data["motor_score"] == "3")
    np.testing.assert_allclose(d.data["age_motor_score3"], expected)


# --------------------------------------------------------------------------- #
# Errors and single level
# --------------------------------------------------------------------------- #
def test_single_level_formula():
    data = _hiv_frame()
    d = predictor_matrix_from_formula("hiv ~ age + condom", data, auxiliary="smoke")
    assert d.cluster is None
    assert d.predictor_matrix.loc["hiv"].to_dict() == {
        "region": 0,
        "hiv": 0,
        "age": 1,
        "marital": 0,
        "condom": 1,
        "smoke": 1,
    }
    assert d.methods["hiv"] == make_methods(data)["hiv"] == "pmm"  # 0/1 floats, as R


def test_errors():
    data = _hiv_frame()
    with pytest.raises(ValueError, match="not columns of X"):
        predictor_matrix_from_formula("hiv ~ income + (1 | region)", data)
    with pytest.raises(ValueError, match="auxiliary"):
        predictor_matrix_from_formula(HIV, data, auxiliary=["nope"])
    with pytest.raises(ValueError, match="outcome or the cluster"):
        predictor_matrix_from_formula(HIV, data, exclusion=["region"])
    with pytest.raises(TypeError, match="DataFrame"):
        predictor_matrix_from_formula(HIV, data.to_numpy())
    bad = data.copy()
    bad.loc[0, "region"] = np.nan
    with pytest.raises(ValueError, match="grouping factor"):
        predictor_matrix_from_formula(HIV, bad)
