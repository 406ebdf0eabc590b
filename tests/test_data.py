import numpy as np
import pandas as pd
import pytest

from skmice._data import decode, encode


def test_roundtrip_keeps_dtypes_and_values():
    X = pd.DataFrame({
        "f32": np.array([1.5, np.nan, 2.25], dtype=np.float32),
        "i": [1, 2, 3],
        "I": pd.array([1, None, 3], dtype="Int64"),
        "b": [True, False, True],
        "B": pd.array([True, None, False], dtype="boolean"),
        "c": pd.Categorical(["x", None, "y"], categories=["y", "x", "z"]),
        "s": ["NA", None, "null"],
    }, index=["r1", "r2", "r3"])
    enc = encode(X)
    assert enc.infos[5].categories.tolist() == ["y", "x", "z"]
    assert enc.values[0, 5] == 1.0 and enc.values[2, 5] == 0.0
    assert enc.infos[6].categories.tolist() == ["NA", "null"]
    filled = np.where(np.isnan(enc.values), 0.0, enc.values)
    out = decode(filled, enc, X)
    assert out.index.equals(X.index)
    for col in X.columns:
        assert out[col].dtype == X[col].dtype, col
    assert out.loc["r1", "s"] == "NA" and out.loc["r2", "s"] == "NA"
    assert out.loc["r2", "c"] == "y"


def test_transform_coding_reuses_fit_categories_and_rejects_new_ones():
    fit = encode(pd.DataFrame({"s": ["a", "b", None]}))
    again = encode(pd.DataFrame({"s": ["b", None, "b"]}), infos=fit.infos)
    assert again.values[0, 0] == 1.0
    with pytest.raises(ValueError, match="'s' has categories not seen in fit: \\['c'\\]"):
        encode(pd.DataFrame({"s": ["c", "a", None]}), infos=fit.infos)


@pytest.mark.parametrize("bad,exc,match", [
    (pd.DataFrame({"a": [1, 2]}).rename(columns={"a": "x"}).assign(y=1).set_axis(["x", "x"],
     axis=1), ValueError, "duplicate column names"),
    (pd.Series([1.0, 2.0]), TypeError, "Series"),
    (np.ones(3), ValueError, "Reshape"),
    (pd.DataFrame({"z": [1 + 2j, None]}), TypeError, "'z'"),
])
def test_bad_inputs(bad, exc, match):
    with pytest.raises(exc, match=match):
        encode(bad)


def test_object_column_of_numbers_keeps_its_dtype_and_observed_objects():
    from skmice import MultilevelIterativeImputer

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"g": np.repeat(np.arange(6), 10), "x": rng.standard_normal(60)})
    X["x"] = X["x"].astype(object)
    X.loc[3, "x"] = 7  # an int among floats
    X.loc[rng.random(60) < 0.2, "x"] = None
    out = MultilevelIterativeImputer(cluster="g", random_state=0, max_iter=2).fit_transform(X)
    assert out["x"].dtype == object and out["x"].notna().all()
    obs = X["x"].notna()
    assert all(type(a) is type(b) and a == b for a, b in zip(X.loc[obs, "x"], out.loc[obs, "x"]))
    assert type(out.loc[3, "x"]) is int


def test_scaling_never_makes_subnormals():
    """A column spanning more than the double range is scaled down only as far as its
    smallest magnitude stays normal, so donors are copied back exactly."""
    import pandas as pd

    from skmice import MultilevelIterativeImputer, multiple_impute
    from skmice._data import _scale_exponent

    x = np.array([2966339250.5319886, -1.513114094519371e-54, 2.5176550368012148e284, np.nan,
                  4.704165785945002e-36, 5.741207809849064e136, -4.383940548913319e153])
    e = _scale_exponent(x)
    scaled = np.ldexp(x[~np.isnan(x)], -e)
    assert e > 0 and np.all(np.abs(scaled) >= np.finfo(float).tiny)
    np.testing.assert_array_equal(np.ldexp(scaled, e), x[~np.isnan(x)])
    X = pd.DataFrame({"g": ["s00", "s00", "s02", "s03", "s00", "s03", "s00"],
                      "x1": pd.Series(x, dtype="Float64")})
    mi = multiple_impute(X, MultilevelIterativeImputer(cluster="g", max_iter=2,
                                                       random_state=7005034),
                         n_imputations=2, n_jobs=1, random_state=7005034)
    for k in (1, 2):  # (0 is the data as given)
        assert mi.complete(k).loc[3, "x1"] in set(x[~np.isnan(x)])


def test_column_beyond_double_range_is_refused_by_name():
    import pandas as pd

    from skmice import MultilevelIterativeImputer

    X = pd.DataFrame({"v": [-9.27e-196, 1.34e268, 8.7e-208, np.nan], "g": [1, 1, 2, 2]})
    with pytest.raises(ValueError, match="'v' spans too many orders of magnitude"):
        MultilevelIterativeImputer(cluster="g", max_iter=1).fit_transform(X)
    with pytest.raises(ValueError, match="spans too many orders"):
        MultilevelIterativeImputer(max_iter=1).fit_transform(X[["v"]].to_numpy())
