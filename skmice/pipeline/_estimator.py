"""MultipleImputationPipeline: m imputations, m analysis models, pooled predictions.

``fit`` runs m independent imputation chains (:mod:`skmice.pipeline._chains`),
each followed by its own clone of the estimator fitted on that chain's
completed data; ``predict`` imputes new rows with every fitted imputer
(transform, no refit), predicts with its estimator, and pools the m
predictions. Pooled coefficients use :mod:`skmice.pooling`.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np
import pandas as pd
from joblib import delayed
from sklearn import get_config
from sklearn.base import BaseEstimator, MetaEstimatorMixin, is_classifier
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data

from .._blas import single_threaded_blas
from ..analysis import AnalysisEstimate, _coef_params, _extract_estimator, _has_coefficients
from ..pooling import pool_without_variances
from ._chains import fit_chain, run_chains, run_parallel, seeded_estimator
from ._progress import check_callback, n_iterations
from ._target import (
    append_target,
    columns_to_drop,
    drop_columns,
    imputer_with_target,
    target_column,
)

__all__ = ["MultipleImputationPipeline"]

_POOL_PREDICTIONS = ("mean", "median")
_PER_IMPUTATION_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function")
# the metadata the pipeline itself can take in fit (set_fit_request) and pass to its estimators
_OWN_FIT_METADATA = ("sample_weight", "groups")


# ---------------------------------------------------------------------------
# the tasks run on the workers (plain functions: cheap to pickle)
# ---------------------------------------------------------------------------


def _fit_pair(imputer, estimator, X, y, drop, fit_params, seed, hook=None):
    """Fit one imputation chain and its estimator; return them and the coefficients' estimate.

    The completed training data stay on the worker: only the two fitted
    models, and the estimate of the coefficients with their covariance
    (computed here, from the data, for scikit-learn linear models), travel back.
    """
    imp, completed = fit_chain(imputer, X, seed, hook)
    est = seeded_estimator(estimator, seed)
    with single_threaded_blas():
        X_est = drop_columns(completed, drop, imp)
        est.fit(X_est, y, **fit_params)
        estimate = _coef_estimate(est, X_est, y, fit_params)
    return imp, est, estimate


def _fit_sample_weight(estimator, fit_params):
    """The sample_weight the final step was fitted with (as passed, or routed), or None."""
    if "sample_weight" in fit_params:
        return fit_params["sample_weight"]
    if isinstance(estimator, Pipeline):
        return fit_params.get(f"{estimator.steps[-1][0]}__sample_weight")
    return None


def _coef_estimate(estimator, X, y, fit_params):
    """:func:`skmice.analysis.linear_model_estimate` of a fitted estimator, for :meth:`pool`.

    The same computation as ``MultiplyImputedData.analyze`` uses, on the
    completed training data. None for an estimator without coefficients;
    without a covariance (and the reason) when it cannot be computed.
    """
    if not _has_coefficients(estimator):
        return None
    weight = _fit_sample_weight(estimator, fit_params)
    try:
        estimate = _extract_estimator(estimator, X, y, sample_weight=weight)
        if estimate.cov is None and weight is not None:
            # routed weights the final step did not request: it was fitted without them
            unweighted = _extract_estimator(estimator, X, y)
            estimate = unweighted if unweighted.cov is not None else estimate
        return estimate
    except Exception as exc:  # pooling extras must never break fit
        try:
            params = _coef_params(estimator)[0]
        except Exception:  # the coefficients themselves: pool() reports it
            return None
        return AnalysisEstimate(
            params=params,
            no_cov_reason=f"computing the covariance failed ({type(exc).__name__}: {exc}).",
        )


def _apply_pair(imputer, estimator, X, drop, method):
    """Impute X with one fitted chain (no refit) and call ``estimator.<method>``."""
    with single_threaded_blas():
        completed = imputer.transform(X)
        return np.asarray(getattr(estimator, method)(drop_columns(completed, drop, imputer)))


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


def _accepts(method, name):
    """``method`` takes a keyword argument ``name`` (or any keyword, ``**kwargs``)."""
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):  # no signature to read: let the call decide
        return True
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


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
        0 silent; 1 shows a progress bar over imputations x iterations in
        ``fit`` (tqdm when installed, else a counter on stderr).
    callback : callable, default=None
        Called during ``fit`` with a :class:`~skmice.ProgressEvent` after
        each iteration of each chain (``n_imputations * max_iter`` calls), in
        the calling thread, whatever ``n_jobs``: live when the chains run in
        this process, as each chain completes otherwise. Use it with or
        instead of ``verbose``.

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
    *Prediction.* Each of the m estimators is fitted on one completed
    dataset; new rows are imputed by the imputation models fitted in
    ``fit``, never refitted on the new data, so nothing leaks from a test
    fold into training. :meth:`predict_std` gives the between-imputation
    spread of the predictions.

    *The outcome in the imputation model* (``include_target=True``). The
    imputation model should contain the outcome (Meng 1994; Moons et al.
    2006): imputing predictors without it biases their fitted associations
    towards zero. At predict time the outcome column is entirely missing;
    the fitted chains draw it along with the missing predictors, then it is
    discarded, so the test outcome is never used.

    *Coefficients.* :meth:`pool` and :meth:`summary` combine the m fits by
    Rubin's rules when the estimator has a covariance matrix: its own
    (:class:`StatsmodelsRegressor`, :class:`StatsmodelsClassifier`) or one
    computed from the completed training data (``LinearRegression``,
    unpenalised binary ``LogisticRegression``, alone or last in a Pipeline:
    :func:`skmice.analysis.linear_model_estimate`, as
    :meth:`skmice.MultiplyImputedData.analyze` does); for other estimators
    they give the mean and the between-imputation variance.

    *Randomness and parallelism.* All seeds are fixed from ``random_state``
    before the work is scheduled, and every task runs with one BLAS thread,
    so ``n_jobs=1``, ``n_jobs=2`` and a Dask cluster give bitwise identical
    models and predictions. Imputing new rows depends on the whole batch:
    predicting rows one at a time gives other draws than predicting them
    together.

    *Metadata routing.* With routing disabled (the default), the keyword
    arguments of ``fit`` (``sample_weight``, ``groups``...) are passed to
    every estimator's ``fit``. With
    ``sklearn.set_config(enable_metadata_routing=True)``, metadata reach
    the estimators in one of two ways: through the estimator's own requests
    (``LogisticRegression().set_fit_request(sample_weight=True)``, as in
    :class:`sklearn.pipeline.Pipeline`), or through the pipeline's:
    ``set_fit_request(sample_weight=True)`` (or ``groups=True``) makes the
    pipeline take the metadata and fit every estimator with it, whatever
    the estimator's own request. Both are off by default, so that
    ``params={"groups": groups}`` for a
    :class:`~sklearn.model_selection.GroupKFold` goes to the splitter only.
    ``set_score_request(sample_weight=True)`` weights :meth:`score`. The
    imputer receives no metadata (imputation is unweighted).

    The user guide's page on prediction with multiple imputation gives the
    reasons and the details.

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

    # The metadata the pipeline itself may take in fit, to fit every estimator
    # with: not requested by default (False, not None), so that metadata meant
    # for other consumers (``groups`` for a GroupKFold, ``sample_weight`` for an
    # estimator that requests it itself) reach the pipeline only through its
    # children's requests, as in sklearn.pipeline.Pipeline. Nothing is dropped
    # silently: metadata nobody requests raise in process_routing.
    __metadata_request__fit = {name: False for name in _OWN_FIT_METADATA}

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
        callback=None,
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
        self.callback = callback

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
        check_callback(self.callback)
        if not (hasattr(self.imputer, "fit_transform") and hasattr(self.imputer, "transform")):
            raise TypeError(
                "imputer must be a transformer with fit_transform and transform "
                f"(e.g. MultilevelIterativeImputer), got {type(self.imputer).__name__}."
            )
        if not (hasattr(self.estimator, "fit") and hasattr(self.estimator, "predict")):
            raise TypeError(
                f"estimator must have fit and predict, got {type(self.estimator).__name__}."
            )

    def get_metadata_routing(self):
        """Get the metadata routing of this object.

        The pipeline is a router: metadata passed to :meth:`fit` go to the
        ``fit`` of the estimator according to the estimator's requests
        (``estimator.set_fit_request``). It is also a consumer: its own
        ``fit`` requests (:meth:`set_fit_request`; ``sample_weight`` and
        ``groups``, not requested by default) make it take those metadata
        and fit every estimator with them, and its ``score`` request
        (:meth:`set_score_request`) weights :meth:`score`. The imputer
        receives no metadata. Only used with
        ``sklearn.set_config(enable_metadata_routing=True)``; see the
        scikit-learn User Guide on metadata routing.

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRouter
            The pipeline's own requests and the routing to the estimator.

        Examples
        --------
        >>> import sklearn
        >>> from sklearn.linear_model import LogisticRegression
        >>> from skmice import MultilevelIterativeImputer, MultipleImputationPipeline
        >>> with sklearn.config_context(enable_metadata_routing=True):
        ...     pipe = MultipleImputationPipeline(
        ...         MultilevelIterativeImputer(),
        ...         LogisticRegression().set_fit_request(sample_weight=True),
        ...     ).set_score_request(sample_weight=True)
        ...     routing = pipe.get_metadata_routing()
        >>> sorted(routing.consumes("fit", ["sample_weight", "groups"]))
        ['sample_weight']
        """
        return (
            MetadataRouter(owner=self)
            .add_self_request(self)
            .add(
                estimator=self.estimator,
                method_mapping=MethodMapping().add(caller="fit", callee="fit"),
            )
        )

    def _estimator_fit_params(self, fit_params):
        """The keyword arguments of every estimator's ``fit``.

        Routing disabled: ``fit_params`` as they are. Routing enabled: the
        metadata the pipeline requests itself (``set_fit_request``), plus
        those routed to the estimator by its own requests.
        """
        if not get_config().get("enable_metadata_routing", False):
            return fit_params
        requests = self._get_metadata_request().fit.requests
        params = dict(fit_params)
        own = {}
        for name in _OWN_FIT_METADATA:
            request = requests.get(name, False)
            if name in params and (request is True or isinstance(request, str)):
                own[name] = params.pop(name)
        for name, value in own.items():
            if value is not None and not _accepts(self.estimator.fit, name):
                raise TypeError(
                    f"{name} is requested by {type(self).__name__}.set_fit_request"
                    f"({name}=True) to fit every estimator with it, but "
                    f"{type(self.estimator).__name__}.fit does not accept {name}: "
                    f"call set_fit_request({name}=False)."
                )
        try:
            routed = process_routing(self, "fit", **params)
        except UnsetMetadataPassedError as error:
            hint = sorted(set(error.unrequested_params) & set(_OWN_FIT_METADATA))
            if not hint:
                raise
            settings = ", ".join(f"{name}=True" for name in hint)
            raise UnsetMetadataPassedError(
                message=f"{error} Or call {type(self).__name__}.set_fit_request"
                f"({settings}) to fit every estimator with them.",
                unrequested_params=error.unrequested_params,
                routed_params=error.routed_params,
            ) from None
        return {**routed.estimator.fit, **{k: v for k, v in own.items() if v is not None}}

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

    def _augment(self, X, y=None):
        """X with the outcome column appended (include_target=True), else X.

        The column holds ``y`` in fit and is entirely missing when ``y`` is None.
        """
        if not self.include_target:
            return X
        classes = self.classes_ if is_classifier(self.estimator) else None
        return append_target(X, target_column(y, X.shape[0], X, classes))

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
            Metadata for the estimators (e.g. ``sample_weight``, ``groups``).
            With metadata routing disabled (the default): passed to every
            estimator's ``fit``. With
            ``sklearn.set_config(enable_metadata_routing=True)``: passed to
            every estimator's ``fit`` if the pipeline requests them
            (:meth:`set_fit_request`), else routed to it by the estimator's
            own requests; metadata that nothing requests raise an error. The
            imputer receives none.

        Returns
        -------
        self : MultipleImputationPipeline
        """
        self._validate_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        estimator_params = self._estimator_fit_params(fit_params)
        X = self._check_X(X, reset=True)
        check_consistent_length(X, y)
        if is_classifier(self.estimator):
            check_classification_targets(y)
            self.classes_ = np.unique(np.asarray(y))
        elif hasattr(self, "classes_"):
            del self.classes_
        X_aug = self._augment(X, y)
        imputer = imputer_with_target(self.imputer, X_aug) if self.include_target else self.imputer
        self._drop = columns_to_drop(self.imputer, X_aug, self.drop_cluster, self.include_target)
        pairs = run_chains(
            _fit_pair,
            (imputer, self.estimator, X_aug, y, self._drop, estimator_params),
            n_chains=self.n_imputations,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            n_iterations=n_iterations(imputer),
            verbose=self.verbose,
            callback=self.callback,
        )
        self.imputers_ = [p[0] for p in pairs]
        self.estimators_ = [p[1] for p in pairs]
        self._coef_estimates = [p[2] for p in pairs]
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
        return np.stack(run_parallel(tasks, self.n_jobs))

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
            Weights of the rows in the score. With metadata routing enabled,
            a scorer passes them only after
            ``set_score_request(sample_weight=True)``.

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
        """The m coefficient estimates (computed in fit), as MultipleAnalyses."""
        from ..analysis import MultipleAnalyses

        check_is_fitted(self, "estimators_")
        stored = getattr(self, "_coef_estimates", None) or [None] * len(self.estimators_)
        results = []
        for est, estimate in zip(self.estimators_, stored):
            if estimate is None:
                if not _has_coefficients(est):
                    raise AttributeError(
                        f"{type(_final_step(est)).__name__} exposes no coefficients (coef_ or "
                        "statsmodels results_): there is nothing to pool."
                    )
                estimate = _extract_estimator(est)
            results.append(estimate)
        return MultipleAnalyses(results)

    def pool(self, dfcom=None, conf_level=0.95) -> pd.DataFrame:
        """Pool the m estimators' coefficients.

        With a covariance matrix per fit: Rubin's rules, as
        :func:`skmice.pooling.pool` (R ``summary(pool(fit))``). The
        covariance is the statsmodels one for :class:`StatsmodelsRegressor`
        and :class:`StatsmodelsClassifier`; for ``LinearRegression`` and
        unpenalised binary ``LogisticRegression(C=np.inf)`` (alone or last
        in a Pipeline) it is computed in ``fit`` from each completed
        training set by :func:`skmice.analysis.linear_model_estimate`, the
        function ``MultiplyImputedData.analyze`` uses too, so both give the
        same table on the same imputations. Without one (penalised or other
        models): the mean over imputations (``estimate``), the
        between-imputation variance ``b``, its square root ``between_sd``
        and ``m``, as :func:`skmice.pooling.pool_without_variances`;
        ``attrs["reason"]`` says why no standard error is given and what to
        use instead.

        Parameters
        ----------
        dfcom : float, optional
            Complete-data degrees of freedom (default: the first fit's
            residual df, as R mice).
        conf_level : float, default=0.95

        Returns
        -------
        DataFrame
            One row per term: ``Intercept``, then the features entering the
            estimator's last step (a Pipeline's
            ``estimator[:-1].get_feature_names_out()``, else its
            ``feature_names_in_``, else ``x0, x1, ...``).

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
        table = pool_without_variances([e.params for e in ests])
        if len(ests) < 2:
            reason = "a single imputation: no between-imputation variance, no pooling."
        else:
            why = next(e.no_cov_reason for e in ests if e.cov is None)
            reason = (
                f"{type(_final_step(self.estimators_[0])).__name__} has no covariance "
                "matrix of its coefficients, so Rubin's rules (which add the within-imputation "
                "variance) cannot be applied: estimate is the mean over the imputations and b "
                f"the between-imputation variance only. {why}"
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
        >>> from sklearn.linear_model import LinearRegression, Ridge
        >>> from skmice import MultilevelIterativeImputer, MultipleImputationPipeline
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(60, 2)); y = X @ [1.0, -1.0] + rng.normal(size=60)
        >>> X[::4, 0] = np.nan
        >>> pipe = MultipleImputationPipeline(MultilevelIterativeImputer(max_iter=3),
        ...     LinearRegression(), n_imputations=3, random_state=0).fit(X, y)
        >>> print(pipe.summary().splitlines()[0])
        Pooled estimates (Rubin's rules), m = 3, dfcom = 57
        >>> ridge = pipe.set_params(estimator=Ridge()).fit(X, y)
        >>> print(ridge.summary().splitlines()[0])
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

