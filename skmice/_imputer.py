"""MultilevelIterativeImputer: the chained-equations driver.

Validation, initial fill, visit sequence, the iteration loop, traces and the
transform of new data. No numerical kernels live here: designs come from
:mod:`skmice._design`, draws from the conditional methods in
:mod:`skmice.methods`.
"""

from __future__ import annotations

import numbers
import sys
import warnings
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from ._blas import single_threaded_blas as _single_threaded_blas
from ._data import decode, encode, missing_markers
from ._design import (
    DesignBuilder,
    cluster_columns,
    cluster_position,
    default_methods,
    make_predictor_matrix,
    multilevel_defaults,
    predictor_codes,
    varying_clusters,
)
from ._hooks import current_iteration_hook
from ._level_plan import LevelPlan
from ._params import ParamNamesOnce
from ._plan import KEEP_BYTES
from ._random import as_seed_sequence
from .exceptions import NumericalError
from .methods import ConditionalMethod, EstimatorMethod, get_method
from .methods._cluster_level import resolve_level, unit_level

__all__ = ["MultilevelIterativeImputer"]

_VISIT_SEQUENCES = ("roman", "arabic", "monotone", "revmonotone")
_INIT_STRATEGIES = ("sample", "mean")
_POOL_SIZE = 10_000  # observed values kept per column for the initial fill of new data
# predictors whose correlation matrix has a smallest-to-largest eigenvalue ratio
# below this are numerically singular: one of them is dropped
_SINGULAR = 1e-8
_INDICATOR_PREFIX = "missingindicator_"


class _TargetCoding:
    """How a target's values map to the codes its method works with."""

    def __init__(self, kind: str, levels: np.ndarray | None = None, n_categories: int = 0):
        self.kind = kind  # "continuous", "binary", "categorical"
        self.levels = levels  # numeric columns imputed by a discrete method
        self.n_categories = n_categories

    def to_codes(self, y: np.ndarray) -> np.ndarray:
        if self.levels is None:
            return y
        return np.searchsorted(self.levels, y).astype(np.float64)

    def from_codes(self, codes: np.ndarray) -> np.ndarray:
        if self.levels is None:
            return codes
        return self.levels[codes.astype(np.int64)]


class _FittedFrame:
    """A fitted DataFrame attribute, made from the parts fit recorded when first read.

    ``fit`` records the parts (see ``MultilevelIterativeImputer._record``);
    the first read makes the frame with ``make(*parts)`` and keeps it in the
    instance, where later reads find it. Before fit the attribute does not
    exist (``hasattr`` is False, ``check_is_fitted`` fails).
    """

    def __init__(self, make):
        self.make = make
        self.__doc__ = None  # the estimator's Attributes section documents the frame

    def __set_name__(self, owner, name):
        self.name = name
        self.parts = f"_{name}parts"

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        state = obj.__dict__
        if self.parts not in state:
            raise AttributeError(
                f"{type(obj).__name__!r} object has no attribute {self.name!r}")
        frame = state[self.name] = self.make(*state[self.parts])
        return frame


