"""Hostile frames (the fuzzer's cases) through the imputer's output options.

Each case's frame (every pandas dtype, odd names, extreme scales) gets a
placeholder written into some observed cells, an entirely missing column, and
the options ``missing_values``, ``add_indicator``, ``drop_cluster`` and
``keep_empty_features`` drawn from its id. Checks: only ValueError/TypeError
that name a column or parameter; the input untouched; every cell that was
neither missing nor a placeholder unchanged; output columns equal to
``get_feature_names_out``; the indicators equal to the missingness.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tests._fuzz import make_case

CASES = range(400, 440)
MARK = -7777


def _with_placeholders(frame, rng, skip):
    """Copy of frame with MARK in some observed cells of its integer and float columns."""
    out = frame.copy(deep=True)
    hit = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    for j in range(frame.shape[1]):
        s = frame.iloc[:, j]
        if j == skip or pd.api.types.is_bool_dtype(s.dtype):
            continue
        numeric = pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(
            s.dtype, pd.CategoricalDtype)
        kind = getattr(s.dtype, "numpy_dtype", s.dtype)
        if not numeric or kind.kind == "u" or kind == np.float16 or (
                kind.kind == "i" and np.iinfo(kind).min > MARK):
            continue
        rows = np.flatnonzero(s.notna().to_numpy() & (rng.random(len(s)) < 0.2))
        if rows.size < len(s) - 2:
            out.iloc[rows, j] = MARK
            hit.iloc[rows, j] = True
    return out, hit


@pytest.mark.parametrize("case_id", CASES)
def test_options_on_hostile_frames(case_id):
    case = make_case(case_id)
    rng = np.random.default_rng(case_id)
    cl_pos = [c.kind for c in case.columns].index("cluster")
    frame, hit = _with_placeholders(case.frame, rng, cl_pos)
    frame = frame.assign(**{"all gone": np.nan})
    hit["all gone"] = False
    before = frame.copy(deep=True)
    keep_empty, indicator, drop = (bool(b) for b in rng.integers(0, 2, 3))
    from skmice import MultilevelIterativeImputer

    imp = MultilevelIterativeImputer(
        cluster=case.cluster, max_iter=1, random_state=case.seed, missing_values=MARK,
        keep_empty_features=keep_empty, add_indicator=indicator, drop_cluster=drop)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = imp.fit_transform(frame)
    except (ValueError, TypeError) as exc:
        names = [str(c) for c in frame.columns] + ["cluster", "missing_values"]
        assert any(n in str(exc) for n in names), f"{case.describe()}: {exc}"
        return
    pd.testing.assert_frame_equal(frame, before)
    if all(isinstance(c, str) for c in frame.columns):  # else sklearn's x0, x1, ...
        assert list(out.columns) == list(imp.get_feature_names_out()), case.describe()
    assert len(out.columns) == len(imp.get_feature_names_out())
    missing = frame.isna().to_numpy() | hit.to_numpy()
    out_cols = list(out.columns)
    for j, c in enumerate(frame.columns):
        if c not in out_cols:  # (labels such as tuples: looked up by position)
            assert missing[:, j].all() and not keep_empty or c == case.cluster and drop
            continue
        got, src = out.iloc[:, out_cols.index(c)], frame.iloc[:, j]
        keepers = ~missing[:, j]
        pd.testing.assert_series_equal(got[keepers], src[keepers], check_dtype=True,
                                       obj=f"{case.describe()} {c!r}")
        assert not (got.astype(object) == MARK).any(), (case.describe(), c)
    for j, c in enumerate(frame.columns):
        name = f"missingindicator_{c}"
        if indicator and missing[:, j].any():
            np.testing.assert_array_equal(out[name].to_numpy(), missing[:, j])
        else:
            assert name not in out_cols
