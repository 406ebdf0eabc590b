"""Tests for skmice.mixed._model_frame: formulas and design matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skmice.mixed import build_design, parse_mixed_formula


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    n = 24
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.normal(size=n),
        "w": rng.normal(size=n),
        "f": np.array(["b", "a", "c"])[np.arange(n) % 3],
        "flag": (np.arange(n) % 2).astype(bool),
        "g": np.repeat(["s2", "s1", "s3", "s4"], 6),
    })


def test_parse_keeps_random_parts_apart():
    f = parse_mixed_formula("y ~ x + (1 | g) + (0 + x | g)")
    assert [(r.terms, r.intercept, r.group) for r in f.random] == [
        ((), True, "g"), ((("x",),), False, "g")]
    assert f.groups == ["g"]


def test_parse_orders_terms_by_degree():
    f = parse_mixed_formula("y ~ x:w + x + (1 | g)")
    assert f.fixed == (("x",), ("x", "w"))


@pytest.mark.parametrize("formula, message", [
    ("y ~ x", "no random part"),
    ("y ~ y + (1 | g)", "outcome"),
    ("y ~ g + (1 | g)", "grouping factor"),
    ("y ~ x + (1 | g/h:k)", "not both"),
    ("y ~ x + (1 | g/)", "expected 'name'"),
    ("y ~ log(x) + (1 | g)", "function"),
])
def test_parse_errors(formula, message):
    with pytest.raises(ValueError, match=message):
        parse_mixed_formula(formula)


def test_parse_needs_a_string():
    with pytest.raises(TypeError):
        parse_mixed_formula(3)


@pytest.mark.parametrize("formula, names", [
    ("y ~ x * w + (1 | g)", ["Intercept", "x", "w", "x:w"]),
    ("y ~ f + x + (1 | g)", ["Intercept", "f[T.b]", "f[T.c]", "x"]),
    ("y ~ 0 + f + x + (1 | g)", ["f[a]", "f[b]", "f[c]", "x"]),
    ("y ~ f * x + (1 | g)", ["Intercept", "f[T.b]", "f[T.c]", "x", "f[T.b]:x", "f[T.c]:x"]),
    # R's margin rule: without the main effect of f, f:x uses every level
    ("y ~ x + f:x + (1 | g)", ["Intercept", "x", "f[T.b]:x", "f[T.c]:x"]),
    ("y ~ w + f:x + (1 | g)", ["Intercept", "w", "f[a]:x", "f[b]:x", "f[c]:x"]),
    ("y ~ flag + (1 | g)", ["Intercept", "flag[T.True]"]),
    ("y ~ 1 + (1 | g)", ["Intercept"]),
])
def test_fixed_names(frame, formula, names):
    design = build_design(formula, frame)
    assert design.fixed_names == names
    assert design.X.shape == (len(frame), len(names))


def test_dummies_and_products(frame):
    design = build_design("y ~ f * x + (1 | g)", frame)
    X = pd.DataFrame(design.X, columns=design.fixed_names)
    np.testing.assert_array_equal(X["f[T.b]"], (frame["f"] == "b").astype(float))
    np.testing.assert_array_equal(X["f[T.c]:x"], (frame["f"] == "c") * frame["x"])


def test_random_factor(frame):
    design = build_design("y ~ x + (1 + x | g) ", frame)
    (factor,) = design.factors
    assert factor.names == ["Intercept", "x"] and factor.blocks == [2]
    assert factor.levels.tolist() == ["s1", "s2", "s3", "s4"]  # sorted
    np.testing.assert_array_equal(factor.codes[:6], 1)
    np.testing.assert_array_equal(factor.Z[:, 1], frame["x"])


@pytest.mark.parametrize("formula, names, blocks", [
    ("y ~ x + (1 | g)", ["Intercept"], [1]),
    ("y ~ x + (0 + x | g)", ["x"], [1]),
    ("y ~ x + (x | g)", ["Intercept", "x"], [2]),
    ("y ~ x + (1 + x || g)", ["Intercept", "x"], [1, 1]),
    ("y ~ x + (1 | g) + (0 + x + w | g)", ["Intercept", "x", "w"], [1, 2]),
])
def test_random_blocks(frame, formula, names, blocks):
    (factor,) = build_design(formula, frame).factors
    assert factor.names == names and factor.blocks == blocks


def test_incomplete_rows_are_dropped(frame):
    frame.loc[[0, 5], "x"] = np.nan
    frame.loc[7, "y"] = np.nan
    frame.loc[9, "f"] = None  # not in the formula below: ignored
    design = build_design("y ~ x + (1 | g)", frame)
    assert design.n_obs == len(frame) - 3
    assert not design.rows[[0, 5, 7]].any() and design.rows[9]


def test_unused_levels_are_dropped(frame):
    frame["f"] = pd.Categorical(frame["f"], categories=["a", "b", "c", "z"])
    assert build_design("y ~ f + (1 | g)", frame).fixed_names == [
        "Intercept", "f[T.b]", "f[T.c]"]


def test_two_grouping_factors_are_designed(frame):
    frame["h"] = np.arange(len(frame)) % 2
    design = build_design("y ~ x + (1 | g) + (1 | h)", frame)
    assert [f.name for f in design.factors] == ["g", "h"]


@pytest.mark.parametrize("change, error, message", [
    (lambda d: d.drop(columns="w"), ValueError, "not columns"),
    (lambda d: d.assign(y=d["f"]), ValueError, "must be numeric"),
    (lambda d: d.assign(y=np.nan), ValueError, "no row is complete"),
])
def test_design_errors(frame, change, error, message):
    with pytest.raises(error, match=message):
        build_design("y ~ x + w + (1 | g)", change(frame))


def test_design_needs_a_dataframe(frame):
    with pytest.raises(TypeError, match="DataFrame"):
        build_design("y ~ x + (1 | g)", frame.to_numpy())