class MultilevelIterativeImputer(TransformerMixin, ParamNamesOnce, BaseEstimator):
    """Multilevel multiple imputation by chained equations (one imputation).

    Each incomplete column is imputed in turn from the others by its own
    conditional method (a regression model whose parameters are drawn from
    their posterior, then the missing values from the model), cycling for
    ``max_iter`` iterations. With ``cluster`` set, two-level methods model the
    clustering (random effects), as R's mice with miceadds, micemd and pan.
    One fitted imputer produces one completed dataset; for multiple
    imputation use :func:`~skmice.multiple_impute` or
    :class:`~skmice.MultipleImputationPipeline`, which run independent chains.

    Parameters
    ----------
    methods : None, str or dict, default=None
        Conditional method per column: a registered name (``"pmm"``,
        ``"norm"``, ``"logreg"``, ``"polyreg"``, ``"2l.pan"``, ``"2l.norm"``,
        ``"2l.pmm"``, ...), a :class:`~skmice.methods.ConditionalMethod`
        instance, any scikit-learn regressor or classifier, or ``""`` / None
        (not imputed). A dict may name only some columns: the others get
        :func:`~skmice.make_methods`' defaults. A single string applies to
        every incomplete column. None: :func:`~skmice.make_methods` for all
        columns, complete ones included (so ``transform`` can impute a column
        that was complete in fit).
    predictor_matrix : None, DataFrame or array-like, default=None
        mice's predictor matrix (rows: targets, columns: predictors) with the
        codes 0, 1, 2, 3, 4, -2 (see :func:`~skmice.quickpred`). None: every
        other column as a fixed effect and the cluster column as -2.
    cluster : column label, int or list of them, default=None
        The cluster-id column (never missing, never imputed, passed through
        unchanged). None: single-level imputation. A list gives several
        grouping levels, lowest first (``["class", "school"]`` for pupils in
        classes in schools; crossed factors such as ``["school",
        "neighbourhood"]`` likewise; lme4's ``(1 | school/class)``): every
        level's unit codes reach the methods' designs (``Design.levels``),
        and whether each level is nested in the next or crossed with it is
        detected and recorded in ``levels_`` and ``log_``. With several
        levels the default methods model every level (``"ml.pmm"`` for
        numeric columns, ``"2lonly.pmm"`` at their own level for
        level-specific columns such as class size or school type, see
        :func:`~skmice.make_methods`; ``log_`` says which default each column
        got and why); the multilevel methods (``"ml.norm"``, ``"ml.pmm"``)
        take random slopes per level, by predictor name
        (``MultilevelPMM(random_slopes={"school": ["ses"]})``); the two-level
        methods model the first level and warn naming the levels they ignore.
    max_iter : int, default=10
        Iterations of the chained equations. R mice's default is 5; skmice
        uses 10 because its two-level samplers are warm-started across
        iterations (one Gibbs step per visit instead of R's fresh chain of
        hundreds of steps), so the iterations double as the samplers'
        burn-in; 10 is also what the tutorial's R analyses use.
    visit_sequence : {"roman", "arabic", "monotone", "revmonotone"} or list, default="roman"
        Order in which incomplete columns are visited: left to right, right
        to left, by increasing or decreasing fraction missing, or an explicit
        list of column labels (repeats allowed).
    initial_strategy : {"sample", "mean"}, default="sample"
        Initial fill: random draws of observed values (R mice), or the mean
        (the most frequent category for categorical columns).
    remove_collinear : bool, default=True
        At each visit, drop from a target's predictors (on its observed rows)
        those that are constant, those that duplicate the target (absolute
        correlation with it at least ``max_corr``) and, among predictors that
        are exactly or numerically collinear (their correlation matrix has a
        smallest-to-largest eigenvalue ratio below 1e-8), one at a time until
        the rest are not. Every drop is recorded in ``log_`` and summarised
        in one warning per fit naming target, predictor and reason. False
        keeps every predictor.
    max_corr : float in (0, 1], default=1 - 1e-8
        A predictor whose absolute correlation with the target reaches this
        is dropped (``remove_collinear=True`` only). The default drops only a
        predictor that is the target up to a linear map and rounding, and
        keeps a predictor that is merely strong (a correlation of 0.995 is
        information, not a problem). R mice's rule is ``max_corr=0.99``.
    random_state : None, int, SeedSequence or Generator, default=None
        Seed of the chain. A new generator is made at every ``fit``, so
        refitting with an int seed reproduces the result.
    verbose : int, default=0
        0 silent; 1 prints one line per iteration.
    missing_values : float, int, str or list of them, default=np.nan
        Placeholders for missing values besides NaN, None, ``pd.NA`` and
        ``NaT`` (which always mark missing entries), e.g. ``-999`` or
        ``["?", "n/a"]``: the entries equal to one are imputed (scikit-learn's
        meaning). In the output, an entry that was such a placeholder holds
        its imputation; one left unimputed keeps the placeholder.
    keep_empty_features : bool, default=False
        A column entirely missing in fit cannot be imputed. False (as
        scikit-learn's imputers): it is left out of the output of
        ``fit_transform`` and ``transform``, with a warning naming it. True:
        it is kept, its missing entries filled with 0 (numeric columns; other
        kinds stay missing). Either way it is no predictor.
    add_indicator : bool, default=False
        Append one boolean column ``missingindicator_<name>`` per column that
        had missing values in fit, True where the entry was missing in the
        data being transformed (scikit-learn's ``MissingIndicator``).
    skip_complete : bool, default=False
        True: columns complete in fit get no model (faster fits); if new data
        has missing values there, ``transform`` fills them with the initial
        fill (``initial_strategy``) only. False: with ``methods=None``, they
        get their default method, fitted once at the end of fit.
    drop_cluster : bool, default=False
        Leave the grouping columns (``cluster``) out of the output: they
        shape the imputation models but are not passed on, so that an
        estimator after the imputer in a plain Pipeline does not take the
        cluster id as a numeric feature.
    drop_columns : None, label or list of labels, default=None
        Further columns used in the imputation and left out of the output.
    cluster_means : None, level, list of levels or dict, default=None
        Where the cluster means of the predictors with codes 3 and 4 are
        taken, with several grouping levels: a grouping column (``"school"``:
        school means), a list of them (``["class", "school"]``: class means
        and school means, two fixed effects per predictor), or a dict target
        -> level(s) (targets not named keep the default). None: the lowest
        level, as mice's codes 3 and 4. The means are recomputed from the
        current completed data at every visit.

    Attributes
    ----------
    methods_ : dict
        Column label -> fitted :class:`~skmice.methods.ConditionalMethod`
        (None for columns not imputed).
    method_names_ : dict
        Column label -> the method as given or defaulted (name or class name).
    predictor_matrix_ : DataFrame
        The validated predictor matrix.
    visit_sequence_ : list
        Column labels in visiting order.
    trace_ : DataFrame
        Columns ``iteration``, ``variable``, ``mean``, ``sd``: the mean and
        standard deviation of the imputed values at each iteration (codes for
        categorical columns), for convergence plots.
    log_ : DataFrame
        Events of the fit (``iteration``, ``variable``, ``event``, ``detail``):
        predictors dropped as constant or collinear, predictors dropped
        because they are incomplete and have no method.
    n_iter_ : int
        Number of iterations run (0 with ``max_iter=0``: the initial fill only).
    levels_ : DataFrame
        One row per grouping level (``level``, ``column``, ``n_units``,
        ``relation_to_next``: "nested" when each unit lies in one unit of the
        next level, "crossed" otherwise); empty without a cluster.
    variable_levels_ : dict
        Column -> the grouping column it was imputed at, for the columns
        imputed by a level-specific method (``2lonly.*``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X is a DataFrame with string column names.

    See Also
    --------
    skmice.multiple_impute : m independent imputations, then analysis and pooling.
    sklearn.impute.IterativeImputer : single-level, point-prediction chained imputation.

    Notes
    -----
    Observed values are never changed, and the input is never modified.
    Imputations are draws, not predictions: every visit draws the method's
    parameters from their posterior given the observed rows before drawing
    the missing values (proper imputation, Rubin 1987).

    References
    ----------
    van Buuren, S. and Groothuis-Oudshoorn, K. (2011). mice: Multivariate
    Imputation by Chained Equations in R. Journal of Statistical Software 45(3).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skmice import MultilevelIterativeImputer
    >>> X = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    ...                   "y": [1.1, np.nan, 3.2, 3.9, np.nan, 6.1]})
    >>> out = MultilevelIterativeImputer(random_state=0).fit_transform(X)
    >>> bool(out.notna().all().all()), set(out["y"]) <= {1.1, 3.2, 3.9, 6.1}
    (True, True)
    """

    predictor_matrix_ = _FittedFrame(pd.DataFrame)
    trace_ = _FittedFrame(partial(pd.DataFrame, columns=["iteration", "variable", "mean", "sd"]))
    log_ = _FittedFrame(partial(pd.DataFrame, columns=["iteration", "variable", "event", "detail"]))
    levels_ = _FittedFrame(partial(pd.DataFrame,
                                   columns=["level", "column", "n_units", "relation_to_next"]))

    def __init__(
        self,
        methods=None,
        predictor_matrix=None,
        cluster=None,
        max_iter=10,
        visit_sequence="roman",
        initial_strategy="sample",
        remove_collinear=True,
        max_corr=1 - 1e-8,
        random_state=None,
        verbose=0,
        missing_values=np.nan,
        keep_empty_features=False,
        add_indicator=False,
        skip_complete=False,
        drop_cluster=False,
        drop_columns=None,
        cluster_means=None,
    ):
        self.methods = methods
        self.predictor_matrix = predictor_matrix
        self.cluster = cluster
        self.max_iter = max_iter
        self.visit_sequence = visit_sequence
        self.initial_strategy = initial_strategy
        self.remove_collinear = remove_collinear
        self.max_corr = max_corr
        self.random_state = random_state
        self.verbose = verbose
        self.missing_values = missing_values
        self.keep_empty_features = keep_empty_features
        self.add_indicator = add_indicator
        self.skip_complete = skip_complete
        self.drop_cluster = drop_cluster
        self.drop_columns = drop_columns
        self.cluster_means = cluster_means

    # ------------------------------------------------------------------ #
    # scikit-learn plumbing
    # ------------------------------------------------------------------ #
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def get_feature_names_out(self, input_features=None):
        """Output feature names: the input's, less dropped columns, plus indicators.

        The columns left out (``drop_cluster``, ``drop_columns``, empty
        columns without ``keep_empty_features``) are not named; with
        ``add_indicator``, ``missingindicator_<name>`` follows for each column
        that had missing values in fit.

        Parameters
        ----------
        input_features : array-like of str, optional
            Must match ``feature_names_in_`` when given.

        Returns
        -------
        ndarray of str
        """
        names = self._input_names(input_features)
        out = [names[j] for j in range(len(names)) if j not in self._dropped_out]
        out += [f"{_INDICATOR_PREFIX}{names[j]}" for j in self._indicated]
        return np.asarray(out, dtype=object)

    def _input_names(self, input_features):
        check_is_fitted(self, "n_features_in_")
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            if len(input_features) != self.n_features_in_:
                raise ValueError(
                    f"input_features has {len(input_features)} names, expected "
                    f"{self.n_features_in_}."
                )
            if hasattr(self, "feature_names_in_") and not np.array_equal(
                input_features, self.feature_names_in_
            ):
                raise ValueError("input_features is not equal to feature_names_in_.")
            return input_features
        if hasattr(self, "feature_names_in_"):
            return np.asarray(self.feature_names_in_, dtype=object)
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)

    # ------------------------------------------------------------------ #
    # Validation
    # ------------------------------------------------------------------ #
    def _validate_params(self):
        if not isinstance(self.max_iter, numbers.Integral) or isinstance(self.max_iter, bool):
            raise TypeError(f"max_iter must be an int, got {type(self.max_iter).__name__}.")
        if self.max_iter < 0:
            raise ValueError(f"max_iter must be >= 0, got {self.max_iter}.")
        if not isinstance(self.max_corr, numbers.Real) or isinstance(self.max_corr, bool):
            raise TypeError(f"max_corr must be a float, got {type(self.max_corr).__name__}.")
        if not 0 < self.max_corr <= 1:
            raise ValueError(f"max_corr must be in (0, 1], got {self.max_corr}.")
        for flag in ("remove_collinear", "keep_empty_features", "add_indicator",
                     "skip_complete", "drop_cluster"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise TypeError(
                    f"{flag} must be True or False, got {getattr(self, flag)!r}.")
        self._markers = missing_markers(self.missing_values)
        if isinstance(self.visit_sequence, str):
            if self.visit_sequence not in _VISIT_SEQUENCES:
                raise ValueError(
                    f"visit_sequence must be one of {_VISIT_SEQUENCES} or a list of columns, "
                    f"got {self.visit_sequence!r}."
                )
        if self.initial_strategy not in _INIT_STRATEGIES:
            raise ValueError(
                f"initial_strategy must be one of {_INIT_STRATEGIES}, "
                f"got {self.initial_strategy!r}."
            )
        if not isinstance(self.verbose, (numbers.Integral, bool)):
            raise TypeError(f"verbose must be an int, got {type(self.verbose).__name__}.")
        as_seed_sequence(self.random_state)  # type check only

    def _resolve_cluster(self, columns, is_frame) -> list:
        """Positions of the grouping columns, lowest level first."""
        wanted = cluster_columns(self.cluster)
        if isinstance(self.cluster, list) and not wanted:
            raise ValueError("cluster=[] names no column: give None or at least one column.")
        out = [cluster_position(c, columns, is_frame) for c in wanted]
        if len(set(out)) < len(out):
            raise ValueError(f"cluster={self.cluster!r} names a column twice.")
        return out

    def _levels(self, X, enc, fit: bool) -> list:
        """The grouping levels of X: (unit codes, number of units, column label) each.

        ``enc`` is X encoded (:func:`~skmice._data.encode`).
        """
        return [(*self._cluster_codes(_raw_column(X, j, enc), fit, k), enc.columns[j])
                for k, j in enumerate(self._cluster_indices)]

    def _cluster_codes(self, values_raw: pd.Series | np.ndarray, fit: bool, level: int = 0):
        if fit and isinstance(values_raw, np.ndarray) and not _may_be_missing(values_raw.dtype):
            return self._known_units(*_factorize_sorted(values_raw), level)
        series = values_raw if isinstance(values_raw, pd.Series) else pd.Series(values_raw)
        column = cluster_columns(self.cluster)[level]
        if _may_be_missing(series.dtype) and series.isna().any():
            rows = np.flatnonzero(series.isna().to_numpy())[:5].tolist()
            raise ValueError(
                f"The cluster column {column!r} has missing values (rows {rows}...); "
                "every row needs a cluster id."
            )
        if fit:
            return self._known_units(*_factorize_sorted(series), level)
        known = self._level_values[level]
        was, now = _label_kind(known), _label_kind(pd.unique(series))
        if {was, now} == {"numbers", "text"}:
            raise TypeError(
                f"The cluster column {column!r} held {was} in fit and holds {now} now: "
                "every cluster would be new. Give its ids the type they had in fit."
            )
        codes = known.get_indexer(series)
        new = codes < 0
        n_groups = len(known)
        if new.any():
            try:
                new_codes, new_uniques = pd.factorize(series[new], sort=True)
            except TypeError:
                new_codes, new_uniques = pd.factorize(series[new], sort=False)
            codes[new] = n_groups + new_codes
            n_groups += len(new_uniques)
        return codes.astype(np.int64), n_groups

    def _known_units(self, codes, uniques, level: int):
        """Record the unit labels of a grouping level seen in fit; its codes and unit count."""
        known = pd.Index(uniques)
        if level == 0:
            self._level_values = []
            self._cluster_values_ = known
        self._level_values.append(known)
        return codes.astype(np.int64, copy=False), len(uniques)

    def _resolve_one_method(self, spec, name):
        if spec is None or (isinstance(spec, str) and spec == ""):
            return None, ""
        if isinstance(spec, str):
            try:
                return get_method(spec), spec
            except ValueError as exc:
                raise ValueError(f"Column {name!r}: {exc}") from None
        if isinstance(spec, ConditionalMethod):
            return clone(spec), type(spec).__name__
        if isinstance(spec, BaseEstimator) and hasattr(spec, "fit") and hasattr(spec, "predict"):
            return EstimatorMethod(clone(spec)), type(spec).__name__
        raise TypeError(
            f"Column {name!r}: a method must be a registered name, a ConditionalMethod or a "
            f"scikit-learn estimator, got {spec!r}."
        )

    def _resolve_methods(self, X, enc, missing_any, levels):
        columns = enc.columns
        spec = self.methods

        def defaults():
            codes = levels[0][0] if levels else None
            units = [(c, n) for c, n, _ in levels]
            if len(levels) > 1:
                reasons = multilevel_defaults(enc, units, self._cluster_indices,
                                              include_complete=not self.skip_complete)
                self._default_reasons = {c: why for c, (m, why) in reasons.items() if m}
            return default_methods(enc, codes, self._cluster_indices,
                                   include_complete=not self.skip_complete, levels=units)

        self._default_reasons = {}

        explicit = set()  # columns the user asked to leave as they are
        if spec is None:
            chosen = defaults()
        elif isinstance(spec, str):
            chosen = {c: (spec if missing_any[j] and j not in self._cluster_indices
                          and enc.infos[j].imputable else "")
                      for j, c in enumerate(columns)}
        elif isinstance(spec, dict):
            unknown = [k for k in spec if k not in columns]
            if unknown:
                hint = "" if enc.is_frame else (
                    " X has no column names (an array): key methods by column position, or "
                    "pass a DataFrame.")
                raise ValueError(f"methods names columns that are not in X: {unknown}.{hint}")
            needed = [c for j, c in enumerate(columns) if missing_any[j] and c not in spec]
            default = defaults() if needed else {}
            chosen = {c: spec.get(c, default.get(c, "")) for c in columns}
            explicit = {c for c in spec if spec[c] is None or spec[c] == ""}
        else:
            raise TypeError(
                f"methods must be None, a method name or a dict, got {type(spec).__name__}."
            )
        self._defaulted = [c for c in columns if c not in (
            spec if isinstance(spec, dict) else {}) and isinstance(chosen.get(c), str)
            and chosen[c] and not isinstance(spec, str)]
        methods, names = {}, {}
        for j, c in enumerate(columns):
            if j in self._empty:  # nothing to impute it from: left out or kept as it is
                chosen[c] = ""
            elif self.skip_complete and not missing_any[j] and c not in (
                    spec if isinstance(spec, dict) else ()):
                chosen[c] = ""
            m, label = self._resolve_one_method(chosen[c], c)
            if m is not None and j in self._cluster_indices:
                raise ValueError(f"The cluster column {c!r} cannot have an imputation method.")
            if m is not None and not enc.infos[j].imputable:
                raise TypeError(
                    f"Column {c!r} has dtype {enc.infos[j].dtype}: skmice passes date and time "
                    f"columns through and cannot impute them (method {label!r}). Convert it "
                    "to numbers to impute it or to use it as a predictor."
                )
            two_level = getattr(m, "needs_groups", False) or getattr(m, "cluster_level", False)
            if m is not None and two_level and self._cluster_index is None:
                raise ValueError(
                    f"Column {c!r}: method {label!r} is a two-level method and needs the "
                    "cluster column: set cluster=."
                )
            methods[c], names[c] = m, label
        self._left_as_is = {c for j, c in enumerate(columns)
                            if j not in self._cluster_indices
                            and (c in explicit or not enc.infos[j].imputable
                                 or j in self._empty)}
        # complete in fit and given no model: new data's holes get the initial fill
        self._initial_only = {j for j, c in enumerate(columns)
                              if self.skip_complete and methods[c] is None
                              and not missing_any[j] and j not in self._cluster_indices
                              and enc.infos[j].imputable}
        return methods, names

    def _unused_predictors(self, pm_values, columns, infos, methods, n_missing) -> list:
        """Zero the predictor columns that cannot be used; return the log of it.

        Incomplete columns without a method (left as they are) and date or
        time columns (passed through) are not predictors of any target. Each
        is logged; an incomplete column left as it is is logged as such too.
        """
        log = []
        for j, c in enumerate(columns):
            if methods[c] is not None or j in self._cluster_indices:
                continue
            temporal = not infos[j].imputable
            if n_missing[j] > 0:
                log.append(dict(iteration=0, variable=c, event="not imputed",
                                detail=f"no method: {int(n_missing[j])} missing values left "
                                       "missing"))
                if temporal:
                    warnings.warn(
                        f"Column {c!r} ({infos[j].dtype}) has {int(n_missing[j])} missing "
                        "values: skmice passes date and time columns through, so they stay "
                        "missing.", UserWarning, stacklevel=4)
            elif not temporal:
                continue
            users = [columns[t] for t in np.flatnonzero(pm_values[:, j] != 0)
                     if methods[columns[t]] is not None]
            if users:
                pm_values[:, j] = 0
                why = ("a date or time column (passed through)" if temporal
                       else "incomplete without a method")
                log.append(dict(iteration=0, variable=c, event="not used as predictor",
                                detail=f"{why}; was a predictor of {users}"))
        return log

    def _check_unimputed(self, todo, columns) -> list:
        """The incomplete columns of new data to impute, after checking the others.

        Columns left as they are in fit (method ``""`` given, or date and
        time columns) keep their missing values, unless a fitted model uses
        them as a predictor; any other incomplete column needs a fitted method.
        """
        lacking = [columns[j] for j in todo if self.methods_.get(columns[j]) is None
                   and j not in self._cluster_indices and j not in self._initial_only]
        unknown = [c for c in lacking if c not in self._left_as_is]
        if unknown:
            raise ValueError(
                f"Columns {unknown} have missing values in X but no imputation method was "
                "fitted for them (give them a method in fit)."
            )
        pm = self.predictor_matrix_
        for c in lacking:
            users = [t for t in pm.index[pm[c].to_numpy() != 0] if self.methods_.get(t)]
            if users:
                raise ValueError(
                    f"Column {c!r} has missing values in X and no imputation method (left as "
                    f"it is), but the fitted models of {users} use it as a predictor: give it "
                    "a method in fit, or leave it out of their predictors."
                )
        return [j for j in todo if self.methods_.get(columns[j]) is not None]

    def _target_coding(self, method, info, column, missing, name, label):
        """How the method of a target codes its values; ``column[~missing]`` are observed."""
        kinds = method.supported_kinds
        if info.storage == "numeric":
            if "continuous" in kinds:
                return _TargetCoding("continuous")
            levels = np.unique(column[~missing])
            if "binary" in kinds and len(levels) <= 2:
                if len(levels) == 1:
                    levels = np.repeat(levels, 2)
                return _TargetCoding("binary", levels, 2)
            units = np.ldexp(levels, info.exponent)
            if "categorical" in kinds and np.all(units == np.round(units)):
                return _TargetCoding("categorical", levels, len(levels))
            raise ValueError(
                f"Method {label!r} cannot impute column {name!r}: the column is continuous "
                f"({len(levels)} distinct observed values) and {label!r} imputes "
                f"{' or '.join(kinds)} columns."
            )
        kind = info.kind
        if kind in kinds or (kind == "binary" and "categorical" in kinds):
            return _TargetCoding(kind, None, info.n_categories)
        raise ValueError(
            f"Method {label!r} cannot impute column {name!r}: the column is {kind} and "
            f"{label!r} imputes {' or '.join(kinds)} columns."
        )

    def _resolve_visit_sequence(self, columns, incomplete, missing_frac):
        vs = self.visit_sequence
        if isinstance(vs, str):
            order = [c for c in columns if c in incomplete]
            if vs == "arabic":
                order = order[::-1]
            elif vs in ("monotone", "revmonotone"):
                order = sorted(order, key=lambda c: missing_frac[c], reverse=vs == "revmonotone")
            return order
        if not np.iterable(vs):
            raise TypeError("visit_sequence must be a string or a list of column labels.")
        vs = list(vs)
        unknown = [c for c in vs if c not in columns]
        if unknown:
            raise ValueError(f"visit_sequence names columns that are not in X: {unknown}.")
        return [c for c in vs if c in incomplete]

    # ------------------------------------------------------------------ #
    # Fitting
    # ------------------------------------------------------------------ #
    def fit(self, X, y=None):
        """Run the chained equations on X and keep the fitted conditional models.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Data with missing values (NaN, None or pd.NA).
        y : ignored

        Returns
        -------
        self : MultilevelIterativeImputer
        """
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        """Run the chained equations and return the completed training data.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Data with missing values.
        y : ignored

        Returns
        -------
        X_completed : DataFrame or ndarray
            Same container, columns, index and dtypes as X; observed values
            unchanged; missing values replaced by the chain's last draws.

        Notes
        -----
        BLAS runs single-threaded inside (the matrices are thin; parallelism
        comes from running chains side by side), which also makes the result
        bit-for-bit independent of how many threads or processes are used.
        """
        with _single_threaded_blas():
            return self._fit_transform(X)

    def _fit_transform(self, X):
        self._validate_params()
        self._cluster_indices = self._resolve_cluster(*_column_labels(X))
        self._cluster_index = self._cluster_indices[0] if self._cluster_indices else None
        enc = encode(X, rescale=True, skip=self._cluster_indices, missing_values=self._markers)
        values = np.asfortranarray(enc.values)  # a fresh array, X never modified; by columns
        columns = enc.columns
        self._infos = enc.infos
        self.n_features_in_ = len(columns)
        if enc.is_frame and all(isinstance(c, str) for c in columns):
            self.feature_names_in_ = np.asarray(columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        if values.shape[0] == 0:
            raise ValueError("X has no rows.")
        seeds = as_seed_sequence(self.random_state).spawn(2)
        rng = np.random.default_rng(seeds[0])
        self._transform_seed = seeds[1]

        levels = self._levels(X, enc, fit=True)
        groups, n_groups = levels[0][:2] if levels else (None, 0)
        self._record("levels_", _describe_levels(levels))
        mask = np.isnan(values)
        n_missing = mask.sum(axis=0)
        self._empty = {j for j, c in enumerate(columns)
                       if n_missing[j] == len(values) and enc.infos[j].imputable}
        self._plan_output(columns, n_missing)
        methods, names = self._resolve_methods(X, enc, n_missing > 0, levels)
        cl_names = [columns[j] for j in self._cluster_indices] or None
        if self.predictor_matrix is None:
            pm = make_predictor_matrix(pd.DataFrame(columns=columns), cluster=cl_names)
            pm_values, pm_labels = pm.to_numpy().copy(), (pm.index, pm.columns)
        else:
            pm_values = predictor_codes(self.predictor_matrix, columns, cl_names)
            pm_labels = (list(columns), list(columns))
        for k in self._cluster_indices:
            pm_values[:, k] = np.where(pm_values[:, k] != 0, -2, 0)
        for j in sorted(self._empty):
            pm_values[:, j] = 0
            pm_values[j, :] = 0
        log = self._unused_predictors(pm_values, columns, enc.infos, methods, n_missing)
        log += [dict(iteration=0, variable=c, event="default method",
                     detail=f"{names[c]}: {self._default_reasons[c]}")
                for j, c in enumerate(columns) if n_missing[j] and methods[c] is not None
                and c in self._defaulted and c in self._default_reasons]
        for row in self.levels_.itertuples() if len(levels) > 1 else ():
            if row.relation_to_next:
                upper = self.levels_["column"].iloc[row.level]
                log.append(dict(iteration=0, variable=row.column, event="grouping levels",
                                detail=f"{row.n_units} units, " + (
                                    "nested in" if row.relation_to_next == "nested"
                                    else "crossed with") + f" {upper!r}"))
        self._record("predictor_matrix_", pm_values, *pm_labels)
        self._mean_levels = self._resolve_cluster_means(columns, levels)
        self._builder = DesignBuilder(enc.infos, pm_values, self._cluster_index)
        self.methods_ = methods
        self.method_names_ = names
        self._codings = {}
        self._keep = {}
        for j, c in enumerate(columns):
            if methods[c] is not None:
                self._codings[j] = self._target_coding(
                    methods[c], enc.infos[j], values[:, j], mask[:, j], c, names[c]
                )

        self.variable_levels_ = self._check_cluster_level(values, levels) if levels else {}
        for c, level in self.variable_levels_.items():
            if len(levels) > 1:
                log.append(dict(iteration=0, variable=c, event="level-specific",
                                detail=f"imputed at level {level!r}: one value per unit"))
        incomplete = {c for j, c in enumerate(columns) if n_missing[j] > 0 and methods[c]}
        frac = {c: n_missing[j] / len(values) for j, c in enumerate(columns)}
        self.visit_sequence_ = self._resolve_visit_sequence(columns, incomplete, frac)
        col_pos = {c: j for j, c in enumerate(columns)}

        targets = [j for j, c in enumerate(columns) if methods[c] is not None]
        rows = _target_rows(mask, targets)
        self._fill_pools(values, mask, n_missing, rng, rows)
        self._initial_fill(values, mask, rng, rows)
        values = np.asfortranarray(values)  # column access is contiguous
        self._warn_levels(targets)
        walk = self._walk(values, targets, levels, rows, mask)
        trace = []
        self._drops = {}
        on_iteration = current_iteration_hook()
        for it in range(1, self.max_iter + 1):
            for c in self.visit_sequence_:
                j = col_pos[c]
                draws = self._visit(walk, j, rng, log, it, fit_mode=True)
                trace.append((it, c, *_trace_stats(draws, enc.infos[j].exponent)))
            if self.verbose:
                print(f"[skmice] iteration {it}/{self.max_iter} done", file=sys.stderr)
            if on_iteration is not None:  # progress of the chains' runner
                on_iteration()
        # complete columns with a method: fit once, for transform of new data
        for j, c in enumerate(columns):
            if methods[c] is not None and n_missing[j] == 0 and self.max_iter > 0:
                self._visit(walk, j, rng, log, self.max_iter, fit_mode=True, sample=False)
        self._warn_drops()
        for method in self.methods_.values():  # what only the visits needed
            forget = getattr(method, "_forget_visit_state", None)
            if forget is not None:
                forget()
        self.n_iter_ = self.max_iter
        self._record("trace_", trace)
        self._record("log_", log)
        return self._output(decode(values, enc, X if enc.is_frame else None, mask), mask)

    def _plan_output(self, columns, n_missing):
        """Which input columns leave the output, and which get a missing indicator."""
        wanted = self.drop_columns
        if wanted is None:
            wanted = []
        elif not isinstance(wanted, (list, tuple, np.ndarray, pd.Index)):
            wanted = [wanted]
        unknown = [c for c in wanted if c not in columns]
        if unknown:
            raise ValueError(
                f"drop_columns names columns that are not in X: {unknown} (columns: "
                f"{list(columns)}).")
        dropped = {columns.index(c) for c in wanted}
        if self.drop_cluster:
            dropped |= set(self._cluster_indices)
        if self._empty:
            names = [columns[j] for j in sorted(self._empty)]
            if self.keep_empty_features:
                warnings.warn(
                    f"Columns {names} are entirely missing: nothing to impute them from. They "
                    "are kept (keep_empty_features=True), numeric ones filled with 0, and are "
                    "no predictors.", UserWarning, stacklevel=4)
            else:
                warnings.warn(
                    f"Columns {names} are entirely missing: nothing to impute them from. They "
                    "are left out of the output (keep_empty_features=False) and are no "
                    "predictors.", UserWarning, stacklevel=4)
                dropped |= self._empty
        if len(dropped) == len(columns) and not self.add_indicator:
            raise ValueError("Every column of X would be left out of the output: check "
                             "drop_columns, drop_cluster and the entirely missing columns.")
        self._dropped_out = dropped
        self._indicated = [j for j in range(len(columns)) if n_missing[j] > 0]
        if self.add_indicator:
            clash = [f"{_INDICATOR_PREFIX}{columns[j]}" for j in self._indicated
                     if f"{_INDICATOR_PREFIX}{columns[j]}" in columns]
            if clash:
                raise ValueError(f"add_indicator: X already has columns named {clash}.")
        else:
            self._indicated = []

    def _output(self, completed, mask, as_array=False):
        """The completed data as the user gets it: empty columns, indicators, drops.

        ``mask`` marks the entries that were missing in the data imputed.
        """
        if not (self._empty or self._indicated or self._dropped_out):
            return completed
        if isinstance(completed, pd.DataFrame):
            out = completed.copy(deep=False)
            for j in self._empty if self.keep_empty_features else ():
                if self._infos[j].storage == "numeric" and mask[:, j].any():
                    col = out.iloc[:, j].copy()
                    col.iloc[np.flatnonzero(mask[:, j])] = 0
                    out.isetitem(j, col)
            keep = [j for j in range(out.shape[1]) if j not in self._dropped_out]
            out = out.iloc[:, keep]
            if self._indicated:
                names = list(completed.columns)
                flags = pd.DataFrame(
                    {f"{_INDICATOR_PREFIX}{names[j]}": (mask[:, j].astype(np.float64)
                                                      if as_array else mask[:, j])
                     for j in self._indicated}, index=out.index)
                out = pd.concat([out, flags], axis=1)
            return out
        out = np.array(completed, dtype=np.float64)
        for j in self._empty if self.keep_empty_features else ():
            out[mask[:, j], j] = 0.0
        keep = [j for j in range(out.shape[1]) if j not in self._dropped_out]
        return np.hstack([out[:, keep], mask[:, self._indicated].astype(np.float64)])

    def _fill_pools(self, values, mask, n_missing, rng, rows):
        """Keep (a sample of) the observed values of the columns initial fills draw from.

        A column with more than ``_POOL_SIZE`` observed values keeps a sample
        of them. The sample of every column is drawn, in column order, so
        that the generator's stream is the same whichever columns are kept.
        ``rows`` holds the observed rows of the targets (see :func:`_target_rows`).
        """
        self._pools = {}
        for j in range(values.shape[1]):
            col = values[:, j]
            n_obs = col.shape[0] - int(n_missing[j])
            pick = rng.choice(n_obs, _POOL_SIZE, replace=False) if n_obs > _POOL_SIZE else None
            if j not in self._codings and j not in self._initial_only:
                continue  # never filled: no pool
            if n_missing[j]:
                obs = rows[j]["obs"] if j in rows else np.flatnonzero(~mask[:, j])
                self._pools[j] = col[obs if pick is None else obs[pick]]
            else:
                self._pools[j] = col.copy() if pick is None else col[pick]

    def _initial_fill(self, values, mask, rng, rows):
        """Fill the missing entries of the imputed columns from their pools.

        ``rows`` holds the missing rows of the targets (see :func:`_target_rows`);
        those of the other columns filled are read from ``mask``.
        """
        for j in range(values.shape[1]):
            if j not in self._codings and j not in self._initial_only:
                continue
            mis = rows[j]["mis"] if j in rows else np.flatnonzero(mask[:, j])
            if not mis.size:
                continue
            col, pool = values[:, j], self._pools[j]  # col: a view, written in place
            if self.initial_strategy == "sample":
                col[mis] = rng.choice(pool, mis.size, replace=True)
            elif self._infos[j].storage == "numeric":
                col[mis] = pool.mean()
            else:
                vals, counts = np.unique(pool, return_counts=True)
                col[mis] = vals[np.argmax(counts)]

    def _record(self, name, *parts):
        """Record the parts of the fitted frame ``name`` (made from them when first read)."""
        state = self.__dict__
        state.pop(name, None)
        state[f"_{name}parts"] = parts

    def _warn_levels(self, targets):
        """Warn when methods model fewer grouping levels than the data has."""
        if len(self._cluster_indices) < 2:
            return
        names = sorted({self.method_names_[self._infos[j].name] for j in targets
                        if self.methods_[self._infos[j].name].needs_groups
                        and not self.methods_[self._infos[j].name].models_all_levels})
        if names:
            ignored = list(self.levels_["column"].iloc[1:])
            warnings.warn(
                f"Methods {names} model one grouping level: they use the first of "
                f"{cluster_columns(self.cluster)} ({self.levels_['column'].iloc[0]!r}) and "
                f"ignore the levels {ignored}, which are in their design but not modelled. "
                "The multilevel methods ('ml.pmm', 'ml.norm') model every level.", UserWarning,
                stacklevel=4)

    def _resolve_cluster_means(self, columns, levels) -> dict:
        """Column position -> positions of the levels of its predictors' cluster means."""
        spec = self.cluster_means
        if spec is None:
            return {}
        if not levels:
            raise ValueError("cluster_means names grouping levels, but cluster is None: set "
                             "cluster= to the grouping columns.")
        names = [name for _, _, name in levels]

        def positions(value, target):
            refs = list(value) if isinstance(value, list) else [value]
            if not refs:
                raise ValueError(f"cluster_means{target}: give at least one grouping level.")
            out = []
            for ref in refs:
                try:
                    k = resolve_level(ref, names, "cluster_means")
                except ValueError:
                    raise ValueError(
                        f"cluster_means{target} names {ref!r}, which is not a grouping column "
                        f"(cluster: {names}, lowest first).") from None
                if k in out:
                    raise ValueError(f"cluster_means{target} names the level {ref!r} twice.")
                out.append(k)
            return out

        if isinstance(spec, dict):
            unknown = [c for c in spec if c not in columns]
            if unknown:
                raise ValueError(f"cluster_means names columns that are not in X: {unknown}.")
            return {columns.index(c): positions(v, f"[{c!r}]") for c, v in spec.items()}
        chosen = positions(spec, "")
        return dict.fromkeys(range(len(columns)), chosen)

    def _walk(self, values, targets, levels, target_rows, mask) -> _Walk:
        """The state of a run over ``values``: a design plan per target, write counts.

        ``target_rows``: the targets' observed and missing rows
        (:func:`_target_rows`); ``mask``: the missing cells (the only ones
        a visit rewrites).
        """
        plans = {}
        for j in targets:
            method = self.methods_[self._infos[j].name]
            rows = dict(target_rows[j])
            if method.needs_all_rows:
                rows["all"] = np.arange(values.shape[0])
            plans[j] = LevelPlan(self._builder, j, levels, method.needs_groups,
                                 method.needs_selection, rows, missing=mask,
                                 mean_levels=self._mean_levels.get(j))
        keep = sum(plan.nbytes() for plan in plans.values()) <= KEEP_BYTES
        for plan in plans.values():
            plan.keep = keep
        return _Walk(values, plans, np.zeros(values.shape[1], dtype=np.int64))

    def _visit(self, walk, j, rng, log, it, fit_mode, sample=True):
        """Visit column j: (in fit) fit its method on the observed rows; redraw its missing rows.

        One path for fit and transform (``fit_mode=False``: the fitted method
        only samples, given the new data's observed rows for its new clusters).
        The method says what its design holds (a random part, a selection
        equation) and which rows it fits on; the target's plan refreshes the
        design columns that changed since its last visit.
        """
        name = self._infos[j].name
        method = self.methods_[name]
        coding = self._codings[j]
        values, plan = walk.values, walk.plans[j]
        plan.refresh(values, walk.versions)
        obs_idx, mis_idx = plan.rows["obs"], plan.rows["mis"]
        y_obs = walk.observed.get(j)  # observed values are never rewritten
        if y_obs is None:
            y_obs = walk.observed[j] = coding.to_codes(values[obs_idx, j])
        if fit_mode:
            self._keep[j] = self._select_predictors(plan, y_obs, name, log, it)
        keep = self._keep[j]
        if fit_mode:
            if method.needs_all_rows:  # y is NaN where missing (selection, cluster level)
                y_all = np.full(values.shape[0], np.nan)
                y_all[obs_idx] = y_obs
                self._fit_method(method, plan.design("all", keep), y_all, rng, name)
            else:
                self._fit_method(method, plan.design("obs", keep), y_obs, rng, name)
        if not sample:
            return None
        observed = None if fit_mode else (plan.design("obs", keep), y_obs)
        draws = self._sample_method(method, plan.design("mis", keep), rng, name, coding,
                                    observed)
        for event, detail in method._drain_events():
            if log is not None:
                log.append(dict(iteration=it, variable=name, event=event, detail=detail))
        imputed = np.asarray(coding.from_codes(draws), dtype=values.dtype)
        column = values[:, j]  # a view (values is column-major): a direct scatter
        column[mis_idx] = imputed
        walk.versions[j] += 1
        return imputed

    def _select_predictors(self, plan, y_obs, name, log, it) -> np.ndarray | None:
        """Columns of the design kept for fitting: constant or collinear ones dropped
        (None: all of them, and the plan's designs are handed over as they are)."""
        keep = np.ones(plan.p, dtype=bool)
        if self.remove_collinear and keep.size > 1:
            drops = plan.collinear_drops(y_obs, eps=_SINGULAR, max_corr=self.max_corr)
            if drops:
                keep[[1 + i for i in drops]] = False
                dropped = [plan.x_names[1 + i] for i in sorted(drops)]
                log.append(dict(iteration=it, variable=name, event="predictors dropped",
                                detail=f"constant or collinear: {dropped}"))
                for i, why in drops.items():
                    self._drops.setdefault((name, plan.x_names[1 + i]), why.split(" ")[0])
        return None if keep.all() else keep

    def _warn_drops(self):
        """One warning per fit naming every dropped predictor, its target and why."""
        if not self._drops:
            return
        reasons = {"constant": "constant", "correlation": f"duplicates the target (|r| >= "
                   f"max_corr={self.max_corr:.10g})", "collinear": "collinear with other "
                   "predictors", "the": "the target is constant"}
        by_target = {}
        for (target, predictor), why in self._drops.items():
            by_target.setdefault(target, []).append(f"{predictor!r} ({reasons[why]})")
        listed = "; ".join(f"{t!r}: {', '.join(p)}" for t, p in by_target.items())
        warnings.warn(
            f"remove_collinear dropped predictors of {len(by_target)} target(s) on their "
            f"observed rows (at one iteration or more): {listed}. Set max_corr or "
            "remove_collinear=False to keep them; log_ lists each drop.",
            UserWarning, stacklevel=4)

    def _cluster_label(self, codes, level: int = 0):
        known = self._level_values[level]
        return [_plain(known[c]) if c < len(known) else f"<new cluster {c - len(known) + 1}>"
                for c in codes]

    def _some_clusters(self, codes, limit: int = 10, level: int = 0) -> str:
        """The labels of (the first ``limit`` of) some unit codes, for messages."""
        more = " (and more)" if len(codes) > limit else ""
        return f"{self._cluster_label(codes[:limit], level)}{more}"

    def _unit_level(self, j, values, levels) -> int:
        """The grouping level column j is imputed at by its level-specific method."""
        method = self.methods_[self._infos[j].name]
        if "level_index_" in method.__dict__:  # fitted: the level it was imputed at
            return method.level_index_
        names = [name for _, _, name in levels]
        k = resolve_level(getattr(method, "level", None), names, self.method_names_[
            self._infos[j].name])
        if k is None and len(levels) > 1:
            k = unit_level(values[:, j], [(c, n) for c, n, _ in levels])
        return 0 if k is None else k

    def _check_cluster_level(self, values, levels):
        """Columns imputed by level-specific methods: observed values equal within units."""
        found = {}
        for j in self._codings:
            name = self._infos[j].name
            if not self.methods_[name].cluster_level:
                continue
            k = self._unit_level(j, values, levels)
            found[name] = levels[k][2]
            bad = varying_clusters(values[:, j], levels[k][0], levels[k][1])
            if bad.size and len(levels) == 1:
                raise ValueError(
                    f"Column {name!r} is imputed as a cluster-level variable, but its observed "
                    f"values differ within clusters {self._some_clusters(bad)}"
                    ": use a unit-level method or make the values agree."
                )
            if bad.size:
                raise ValueError(
                    f"Column {name!r} is imputed as a variable of level {levels[k][2]!r}, but "
                    f"its observed values differ within the units {self._some_clusters(bad, 10, k)}"
                    f" of {levels[k][2]!r}: give its method another level (level=), use a "
                    "unit-level method, or make the values agree."
                )
        return found

    @staticmethod
    def _fit_method(method, design, y, rng, name):
        try:
            method.fit(design, y, rng)
        except (ValueError, np.linalg.LinAlgError, ArithmeticError) as exc:
            raise _failure(exc, name) from exc

    def _sample_method(self, method, design, rng, name, coding, observed=None):
        try:
            draws = method.sample(design, rng, observed=observed)
        except (ValueError, np.linalg.LinAlgError, ArithmeticError) as exc:
            raise _failure(exc, name) from exc
        draws = np.asarray(draws, dtype=np.float64).reshape(-1)
        if draws.shape[0] != design.n_rows:
            raise ValueError(
                f"Method {type(method).__name__} returned {draws.shape[0]} values for column "
                f"{name!r}, expected {design.n_rows}."
            )
        bad = ~np.isfinite(draws)
        if bad.any():
            where = ""
            if design.groups is not None and self._cluster_index is not None:
                where = " in clusters " + self._some_clusters(
                    np.unique(np.asarray(design.groups)[bad]))
            raise NumericalError(
                f"Method {type(method).__name__} produced {int(bad.sum())} non-finite "
                f"imputations for column {name!r}{where}. Check the column's scale and its "
                "predictors there (constant, collinear or extreme values)."
            )
        if coding.kind != "continuous":
            k = coding.n_categories
            if np.any(draws != np.round(draws)) or draws.min() < 0 or draws.max() >= k:
                raise ValueError(
                    f"Method {type(method).__name__} returned invalid category codes for column "
                    f"{name!r} (expected integers in [0, {k})."
                )
        return draws

    # ------------------------------------------------------------------ #
    # Transform
    # ------------------------------------------------------------------ #
    def _check_columns(self, X, enc_is_frame, columns_in):
        if hasattr(self, "feature_names_in_"):
            if not enc_is_frame:
                warnings.warn(
                    "X has no feature names, but MultilevelIterativeImputer was fitted with "
                    "feature names",
                    UserWarning,
                )
                return
            got = list(columns_in)
            want = list(self.feature_names_in_)
            if got != want:
                missing = [c for c in want if c not in got]
                extra = [c for c in got if c not in want]
                raise ValueError(
                    "The columns of X differ from those seen in fit: "
                    f"missing {missing}, unexpected {extra}"
                    + ("" if missing or extra else " (the order differs)")
                    + "."
                )

    def transform(self, X):
        """Impute new data with the fitted conditional models, without refitting.

        Every missing entry is filled by draws from the models fitted in
        ``fit`` (parameters as drawn at the chain's last iteration), cycling
        ``max_iter`` times over the incomplete columns. Clusters seen in fit
        use their drawn random effects; new clusters get random effects drawn
        from their posterior given their observed rows. The same input gives
        the same output.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Same columns as in fit.

        Returns
        -------
        X_completed : DataFrame or ndarray
        """
        check_is_fitted(self, "methods_")
        with _single_threaded_blas():
            return self._transform(X)

    def _transform(self, X):
        is_frame = isinstance(X, pd.DataFrame)
        if is_frame:
            self._check_columns(X, True, X.columns)
        else:
            self._check_columns(X, False, None)
        n_cols = X.shape[1] if hasattr(X, "shape") and len(np.shape(X)) == 2 else None
        if n_cols is not None and n_cols != self.n_features_in_:
            raise ValueError(
                f"X has {n_cols} features, but MultilevelIterativeImputer is expecting "
                f"{self.n_features_in_} features as input."
            )
        positional = not is_frame and hasattr(self, "feature_names_in_")
        if positional:  # fitted on named columns: read the array's columns by position
            X = pd.DataFrame(X, columns=self.feature_names_in_)
            is_frame = True
        enc = encode(X, infos=self._infos, missing_values=self._markers)
        values = np.asfortranarray(enc.values)  # column access is contiguous
        levels = self._levels(X, enc, fit=False)
        groups, n_groups = levels[0][:2] if levels else (None, 0)
        mask = np.isnan(values)
        if not mask.any():
            return _as_input(self._output(decode(values, enc, X if is_frame else None), mask,
                                          positional), positional)
        if levels:
            self._check_cluster_level(values, levels)
        columns = enc.columns
        todo = [j for j in range(len(columns)) if mask[:, j].any()]
        todo = self._check_unimputed(todo, columns)
        rng = np.random.default_rng(
            np.random.SeedSequence(self._transform_seed.entropy,
                                   spawn_key=self._transform_seed.spawn_key)
        )
        order = [columns.index(c) for c in self.visit_sequence_ if mask[:, columns.index(c)].any()]
        order += [j for j in todo if j not in order]
        rows = _target_rows(mask, order)
        self._initial_fill(values, mask, rng, rows)
        values = np.asfortranarray(values)
        walk = self._walk(values, order, levels, rows, mask)
        for _ in range(self.max_iter):
            for j in order:
                self._visit(walk, j, rng, None, 0, fit_mode=False)
        return _as_input(self._output(decode(values, enc, X if is_frame else None, mask), mask,
                                      positional), positional)


@dataclass
class _Walk:
    """A run over the data: the completed values, a plan per target, writes per column."""

    values: np.ndarray
    plans: dict
    versions: np.ndarray
    observed: dict = field(default_factory=dict)  # target -> its observed values (codes)


def _target_rows(mask: np.ndarray, targets) -> dict:
    """Target -> its observed and missing rows: ``{"obs": positions, "mis": positions}``."""
    return {j: {"obs": np.flatnonzero(~mask[:, j]), "mis": np.flatnonzero(mask[:, j])}
            for j in targets}


def _describe_levels(levels) -> list:
    """One row (a dict) per grouping level: its column, number of units and what it nests in.

    A level is nested in the next one when each of its units lies in one
    unit of the next (classes in schools); otherwise the two are crossed
    (schools and neighbourhoods).
    """
    rows = []
    for k, (codes, n_units, name) in enumerate(levels):
        relation = ""
        if k + 1 < len(levels):
            upper = levels[k + 1][0]
            pairs = np.unique(codes * np.int64(levels[k + 1][1]) + upper)
            relation = "nested" if pairs.size == np.unique(codes).size else "crossed"
        rows.append(dict(level=k + 1, column=name, n_units=int(n_units),
                         relation_to_next=relation))
    return rows


def _may_be_missing(dtype) -> bool:
    """Whether a column of this dtype can hold missing values (numpy ints and bools cannot)."""
    return not (isinstance(dtype, np.dtype) and dtype.kind in "iub")


def _factorize_sorted(labels) -> tuple[np.ndarray, object]:
    """Codes of a cluster column's labels and the labels, sorted (first-seen order if unsortable).

    As ``pd.factorize(labels, sort=True)`` for a Series or a numpy array; the
    labels come as an array or an Index.
    """
    ids = labels.to_numpy() if isinstance(labels, pd.Series) else labels
    found = _integer_codes(ids) if _is_integer(ids.dtype) else None
    if found is not None:
        return found
    try:
        return pd.factorize(labels, sort=True)
    except TypeError:  # labels of mixed types: first-seen order
        return pd.factorize(labels, sort=False)


def _is_integer(dtype) -> bool:
    """A numpy integer dtype whose values all fit in int64."""
    return isinstance(dtype, np.dtype) and (dtype.kind == "i" or (
        dtype.kind == "u" and dtype.itemsize < 8))


def _integer_codes(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``pd.factorize(ids, sort=True)`` for integer ids in a narrow range.

    The ids (of a dtype accepted by :func:`_is_integer`) are coded by a table
    over their range; None when the range is much wider than the number of
    ids (or there are none).
    """
    if not ids.size:
        return None
    lo = int(ids.min())
    span = int(ids.max()) - lo + 1
    if span > 4 * ids.size + 1024:
        return None
    offsets = ids if lo == 0 and ids.dtype == np.int64 else ids.astype(np.int64) - lo
    present = np.zeros(span, dtype=bool)
    present[offsets] = True
    rank = np.cumsum(present) - 1
    return rank[offsets], (np.flatnonzero(present) + lo).astype(ids.dtype)


def _trace_stats(draws: np.ndarray, exponent: int) -> tuple[float, float]:
    """Mean and standard deviation of a visit's draws, in the data's units.

    The sums are those of ``np.mean`` and ``np.std(ddof=1)``, without their
    dispatch (this runs at every visit).
    """
    n = draws.shape[0]
    mean = np.add.reduce(draws) / n
    sd = np.nan
    if n > 1:
        dev = draws - mean
        dev *= dev
        sd = np.sqrt(np.add.reduce(dev) / (n - 1))
    if exponent:
        with np.errstate(over="ignore"):
            mean, sd = np.ldexp(mean, exponent), np.ldexp(sd, exponent)
    return float(mean), float(sd)


def _column_labels(X) -> tuple[list, bool]:
    """The column labels of X (positions for arrays) and whether X is a DataFrame."""
    if isinstance(X, pd.DataFrame):
        return list(X.columns), True
    shape = getattr(X, "shape", None)
    if shape is None or not isinstance(X, np.ndarray):
        shape = np.asarray(X).shape
    return list(range(shape[1] if len(shape) == 2 else 0)), False


def _label_kind(labels) -> str:
    """"numbers", "text" or "other": what a column of cluster ids holds."""
    labels = pd.Index(labels)
    if pd.api.types.is_numeric_dtype(labels.dtype) and not pd.api.types.is_bool_dtype(
        labels.dtype
    ):
        return "numbers"
    if len(labels) and all(isinstance(v, str) for v in labels):
        return "text"
    return "other"


def _raw_column(X, j: int, enc=None):
    """Column j of X as the user gave it (the cluster ids, before any encoding).

    With ``enc`` (X encoded), a column of numbers comes as the numpy array
    of its values.
    """
    if isinstance(X, pd.DataFrame):
        sources = None if enc is None or enc.frame is not X else enc.sources
        if sources is not None and sources[j] is not None:
            return sources[j]
        return X.iloc[:, j]
    return np.asarray(X)[:, j]


def _failure(exc: Exception, name) -> Exception:
    """A numerical or data error of a method, as an error naming the column.

    Errors of value (ValueError, LinAlgError) keep their type; arithmetic
    ones (overflow, division by zero, non-finite draws) become a
    :class:`~skmice.exceptions.NumericalError`, which is both a ValueError and a
    FloatingPointError.
    """
    message = f"Imputing column {name!r} failed: {exc}"
    if isinstance(exc, ArithmeticError) and not isinstance(exc, ValueError):
        return NumericalError(message)
    return type(exc)(message)


def _as_input(completed, positional: bool):
    """The completed frame as an array when the input was an array read by position."""
    return completed.to_numpy() if positional else completed


def _plain(value):
    """A numpy scalar as a plain Python value (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value
