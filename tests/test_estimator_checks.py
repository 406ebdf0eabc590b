"""scikit-learn's estimator checks on the public estimators."""

import importlib.util

from sklearn.utils.estimator_checks import parametrize_with_checks

from skmice import MultilevelIterativeImputer, StatsmodelsClassifier, StatsmodelsRegressor

# Checks expected to fail, with the reason.
EXPECTED_FAILED_CHECKS = {
    # The check puts a dict into an object column and expects numpy's message
    # "argument must be a string or a number"; skmice raises a TypeError that
    # names the column and the value types it mixes instead (tested in
    # test_imputer.py::test_error_mixed_types_in_object_column).
    "check_dtype_object": "skmice's own error message names the column and its mixed types",
}

# The statsmodels adapters pass every check (StatsmodelsClassifier is tagged
# binary-only, so the checks give it two classes and verify that it refuses
# more); they need statsmodels (an optional dependency) to be fitted.
_STATSMODELS = (
    [StatsmodelsRegressor(), StatsmodelsClassifier(), StatsmodelsRegressor(fit_intercept=False)]
    if importlib.util.find_spec("statsmodels") is not None
    else []
)


def _expected_failed_checks(estimator):
    if isinstance(estimator, MultilevelIterativeImputer):
        return EXPECTED_FAILED_CHECKS
    return {}


@parametrize_with_checks(
    [
        MultilevelIterativeImputer(max_iter=2, random_state=0),
        MultilevelIterativeImputer(methods="norm", max_iter=2, visit_sequence="monotone",
                                   random_state=0),
        *_STATSMODELS,
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
