"""MultipleImputationPipeline: m imputations, m analysis models, pooled predictions.

The pipeline is a scikit-learn meta-estimator. ``fit`` runs m independent
imputation chains (clones of the imputer with seeds spawned from
``random_state``), each followed by its own clone of the estimator fitted on
that chain's completed data; the m (imputer, estimator) pairs are fanned out
with joblib, so any joblib backend (loky processes, threads, a Dask cluster)
runs them. ``predict`` imputes new rows with every fitted imputer (transform,
no refit), predicts with its estimator, and pools the m predictions.

:class:`StatsmodelsRegressor` and :class:`StatsmodelsClassifier` are small
scikit-learn wrappers of statsmodels' OLS and Logit: used as the pipeline's
estimator they give the pooled coefficients full Rubin's rules (standard
errors, degrees of freedom, fraction of missing information).
"""

from __future__ import annotations

import contextlib
import numbers
import threading

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    RegressorMixin,
    clone,
    is_classifier,
)
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data
from threadpoolctl import ThreadpoolController

from ._design import make_methods
from ._imputer import MultilevelIterativeImputer
from ._progress import Progress as _Progress
from ._random import spawn_seeds

__all__ = ["MultipleImputationPipeline", "StatsmodelsClassifier", "StatsmodelsRegressor"]

#: Name of the outcome column added to the imputation data by ``include_target=True``.
TARGET_COLUMN = "__target__"

_POOL_PREDICTIONS = ("mean", "median")
_PER_IMPUTATION_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function")


# ---------------------------------------------------------------------------
# helpers run on the workers (plain functions: cheap to pickle)
# ---------------------------------------------------------------------------


def _estimator_seed(seed: int) -> int:
    """A 32-bit seed for the estimator clone, independent of the imputer's stream.

    The imputer consumes the first two children of ``SeedSequence(seed)``;
    the estimator gets the third, so both are fixed by ``seed`` alone.
    """
    child = np.random.SeedSequence(seed).spawn(3)[2]
    return int(child.generate_state(1, dtype=np.uint32)[0])


def _seed_unset_random_states(estimator, seed: int):
    """Give every ``random_state`` parameter left at None the integer ``seed``.

    An estimator's explicit ``random_state`` is kept; only the unset ones
    (which would draw fresh entropy) are fixed, so the pipeline is
    reproducible from its own ``random_state``.
    """
    unset = {
        key: seed
        for key, value in estimator.get_params(deep=True).items()
        if (key == "random_state" or key.endswith("__random_state")) and value is None
    }
    if unset:
        estimator.set_params(**unset)
    return estimator


def _drop_columns(X, drop):
    """Remove the columns at positions ``drop`` (a DataFrame keeps its other labels)."""
    if not drop:
        return X
    if isinstance(X, pd.DataFrame):
        return X.drop(columns=X.columns[list(drop)])
    return np.delete(np.asarray(X), list(drop), axis=1)


_BLAS_LOCK = threading.Lock()
_BLAS_STATE: dict = {"users": 0, "limiter": None, "controller": None}


