"""The collinearity check kept between visits agrees with the check from scratch."""

import numpy as np
import pandas as pd
import pytest

from skmice import MultilevelIterativeImputer
from skmice._collinear import ObservedGram
from skmice._data import decode, encode
from skmice._design import collinear_drops


def _design(rng, n=400):
    a = rng.normal(size=n)
    return np.column_stack([np.ones(n), a, rng.normal(size=n), rng.normal(size=n) * 1e6 + 3e9,
                            np.full(n, 2.5)])


def test_incremental_drops_match_full_check():
    rng = np.random.default_rng(0)
    X = _design(rng)
    y = rng.normal(size=X.shape[0])
    gram = ObservedGram(y)
    assert gram.drops(X, None, 1e-8, 0.999) == collinear_drops(X[:, 1:], y, 1e-8, 0.999)
    # column 2 becomes a copy of column 1, then the target; then nothing changes
    for values, changed in [(2 * X[:, 1] + 1, {2}), (y * 3.0, {2}), (None, set())]:
        if values is not None:
            X[:, 2] = values
        got = gram.drops(X, changed, 1e-8, 0.999)
        assert got == collinear_drops(X[:, 1:], y, 1e-8, 0.999)
    assert got[1] == "correlation with the target 1 >= max_corr"
    assert got[3] == "constant"
    # two columns rewritten at once: both rows (and their crossing) are recomputed
    X[:, 1], X[:, 3] = rng.normal(size=X.shape[0]), rng.normal(size=X.shape[0])
    X[:, 2] = X[:, 1] - 2 * X[:, 3]
    got = gram.drops(X, {1, 3, 2}, 1e-8, 0.999)
    assert got == collinear_drops(X[:, 1:], y, 1e-8, 0.999)
    assert "collinear with other predictors" in got.values()
    fresh = ObservedGram(y)
    fresh.drops(X, None, 1e-8, 0.999)
    np.testing.assert_allclose(gram._state[1], fresh._state[1], rtol=1e-9, atol=1e-6)


def test_unchanged_columns_are_not_read_again():
    rng = np.random.default_rng(1)
    X = _design(rng)
    y = rng.normal(size=X.shape[0])
    gram = ObservedGram(y)
    first = gram.drops(X, None, 1e-8, 0.999)
    X[:, 1] = X[:, 2]  # not reported as changed: the kept verdict stands
    assert gram.drops(X, set(), 1e-8, 0.999) == first
    assert gram.drops(X, {1}, 1e-8, 0.999) != first


def test_constant_target_drops_everything():
    X = _design(np.random.default_rng(2))
    assert set(ObservedGram(np.ones(X.shape[0])).drops(X, None, 1e-8, 0.9).values()) == {
        "the target is constant"}


def test_visits_log_the_same_drops_at_every_iteration():
    rng = np.random.default_rng(3)
    n = 300
    df = pd.DataFrame({"a": rng.normal(size=n), "c": np.ones(n)})
    df["b"] = df["a"] * 2 + rng.normal(size=n) * 0.1
    df.loc[rng.random(n) < 0.2, "a"] = np.nan
    df.loc[rng.random(n) < 0.2, "b"] = np.nan
    with pytest.warns(UserWarning, match="remove_collinear"):
        imp = MultilevelIterativeImputer(methods="norm", max_iter=3, random_state=0).fit(df)
    dropped = imp.log_[imp.log_["event"] == "predictors dropped"]
    assert sorted(dropped["iteration"].tolist()) == [1, 1, 2, 2, 3, 3]
    assert all("'c'" in d for d in dropped["detail"])


def test_decode_with_the_missing_mask_matches_decode_without():
    rng = np.random.default_rng(4)
    n = 50
    X = pd.DataFrame({"i": rng.integers(0, 9, n), "f": rng.normal(size=n) * 1e12,
                      "g": rng.integers(0, 3, n), "s": pd.Series(rng.choice(["u", "v"], n))})
    X["f32"] = rng.normal(size=n).astype(np.float32)
    X.loc[::4, "f"] = np.nan
    X.loc[1::5, "f32"] = np.nan
    X.loc[2::7, "s"] = None
    enc = encode(X, rescale=True, skip=[2])
    missing = np.isnan(enc.values)
    values = np.where(missing, 0.5, enc.values)
    values[4, 1] = np.nan  # a missing cell left missing
    fast, slow = decode(values, enc, X, missing), decode(values, enc, X)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert fast["f"].isna().sum() == 1 and fast["f32"].dtype == np.float32
