"""The fuzzer's hostile frames through SubstantiveModelImputer.

Each case of :func:`tests._fuzz.make_case` (every pandas dtype, odd names,
clusters of one row, missing cells of every kind) becomes an analysis model
over its columns with names a formula can hold. The imputer must either
refuse with a ValueError or TypeError naming a column or parameter, or
return the frame with the model's missing cells filled, the observed cells
unchanged bit for bit, the dtypes kept and the input untouched; the same
seed must give the same result. ``benchmarks/fuzz.py`` runs the long version
of the fuzzer; here 30 cases run by default.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from skmice import SubstantiveModelImputer
from tests._fuzz import frames_identical, make_case

N_CASES = 30


def _formula(case):
    names = [c for c in case.frame.columns
             if isinstance(c, str) and c.strip() and "`" not in c and c != case.cluster]
    cluster = case.cluster
    if len(names) < 2 or not isinstance(cluster, str) or not cluster.strip() or "`" in cluster:
        return None, None
    rng = np.random.default_rng(case.case_id)
    outcome = names[int(rng.integers(len(names)))]
    predictors = [n for n in names if n != outcome]
    rhs = " + ".join(f"`{n}`" for n in predictors)
    return f"`{outcome}` ~ {rhs} + (1 | `{case.cluster}`)", outcome


def _run(frame, formula, family):
    imp = SubstantiveModelImputer(formula, family=family, max_iter=4, transform_iter=2,
                                  random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return imp.fit_transform(frame)


def _observed_equal(before: pd.DataFrame, after: pd.DataFrame) -> str | None:
    for c in before.columns:
        obs = before[c].notna().to_numpy()
        problem = frames_identical(before.loc[obs, [c]], after.loc[obs, [c]])
        if problem:
            return f"{c!r}: {problem}"
    return None


@pytest.mark.parametrize("case_id", range(N_CASES))
def test_fuzz_case(case_id):
    case = make_case(case_id, base=21)
    formula, outcome = _formula(case)
    if formula is None:
        pytest.skip("no two columns with names a formula can hold")
    frame = case.frame
    before = frame.copy()
    results = {}
    for family in ("gaussian", "binomial"):
        try:
            results[family] = _run(frame, formula, family)
        except (ValueError, TypeError) as exc:
            msg = str(exc)
            assert msg and "Traceback" not in msg
            results[family] = exc
    assert frames_identical(frame, before) is None  # the input is untouched
    done = {f: r for f, r in results.items() if isinstance(r, pd.DataFrame)}
    for family, out in done.items():
        assert list(out.columns) == list(frame.columns)
        problem = _observed_equal(frame, out)
        assert problem is None, problem
        for c in frame.columns:
            assert out[c].dtype == frame[c].dtype or frame[c].isna().any(), c
        again = _run(frame, formula, family)
        pd.testing.assert_frame_equal(out, again)