@contextlib.contextmanager
def _one_blas_thread():
    """Run the body with a single BLAS thread.

    The parallelism is across imputations; within a task, BLAS stays on one
    thread whatever the backend (the main process for ``n_jobs=1``, loky
    workers, Dask workers), so that sums are always taken in the same order
    and the results are bitwise identical across backends (a multithreaded
    BLAS changes the last bits of, e.g., a logistic regression's
    coefficients) and workers do not oversubscribe the cores. The setting is
    process-wide: concurrent tasks in threads share it, reference-counted, and
    the last one out restores the original limits.
    """
    with _BLAS_LOCK:
        if _BLAS_STATE["users"] == 0:
            if _BLAS_STATE["controller"] is None:
                _BLAS_STATE["controller"] = ThreadpoolController()
            _BLAS_STATE["limiter"] = _BLAS_STATE["controller"].limit(limits=1, user_api="blas")
        _BLAS_STATE["users"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_STATE["users"] -= 1
            if _BLAS_STATE["users"] == 0:
                _BLAS_STATE["limiter"].restore_original_limits()
                _BLAS_STATE["limiter"] = None


def _fit_pair(imputer, estimator, X, y, seed, drop, fit_params, hook=None):
    """Fit one imputation chain and its estimator; return the fitted pair.

    Runs on a joblib worker. The completed training data stays on the
    worker: only the two fitted models travel back. ``hook`` (sequential
    runs only) is called after every iteration of the chain, for progress.
    """
    imp = clone(imputer)
    if "random_state" in imp.get_params(deep=False):
        own = seed if isinstance(imp, MultilevelIterativeImputer) else _estimator_seed(seed + 1)
        imp.set_params(random_state=own)
    est = _seed_unset_random_states(clone(estimator), _estimator_seed(seed))
    if hook is not None:
        imp._iteration_hook = hook
    try:
        with _one_blas_thread():
            completed = imp.fit_transform(X)
            est.fit(_drop_columns(completed, drop), y, **fit_params)
    finally:
        if hook is not None:
            del imp._iteration_hook
    return imp, est


def _apply_pair(imputer, estimator, X, drop, method):
    """Impute X with one fitted chain (no refit) and call ``estimator.<method>``."""
    with _one_blas_thread():
        completed = imputer.transform(X)
        return np.asarray(getattr(estimator, method)(_drop_columns(completed, drop)))


# ---------------------------------------------------------------------------
# the outcome as an imputation predictor
# ---------------------------------------------------------------------------


def _cluster_label(imputer, columns, is_frame):
    """The label (frame) or position (array) of the imputer's cluster column, or None."""
    params = imputer.get_params(deep=False)
    cluster = params.get("cluster")
    if cluster is None:
        return None
    if cluster in list(columns):
        return cluster
    if not is_frame and isinstance(cluster, numbers.Integral) and 0 <= cluster < len(columns):
        return int(cluster)
    return None  # the imputer reports the bad value when it is fitted


def _extend_predictor_matrix(pm, columns, target, cluster):
    """Add the outcome to a user predictor matrix.

    The outcome predicts every imputed target (a row with a non-zero entry)
    as a fixed effect, and is itself imputed (at predict time) from every
    other column, the cluster column as the cluster id (-2).
    """
    if isinstance(pm, pd.DataFrame):
        out = pm.copy()
        out[target] = (out != 0).any(axis=1).astype(int)
        row = pd.Series(1, index=out.columns, dtype=int)
        row[target] = 0
        if cluster is not None and cluster in row.index:
            row[cluster] = -2
        out.loc[target] = row
        return out
    arr = np.asarray(pm)
    p = len(columns) - 1
    if arr.shape != (p, p):
        return pm  # let the imputer report the wrong shape
    out = np.zeros((p + 1, p + 1), dtype=int)
    out[:p, :p] = arr
    out[:p, p] = (arr != 0).any(axis=1)
    out[p, :p] = 1
    if cluster is not None:
        out[p, cluster] = -2
    return out


def _imputer_with_target(imputer, X_aug, target):
    """The imputer to run on X with the outcome column ``target`` appended.

    The outcome column is complete in fit, so the imputer would give it no
    method when ``methods`` is a string or a dict (only incomplete columns
    get one); it needs one to impute the outcome (all missing) at predict
    time. A user predictor matrix gets a row and a column for the outcome.
    """
    if not isinstance(imputer, MultilevelIterativeImputer):
        return imputer
    is_frame = isinstance(X_aug, pd.DataFrame)
    frame = X_aug if is_frame else pd.DataFrame(X_aug)
    cluster = _cluster_label(imputer, frame.columns, is_frame)
    params = {}
    methods = imputer.methods
    if methods is not None:
        if isinstance(methods, str):
            incomplete = frame.columns[frame.isna().to_numpy().any(axis=0)]
            methods = {c: methods for c in incomplete if c != cluster}
        if isinstance(methods, dict) and target not in methods:
            default = make_methods(
                frame[[c for c in (cluster, target) if c is not None]],
                cluster=cluster,
                include_complete=True,
            )[target]
            methods = {**methods, target: default}
        params["methods"] = methods
    if imputer.predictor_matrix is not None:
        params["predictor_matrix"] = _extend_predictor_matrix(
            imputer.predictor_matrix, list(frame.columns), target, cluster
        )
    return clone(imputer).set_params(**params) if params else imputer


# ---------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------


def _run_parallel(tasks: list, n_jobs, progress: _Progress | None, steps: int = 1):
    """Run joblib tasks, updating ``progress`` by ``steps`` as each result arrives."""
    if progress is None:
        return Parallel(n_jobs=n_jobs)(tasks)
    try:
        parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    except ValueError:  # a backend that cannot stream results (multiprocessing)
        out = Parallel(n_jobs=n_jobs)(tasks)
        for _ in out:
            progress.update(steps)
        progress.close()
        return out
    out = []
    try:
        for result in parallel(tasks):
            out.append(result)
            progress.update(steps)
    finally:
        progress.close()
    return out


# ---------------------------------------------------------------------------
# the pipeline
# ---------------------------------------------------------------------------


def _final_step(estimator):
    """The model that holds the coefficients (the last step of a Pipeline)."""
    return estimator[-1] if isinstance(estimator, Pipeline) else estimator


def _estimator_has(attr):
    """For available_if: the fitted (or unfitted) estimator has ``attr``."""

    def check(self):
        if hasattr(self, "estimators_"):
            return hasattr(self.estimators_[0], attr)
        return hasattr(self.estimator, attr)

    return check


class MultipleImputationPipeline(MetaEstimatorMixin, BaseEstimator):
    """Multiple imputation, then an estimator per imputation, with pooled predictions.

    ``fit`` runs ``n_imputations`` independent clones of ``imputer`` on X
    (seeds spawned from ``random_state``) and fits a clone of ``estimator``
    on each completed dataset. ``predict`` completes new data with every
    fitted imputer (``transform``: no refit; new clusters get random effects
    drawn from their posterior) and pools the m predictions: their mean
    (regression) or the argmax of the mean class probabilities
    (classification). The m pairs run in parallel through joblib, on
    whatever backend is active, so ``with joblib.parallel_backend("dask"):``
    runs them on a Dask cluster.

    It is a scikit-learn estimator: it clones, exposes nested parameters
    (``imputer__max_iter``, ``estimator__C``), and works in
    :func:`~sklearn.model_selection.cross_val_score` (with
    :class:`~sklearn.model_selection.GroupKFold` on the cluster column) and
    :class:`~sklearn.model_selection.GridSearchCV`.

    Parameters
    ----------
    imputer : MultilevelIterativeImputer or transformer
        The imputation model, cloned m times; its ``random_state`` is
        replaced by one seed per imputation. Any transformer with
        ``fit_transform`` and ``transform`` works (e.g.
        :class:`sklearn.impute.IterativeImputer` with
        ``sample_posterior=True``).
    estimator : estimator
        The analysis or prediction model, cloned and fitted on each completed
        dataset. A :class:`sklearn.pipeline.Pipeline` is fine.
    n_imputations : int, default=5
        Number of imputations m.
    n_jobs : int, default=None
        Number of (imputer, estimator) pairs fitted or applied at once by
        joblib. None means 1 unless in a :func:`joblib.parallel_backend`
        context; -1 means all processors.
    random_state : None, int, SeedSequence or Generator, default=None
        Seeds the m chains (:class:`numpy.random.SeedSequence` spawning, as
        :func:`~skmice.multiple_impute`: the same seed gives the same chains
        there and here). Estimator clones whose ``random_state`` is None get
        a seed derived from it too. The results do not depend on ``n_jobs``
        or on the joblib backend.
    pool_predictions : {"mean", "median"}, default="mean"
        How the m predictions are combined: elementwise mean or median of
        the predictions (regression), of the class probabilities
        (classification; the median is renormalised to sum to one) and of
        the decision function.
    drop_cluster : bool, default=True
        Remove the imputer's cluster column from the completed data before
        the estimator sees it: a cluster id is a label, not a feature, and
        test data usually come from new clusters. False passes it on (for an
        estimator that encodes or uses it itself).
    include_target : bool, default=False
        Add ``y`` as a column of the data imputed in ``fit``, so that the
        imputation model contains the outcome (see Notes). At predict time
        the outcome is unknown: the column is added as entirely missing,
        imputed along with the predictors, and dropped.
    verbose : int, default=0
        0 silent; 1 shows a progress bar over the imputations in ``fit``
        (tqdm when installed, one line per imputation on stderr otherwise).
        Progress within a chain (its iterations) is the imputer's own
        ``verbose``.

    Attributes
    ----------
    imputers_ : list of fitted imputers
        The m imputation chains.
    estimators_ : list of fitted estimators
        The m estimators, ``estimators_[k]`` fitted on the data completed by
        ``imputers_[k]``.
    classes_ : ndarray of shape (n_classes,)
        The class labels (classifiers only).
    pooled_coef_ : ndarray
        Mean of the m estimators' ``coef_`` (when they have one; the last
        step's for a Pipeline). Standard errors: :meth:`pool`.
    pooled_intercept_ : float or ndarray
        Mean of the m ``intercept_`` (when they have one).
    n_features_in_ : int
        Number of columns of X in fit.
    feature_names_in_ : ndarray of str
        Column names of X in fit (when X is a DataFrame with string names).

    See Also
    --------
    skmice.multiple_impute : the m completed datasets themselves, for analysis and pooling.
    skmice.MultilevelIterativeImputer : the imputation model.

    Notes
    -----
    *Proper use of multiple imputation for prediction.* Each of the m
    estimators is fitted on one completed dataset; the imputation of a new
    row uses the imputation model fitted in ``fit``, never the new data's
    own fit, so no information from a test fold leaks into training. The
    pooled prediction averages over the uncertainty about the missing
    values; :meth:`predict_std` measures it (the between-imputation spread).

    *The outcome in the imputation model* (``include_target=True``). An
    imputation model must be at least as rich as the analysis model (it must
    be "congenial", Meng 1994): the outcome belongs in it. Imputing the
    predictors without the outcome draws them independent of the outcome
    given the other predictors, which biases the fitted associations of the
    incomplete predictors towards zero (Moons et al. 2006). At predict time
    the outcome is unknown: the fitted imputation model treats it as one
    more missing column, so the predictors of a new row are drawn from the
    same joint model with the outcome integrated out (the chain draws the
    outcome and the missing predictors in turn; the outcome draws are then
    discarded). The test outcome is never used. With the default
    ``include_target=False`` the outcome plays no part in the imputation:
    use it when the outcome is absent from the imputation on purpose, or
    when X already holds it.

    *Coefficients.* :meth:`pool` and :meth:`summary` combine the m fits by
    Rubin's rules when the estimator reports a covariance matrix
    (:class:`StatsmodelsRegressor`, :class:`StatsmodelsClassifier`); a
    scikit-learn estimator reports none, and then only the mean and the
    between-imputation variance are given.

    *Randomness and parallelism.* Every chain, and the estimator clones with
    an unset ``random_state``, are seeded from ``random_state`` before the
    work is scheduled, and every task runs with a single BLAS thread (the
    parallelism is across imputations), so ``n_jobs=1``, ``n_jobs=2`` and a
    Dask cluster give bitwise identical fitted models and predictions. The imputation of new rows is
    reproducible for the same input; it depends on the whole batch (the
    draws of one row depend on the rows imputed with it), so predicting rows
    one at a time gives other draws than predicting them together.

    References
    ----------
    Moons, K. G. M., Donders, R. A. R. T., Stijnen, T. and Harrell, F. E. (2006).
    Using the outcome for imputation of missing predictor values was
    preferred. Journal of Clinical Epidemiology 59, 1092-1101.

    Meng, X.-L. (1994). Multiple-imputation inferences with uncongenial
    sources of input. Statistical Science 9, 538-558.

    Rubin, D. B. (1987). Multiple Imputation for Nonresponse in Surveys. Wiley.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skmice import MultilevelIterativeImputer, MultipleImputationPipeline
    >>> from skmice.datasets import make_clustered_regression
    >>> b = make_clustered_regression(600, 30, random_state=0)
    >>> X = b.data.drop(columns="y2")
    >>> y = (b.complete["y2"] > b.complete["y2"].median()).astype(int)
    >>> pipe = MultipleImputationPipeline(
    ...     MultilevelIterativeImputer(cluster="cluster", max_iter=3),
    ...     LogisticRegression(), n_imputations=3, random_state=0,
    ...     include_target=True)
    >>> pipe.fit(X, y).predict_proba(X[:2]).shape
    (2, 2)
    >>> pipe.predict_all(X[:4]).shape   # the m predictions
    (3, 4)
    >>> bool(pipe.score(X, y) > 0.6)
    True
    """

    def __init__(
        self,
        imputer,
        estimator,
        n_imputations=5,
        n_jobs=None,
        random_state=None,
        pool_predictions="mean",
        drop_cluster=True,
        include_target=False,
        verbose=0,
    ):
        self.imputer = imputer
        self.estimator = estimator
        self.n_imputations = n_imputations
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.pool_predictions = pool_predictions
        self.drop_cluster = drop_cluster
        self.include_target = include_target
        self.verbose = verbose

    # ------------------------------------------------------------------ #
    # scikit-learn plumbing
    # ------------------------------------------------------------------ #
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        est_tags = get_tags(self.estimator)
        tags.estimator_type = est_tags.estimator_type
        tags.classifier_tags = est_tags.classifier_tags
        tags.regressor_tags = est_tags.regressor_tags
        tags.target_tags.required = True
        tags.target_tags.multi_output = est_tags.target_tags.multi_output
        tags.input_tags.allow_nan = True
        return tags

    def _validate_params(self):
        n = self.n_imputations
        if not isinstance(n, numbers.Integral) or isinstance(n, bool):
            raise TypeError(f"n_imputations must be an int, got {type(n).__name__}.")
        if n < 1:
            raise ValueError(f"n_imputations must be >= 1, got {n}.")
        if self.pool_predictions not in _POOL_PREDICTIONS:
            raise ValueError(
                f"pool_predictions must be one of {_POOL_PREDICTIONS}, "
                f"got {self.pool_predictions!r}."
            )
        for name in ("drop_cluster", "include_target"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}.")
        if not isinstance(self.verbose, numbers.Integral):
            raise TypeError(f"verbose must be an int, got {type(self.verbose).__name__}.")
        if not (hasattr(self.imputer, "fit_transform") and hasattr(self.imputer, "transform")):
            raise TypeError(
                "imputer must be a transformer with fit_transform and transform "
                f"(e.g. MultilevelIterativeImputer), got {type(self.imputer).__name__}."
            )
        if not (hasattr(self.estimator, "fit") and hasattr(self.estimator, "predict")):
            raise TypeError(
                f"estimator must have fit and predict, got {type(self.estimator).__name__}."
            )

    def _check_X(self, X, reset):
        """Feature count and names (set in fit, checked after); no conversion of frames."""
        is_frame = isinstance(X, pd.DataFrame)
        if is_frame:
            kinds = {type(c).__name__ for c in X.columns}
            if len(kinds) > 1 and "str" in kinds:
                raise TypeError(
                    "X's column names mix strings and other types "
                    f"({', '.join(sorted(kinds))}: {list(X.columns)}); "
                    "MultipleImputationPipeline needs all of them strings (for the feature "
                    "names of its estimators) or none: e.g. X.columns = X.columns.astype(str)."
                )
        return validate_data(
            self,
            X,
            reset=reset,
            skip_check_array=is_frame,
            dtype=None,
            ensure_all_finite="allow-nan",
        )

    def _target_column(self, y, n_rows, like):
        """The outcome as an imputation column: values in fit (y given), missing otherwise."""
        if y is not None:
            values = np.asarray(y)
            if values.ndim != 1:
                raise ValueError(
                    "include_target=True needs a 1-D y (one outcome column), got shape "
                    f"{values.shape}."
                )
        if is_classifier(self.estimator):
            codes = np.searchsorted(self.classes_, values) if y is not None else np.full(n_rows, -1)
            if isinstance(like, pd.DataFrame):
                return pd.Categorical.from_codes(codes, categories=pd.Index(self.classes_))
            return np.where(codes < 0, np.nan, codes).astype(np.float64)
        if y is None:
            return np.full(n_rows, np.nan)
        return values.astype(np.float64)

    def _augment(self, X, y=None):
        """X with the outcome column appended (include_target=True), else X."""
        if not self.include_target:
            return X
        column = self._target_column(y, X.shape[0], X)
        if isinstance(X, pd.DataFrame):
            if TARGET_COLUMN in X.columns:
                raise ValueError(
                    f"X has a column named {TARGET_COLUMN!r}, the name include_target=True "
                    "uses for the outcome: rename it."
                )
            out = X.copy(deep=False)
            out[TARGET_COLUMN] = column
            return out
        return np.column_stack([np.asarray(X, dtype=np.float64), column])

    def _columns_to_drop(self, X_aug):
        """Positions of the completed data's columns the estimator must not see."""
        is_frame = isinstance(X_aug, pd.DataFrame)
        columns = list(X_aug.columns) if is_frame else list(range(X_aug.shape[1]))
        drop = []
        if self.drop_cluster:
            cluster = _cluster_label(self.imputer, columns, is_frame)
            if cluster is not None:
                drop.append(columns.index(cluster))
        if self.include_target:
            drop.append(len(columns) - 1)
        return drop

    # ------------------------------------------------------------------ #
    # fit
    # ------------------------------------------------------------------ #
    def fit(self, X, y, **fit_params):
        """Fit m imputation chains and an estimator on each completed dataset.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Incomplete data, with the imputer's cluster column if it has one.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target (complete).
        **fit_params : dict
            Passed to every estimator's ``fit`` (e.g. ``sample_weight``).

        Returns
        -------
        self : MultipleImputationPipeline
        """
        self._validate_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        X = self._check_X(X, reset=True)
        check_consistent_length(X, y)
        if is_classifier(self.estimator):
            check_classification_targets(y)
            self.classes_ = np.unique(np.asarray(y))
        elif hasattr(self, "classes_"):
            del self.classes_
        X_aug = self._augment(X, y)
        imputer = self.imputer
        if self.include_target:
            is_frame = isinstance(X_aug, pd.DataFrame)
            target = TARGET_COLUMN if is_frame else X_aug.shape[1] - 1
            imputer = _imputer_with_target(imputer, X_aug, target)
        self._drop = self._columns_to_drop(X_aug)
        seeds = spawn_seeds(self.random_state, self.n_imputations)
        progress, hook, steps = None, None, 1
        if self.verbose:
            # imputations x iterations; iterations are seen as they happen when the
            # chains run in this process, else counted as each chain completes
            iters = getattr(imputer, "max_iter", 1)
            iters = iters if isinstance(iters, int) and iters > 0 else 1
            progress = _Progress(len(seeds) * iters, "imputations x iterations")
            if effective_n_jobs(self.n_jobs) == 1 and isinstance(
                imputer, MultilevelIterativeImputer
            ):
                hook, steps = progress.update, 0
            else:
                steps = iters
        tasks = [
            delayed(_fit_pair)(imputer, self.estimator, X_aug, y, s, self._drop, fit_params,
                               hook)
            for s in seeds
        ]
        pairs = _run_parallel(tasks, self.n_jobs, progress, steps)
        self.imputers_ = [p[0] for p in pairs]
        self.estimators_ = [p[1] for p in pairs]
        self._set_pooled_coefficients()
        return self

    def _set_pooled_coefficients(self):
        finals = [_final_step(e) for e in self.estimators_]
        for name in ("coef", "intercept"):
            attr = f"pooled_{name}_"
            if all(hasattr(f, f"{name}_") for f in finals):
                mean = np.mean(
                    [np.asarray(getattr(f, f"{name}_"), dtype=float) for f in finals], axis=0
                )
                setattr(self, attr, mean[()] if mean.ndim == 0 else mean)
            elif hasattr(self, attr):
                delattr(self, attr)

    # ------------------------------------------------------------------ #
    # prediction
    # ------------------------------------------------------------------ #
    def predict_all(self, X, method="predict"):
        """The m per-imputation predictions, stacked.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            New data, with missing values, same columns as in fit.
        method : {"predict", "predict_proba", "predict_log_proba", "decision_function"}
            The estimator method applied to each completed dataset.

        Returns
        -------
        ndarray of shape (m, n_samples) or (m, n_samples, ...)
            Row k is ``estimators_[k].<method>(imputers_[k].transform(X))``
            (without the dropped columns).

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.linear_model import LinearRegression
        >>> from skmice import MultilevelIterativeImputer, MultipleImputationPipeline
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(40, 2)); y = X.sum(axis=1)
        >>> X[::5, 0] = np.nan
        >>> pipe = MultipleImputationPipeline(MultilevelIterativeImputer(max_iter=2),
        ...     LinearRegression(), n_imputations=2, random_state=0).fit(X, y)
        >>> pipe.predict_all(X).shape
        (2, 40)
        """
        check_is_fitted(self, "estimators_")
        if method not in _PER_IMPUTATION_METHODS:
            raise ValueError(f"method must be one of {_PER_IMPUTATION_METHODS}, got {method!r}.")
        if not hasattr(self.estimators_[0], method):
            raise AttributeError(f"{type(self.estimators_[0]).__name__} has no method {method!r}.")
        X = self._check_X(X, reset=False)
        X_aug = self._augment(X)
        tasks = [
            delayed(_apply_pair)(imp, est, X_aug, self._drop, method)
            for imp, est in zip(self.imputers_, self.estimators_)
        ]
        return np.stack(_run_parallel(tasks, self.n_jobs, None))

    def _pool(self, stack):
        if self.pool_predictions == "median":
            out = np.median(stack, axis=0)
        else:
            out = stack.mean(axis=0)
        if np.issubdtype(np.asarray(out).dtype, np.floating):
            # near the largest float the sum overflows: average the scaled values there
            bad = ~np.isfinite(out) & np.isfinite(stack).all(axis=0)
            if bad.any():
                halves = np.median(stack / 2, axis=0) if self.pool_predictions == "median" \
                    else (stack / stack.shape[0]).sum(axis=0)
                scale = 2.0 if self.pool_predictions == "median" else 1.0
                out = np.where(bad, halves * scale, out)
        return out

    def _pooled_proba(self, X):
        proba = self._pool(self.predict_all(X, "predict_proba"))
        if self.pool_predictions == "median":
            proba = proba / proba.sum(axis=-1, keepdims=True)
        return proba

    def predict(self, X):
        """Pooled predictions for new data.

        Regression: the mean (or median, ``pool_predictions``) of the m
        predictions. Classification: the class with the largest pooled
        probability; for estimators without ``predict_proba``, the majority
        vote of the m predicted labels (ties to the first class).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            New data, with missing values.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self, "estimators_")
        if not is_classifier(self):
            return self._pool(self.predict_all(X))
        if len(self.classes_) == 1:  # a single class seen in fit
            labels = self.predict_all(X)
            return np.full(labels.shape[1], self.classes_[0], dtype=self.classes_.dtype)
        if hasattr(self.estimators_[0], "predict_proba"):
            return self.classes_[np.argmax(self._pooled_proba(X), axis=1)]
        labels = self.predict_all(X)
        votes = (labels[:, :, None] == self.classes_[None, None, :]).sum(axis=0)
        return self.classes_[np.argmax(votes, axis=1)]

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Pooled class probabilities: the mean (or median) of the m estimators'.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "estimators_")
        return self._pooled_proba(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Pooled decision function: the mean (or median) of the m estimators'.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        check_is_fitted(self, "estimators_")
        return self._pool(self.predict_all(X, "decision_function"))

    def predict_std(self, X):
        """Between-imputation standard deviation of the predictions.

        The spread of the m per-imputation predictions (divisor m - 1): the
        uncertainty the missing values add to each prediction, through the
        imputation of the row's own missing values and through the m fitted
        models (which differ because the training data were imputed). For
        classifiers, the spread of the class probabilities.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), or (n_samples, n_classes) for classifiers

        Raises
        ------
        ValueError
            With a single imputation (no spread to measure).
        """
        check_is_fitted(self, "estimators_")
        if len(self.estimators_) < 2:
            raise ValueError("predict_std needs n_imputations >= 2.")
        use_proba = is_classifier(self) and hasattr(self.estimators_[0], "predict_proba")
        stack = self.predict_all(X, "predict_proba" if use_proba else "predict")
        return stack.astype(float).std(axis=0, ddof=1)

    def score(self, X, y, sample_weight=None):
        """Accuracy (classifiers) or R^2 (regressors) of the pooled predictions.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        float
        """
        pred = self.predict(X)
        if is_classifier(self):
            return float(accuracy_score(y, pred, sample_weight=sample_weight))
        return float(r2_score(y, pred, sample_weight=sample_weight))

    # ------------------------------------------------------------------ #
    # pooled coefficients
    # ------------------------------------------------------------------ #
    def _analyses(self):
        from .analysis import MultipleAnalyses

        check_is_fitted(self, "estimators_")
        results = []
        for est in self.estimators_:
            final = _final_step(est)
            if hasattr(final, "results_") and hasattr(final.results_, "cov_params"):
                results.append(final.results_)
            elif hasattr(final, "coef_"):
                results.append(final)
            else:
                raise AttributeError(
                    f"{type(final).__name__} exposes no coefficients (coef_ or statsmodels "
                    "results_): there is nothing to pool."
                )
        return MultipleAnalyses(results)

    def pool(self, dfcom=None, conf_level=0.95) -> pd.DataFrame:
        """Pool the m estimators' coefficients.

        With a covariance matrix per fit (:class:`StatsmodelsRegressor`,
        :class:`StatsmodelsClassifier`): Rubin's rules, as
        :func:`skmice.pooling.pool` (R ``summary(pool(fit))``). Without
        (scikit-learn estimators compute no standard errors): the mean over
        imputations (``estimate``), the between-imputation variance ``b``,
        its square root ``between_sd`` and ``m``; ``attrs["reason"]`` says
        why no standard error is given.

        Parameters
        ----------
        dfcom : float, optional
            Complete-data degrees of freedom (default: the first fit's
            residual df, as R mice).
        conf_level : float, default=0.95

        Returns
        -------
        DataFrame
            One row per term (``Intercept``, then the estimator's features).

        Examples
        --------
        >>> import numpy as np
        >>> from skmice import (MultilevelIterativeImputer, MultipleImputationPipeline,
        ...                     StatsmodelsRegressor)
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(60, 2)); y = 1 + X @ [1.0, -1.0] + rng.normal(size=60)
        >>> X[::4, 0] = np.nan
        >>> pipe = MultipleImputationPipeline(MultilevelIterativeImputer(max_iter=3),
        ...     StatsmodelsRegressor(), n_imputations=3, random_state=0,
        ...     include_target=True).fit(X, y)
        >>> list(pipe.pool().index), "std_error" in pipe.pool()
        (['Intercept', 'x0', 'x1'], True)
        """
        analyses = self._analyses()
        ests = analyses.extract()
        if len(ests) >= 2 and all(e.cov is not None for e in ests):
            table = analyses.pool(dfcom=dfcom, conf_level=conf_level)
            table.attrs["reason"] = ""
            return table
        frame = pd.DataFrame([e.params for e in ests])
        m = len(ests)
        b = frame.var(axis=0, ddof=1) if m >= 2 else frame.iloc[0] * np.nan
        table = pd.DataFrame(
            {"estimate": frame.mean(axis=0), "b": b, "between_sd": np.sqrt(b), "m": m}
        )
        if m < 2:
            reason = "a single imputation: no between-imputation variance, no pooling."
        else:
            reason = (
                f"{type(_final_step(self.estimators_[0])).__name__} reports no covariance "
                "matrix of its coefficients, so Rubin's rules (which add the within-imputation "
                "variance) cannot be applied: estimate is the mean over the imputations and b "
                "the between-imputation variance only. Use StatsmodelsRegressor or "
                "StatsmodelsClassifier for standard errors."
            )
        table.attrs["reason"] = reason
        return table

    def summary(self, dfcom=None, conf_level=0.95) -> str:
        """A printable table of the pooled coefficients (see :meth:`pool`).

        Parameters
        ----------
        dfcom : float, optional
        conf_level : float, default=0.95

        Returns
        -------
        str
            Rubin's rules table, as R ``summary(pool(fit))``; or the mean
            and between-imputation spread, headed by the reason.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.linear_model import LinearRegression
        >>> from skmice import MultilevelIterativeImputer, MultipleImputationPipeline
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(60, 2)); y = X @ [1.0, -1.0] + rng.normal(size=60)
        >>> X[::4, 0] = np.nan
        >>> pipe = MultipleImputationPipeline(MultilevelIterativeImputer(max_iter=3),
        ...     LinearRegression(), n_imputations=3, random_state=0).fit(X, y)
        >>> print(pipe.summary().splitlines()[0])
        Pooled estimates (mean over imputations), m = 3: no standard errors.
        """
        analyses = self._analyses()
        table = self.pool(dfcom=dfcom, conf_level=conf_level)
        if not table.attrs.get("reason"):
            return analyses.summary(dfcom=dfcom, conf_level=conf_level)
        m = int(table["m"].iloc[0])
        shown = table[["estimate", "between_sd"]].to_string(float_format=lambda v: f"{v:.4f}")
        header = f"Pooled estimates (mean over imputations), m = {m}: no standard errors."
        return "\n".join([header, "Reason: " + table.attrs["reason"], shown])


# ---------------------------------------------------------------------------
# statsmodels wrappers (coefficients with a covariance matrix)
# ---------------------------------------------------------------------------


def _split_params(estimator):
    """(intercept, coefficients) of a fitted statsmodels wrapper's ``results_``."""
    params = np.asarray(estimator.results_.params, dtype=float)
    if estimator.fit_intercept:
        return float(params[0]), params[1:]
    return 0.0, params


def _exog(estimator, X):
    """The design matrix as a DataFrame named like skmice.analysis does."""
    names = getattr(estimator, "feature_names_in_", None)
    names = [str(n) for n in names] if names is not None else [f"x{j}" for j in range(X.shape[1])]
    frame = pd.DataFrame(np.asarray(X, dtype=np.float64), columns=names)
    if estimator.fit_intercept:
        frame.insert(0, "Intercept", 1.0)
    return frame


class StatsmodelsRegressor(RegressorMixin, BaseEstimator):
    """Ordinary (or weighted) least squares by statsmodels, as a scikit-learn regressor.

    A scikit-learn estimator that keeps the statsmodels results
    (``results_``), so that :meth:`MultipleImputationPipeline.pool` can
    combine the m fits by Rubin's rules with their covariance matrices.

    Parameters
    ----------
    fit_intercept : bool, default=True
        Add an intercept (named ``Intercept``).

    Attributes
    ----------
    results_ : statsmodels RegressionResults
        The fit (``summary()``, ``cov_params()``, ``bse``...).
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X is a DataFrame with string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice import StatsmodelsRegressor
    >>> X = np.arange(10.0).reshape(-1, 1); y = 1 + 2 * X[:, 0]
    >>> reg = StatsmodelsRegressor().fit(X, y)
    >>> round(float(reg.intercept_), 6), np.round(reg.coef_, 6).tolist()
    (1.0, [2.0])
    """

    def __init__(self, fit_intercept=True):
        self.fit_intercept = fit_intercept

    def fit(self, X, y, sample_weight=None):
        """Fit by (weighted) least squares.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            Weights (WLS).

        Returns
        -------
        self
        """
        import statsmodels.api as sm

        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        exog = _exog(self, X)
        if sample_weight is None:
            model = sm.OLS(pd.Series(y, name="y"), exog)
        else:
            model = sm.WLS(pd.Series(y, name="y"), exog, weights=np.asarray(sample_weight))
        self.results_ = model.fit()
        intercept, coef = _split_params(self)
        self.intercept_, self.coef_ = intercept, coef
        return self

    def predict(self, X):
        """Linear predictions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_ + self.intercept_


class StatsmodelsClassifier(ClassifierMixin, BaseEstimator):
    """Binary logistic regression by statsmodels (Logit), as a scikit-learn classifier.

    Unpenalised maximum likelihood (scikit-learn's LogisticRegression is
    L2-penalised by default), with the covariance matrix kept in
    ``results_`` for Rubin's rules in :meth:`MultipleImputationPipeline.pool`.

    Parameters
    ----------
    fit_intercept : bool, default=True
        Add an intercept (named ``Intercept``).

    Attributes
    ----------
    results_ : statsmodels LogitResults
    classes_ : ndarray of shape (2,)
        The second class is the modelled event.
    coef_ : ndarray of shape (1, n_features)
    intercept_ : ndarray of shape (1,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X is a DataFrame with string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice import StatsmodelsClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 1))
    >>> y = (X[:, 0] + rng.logistic(size=200) > 0).astype(int)
    >>> clf = StatsmodelsClassifier().fit(X, y)
    >>> clf.predict_proba(X[:3]).shape, clf.classes_.tolist()
    ((3, 2), [0, 1])
    """

    def __init__(self, fit_intercept=True):
        self.fit_intercept = fit_intercept

    def fit(self, X, y):
        """Fit by maximum likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), two classes

        Returns
        -------
        self
        """
        import statsmodels.api as sm

        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(
                f"StatsmodelsClassifier is binary: y has {len(self.classes_)} classes."
            )
        event = (y == self.classes_[1]).astype(np.float64)
        model = sm.Logit(pd.Series(event, name="y"), _exog(self, X))
        self.results_ = model.fit(disp=0)
        intercept, coef = _split_params(self)
        self.intercept_, self.coef_ = np.array([intercept]), coef[None, :]
        return self

    def decision_function(self, X):
        """Linear predictor (log odds of the second class).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, 2)
        """
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        """The more probable class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self.classes_[(self.decision_function(X) > 0).astype(int)]
