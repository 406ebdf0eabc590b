"""The ConditionalMethod contract and the registry of method names.

A conditional method imputes one target column given a design matrix. The
imputer builds the design (fixed part ``X``, random part ``Z``, cluster codes);
the method never sees column names or the predictor matrix. Every method:

* ``fit(design, y, random_state)`` on the *observed* rows of the target, drawing
  its parameters from their posterior (or an approximation of it), so that the
  imputations it produces are proper multiple imputations;
* ``sample(design, random_state, observed=None)`` for the rows to impute, using
  the parameters drawn in the last ``fit``.

Two-level methods (``needs_groups = True``) may keep sampler state between calls
to ``fit`` (warm start): the chained-equations loop calls ``fit`` once per
iteration with the current completed data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._params import ParamNamesOnce
from .._random import as_generator

__all__ = [
    "ConditionalMethod",
    "Design",
    "Level",
    "get_method",
    "register_method",
    "registered_methods",
]

KINDS = ("continuous", "binary", "categorical")


@dataclass
class Level:
    """One grouping factor of a design: the unit of every row and its random part.

    Parameters
    ----------
    groups : ndarray of shape (n_rows,) of int64
        Code of each row's unit (cluster) in ``[0, n_groups)``. Codes are
        shared between the designs given to ``fit`` and to ``sample`` (a unit
        keeps its code), and units without observed rows still have a code.
    n_groups : int
        Number of unit codes in use. In ``sample``, codes at or beyond the
        ``n_groups`` seen by ``fit`` are units new to the method.
    Z : ndarray of shape (n_rows, q) or None
        Random-effects design of this factor; column 0 is the random
        intercept. None when the method models no random part.
    z_in_x : ndarray of shape (q,) of int or None
        Index of the column of ``X`` equal to each column of ``Z`` (-1 where
        none), when known.
    name : object, optional
        The grouping column's label, for messages.
    z_names : list, optional
        The data column of each column of ``Z`` (None for the intercept),
        when known: methods that take random slopes by predictor name
        (``random_slopes={"school": ["ses"]}``) read it.
    """

    groups: np.ndarray | None
    n_groups: int = 0
    Z: np.ndarray | None = None
    z_in_x: np.ndarray | None = None
    name: object = None
    z_names: list | None = None

    def take(self, rows: np.ndarray) -> "Level":
        """The level restricted to ``rows`` (an index array)."""
        return Level(
            groups=None if self.groups is None else np.take(self.groups, rows),
            n_groups=self.n_groups,
            Z=None if self.Z is None else np.take(self.Z, rows, axis=0),
            z_in_x=self.z_in_x,
            name=self.name,
            z_names=self.z_names,
        )


class Design:
    """Design matrices of one target for a set of rows.

    A design has a fixed part ``X``, any number of grouping factors
    (``levels``: pupils in classes in schools, pupils in schools and
    neighbourhoods), each with its unit codes and random-effects block, and,
    for selection models, a selection equation ``W``. A two-level method
    reads the first level, through the shortcuts ``groups``, ``n_groups``,
    ``Z`` and ``z_in_x``; reading further levels is a method's choice.

    Parameters
    ----------
    X : ndarray of shape (n_rows, p)
        Fixed-effects design. Column 0 is the intercept (all ones).
    Z : ndarray of shape (n_rows, q) or None
        Random-effects design of the first level; column 0 is the random
        intercept.
    groups : ndarray of shape (n_rows,) of int64 or None
        Unit (cluster) code of each row at the first level, in
        ``[0, n_groups)``; see :class:`Level`.
    n_groups : int
        Number of unit codes of the first level.
    W : ndarray of shape (n_rows, r) or None
        Selection-equation design of selection models (``needs_selection``),
        intercept first: the predictors with codes 1, 2 and -3 (the outcome
        equation ``X`` has codes 1, 2 and -4). None for other methods.
    z_in_x : ndarray of shape (q,) of int or None
        Index of the column of ``X`` equal to each column of ``Z`` (-1 where
        none), when known: the imputer's design builder sets it, and the
        two-level methods use it instead of comparing the columns.
    levels : list of Level, optional
        All grouping factors, lowest first. Give either ``levels`` or the
        first level's ``groups``, ``n_groups``, ``Z`` and ``z_in_x``.
    stamps : ndarray of shape (p,) of int64 or None
        An identifier of the content of each column of ``X``: a column
        whose (positive) stamp a method has seen
        before holds the same values as then, so the method may reuse what
        it computed from it (per-cluster sums, the finiteness check). The
        imputer's design plans set them, and a stamped design also promises
        that ``z_in_x`` is exact and that its unit codes and the target it
        is fitted with are not modified in place between calls. None (or a
        stamp <= 0) means unknown, and nothing is reused.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import Design, Level
    >>> d = Design(X=np.ones((3, 1)))
    >>> d.n_rows, d.levels
    (3, [])
    >>> pupils = Design(X=np.ones((4, 1)), levels=[
    ...     Level(np.array([0, 0, 1, 2]), 3, name="class"),
    ...     Level(np.array([0, 0, 0, 1]), 2, name="school")])
    >>> pupils.groups.tolist(), [lv.name for lv in pupils.levels]
    ([0, 0, 1, 2], ['class', 'school'])
    """

    def __init__(self, X, Z=None, groups=None, n_groups=0, W=None, z_in_x=None, levels=None,
                 stamps=None):
        self.X = X
        self.W = W
        self.stamps = stamps
        if levels is not None:
            if Z is not None or groups is not None or z_in_x is not None or n_groups:
                raise TypeError("Design: give either levels or groups, n_groups, Z and z_in_x.")
            self.levels = list(levels)
        elif groups is not None or Z is not None:
            self.levels = [Level(groups, int(n_groups), Z, z_in_x)]
        else:
            self.levels = []

    def __repr__(self) -> str:
        shape = getattr(self.X, "shape", None)
        parts = [f"X={shape}"] + [
            f"level {k} ({lv.name or 'unnamed'}): {lv.n_groups} units"
            + ("" if lv.Z is None else f", Z={lv.Z.shape}")
            for k, lv in enumerate(self.levels)
        ]
        if self.W is not None:
            parts.append(f"W={self.W.shape}")
        return f"Design({', '.join(parts)})"

    def _first(self, attribute):
        return getattr(self.levels[0], attribute) if self.levels else None

    def _set_first(self, attribute, value):
        if not self.levels:
            self.levels.append(Level(None))
        setattr(self.levels[0], attribute, value)

    groups = property(lambda self: self._first("groups"),
                      lambda self, v: self._set_first("groups", v),
                      doc="Unit codes of the first level (None without levels).")
    Z = property(lambda self: self._first("Z"), lambda self, v: self._set_first("Z", v),
                 doc="Random-effects design of the first level.")
    z_in_x = property(lambda self: self._first("z_in_x"),
                      lambda self, v: self._set_first("z_in_x", v),
                      doc="Columns of X equal to those of the first level's Z.")

    @property
    def n_groups(self) -> int:
        """Number of unit codes of the first level (0 without levels)."""
        return int(self._first("n_groups") or 0)

    @n_groups.setter
    def n_groups(self, value):
        self._set_first("n_groups", int(value))

    @property
    def n_rows(self) -> int:
        """Number of rows of the design."""
        return self.X.shape[0]

    def keep_columns(self, keep_x) -> "Design":
        """Return the design without the X columns not in ``keep_x``.

        The first level's Z columns that copy a dropped X column (per
        ``z_in_x``) go too; column 0 of X (the intercept) is always kept.

        Parameters
        ----------
        keep_x : ndarray of bool, shape (p,)

        Returns
        -------
        Design
        """
        keep_x = np.asarray(keep_x, dtype=bool).copy()
        keep_x[0] = True
        if keep_x.all():
            return self
        levels = list(self.levels)
        if levels and levels[0].Z is not None and levels[0].z_in_x is not None:
            first = levels[0]
            z_in_x = np.asarray(first.z_in_x)
            keep_z = (z_in_x < 0) | keep_x[np.maximum(z_in_x, 0)]
            moved = np.where(z_in_x < 0, -1, (np.cumsum(keep_x) - 1)[np.maximum(z_in_x, 0)])
            names = None if first.z_names is None else [
                n for n, k in zip(first.z_names, keep_z) if k]
            levels[0] = Level(first.groups, first.n_groups, first.Z[:, keep_z], moved[keep_z],
                              first.name, names)
        stamps = None if self.stamps is None else self.stamps[keep_x]
        return Design(X=self.X[:, keep_x], W=self.W, levels=levels, stamps=stamps)

    def take(self, rows) -> "Design":
        """Return the design restricted to ``rows`` (a mask, a slice or an index array)."""
        if isinstance(rows, slice):
            rows = np.arange(self.n_rows)[rows]
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return Design(
            X=np.take(self.X, rows, axis=0),
            W=None if self.W is None else np.take(self.W, rows, axis=0),
            levels=[lv.take(rows) for lv in self.levels],
        )


class ConditionalMethod(ParamNamesOnce, BaseEstimator):
    """Base class of the conditional imputation methods.

    The public :meth:`fit` and :meth:`sample` validate their input once (the
    design's parts the method needs, the target, the generator, the declared
    parameter constraints, that ``fit`` came first) and call the subclass's
    ``_fit(design, y, rng)`` and ``_sample(design, rng, observed)``, which
    hold only the computation. Parameters are stored untouched in
    ``__init__`` as in scikit-learn and declared in
    ``_parameter_constraints``; state computed in ``fit`` ends with an
    underscore.

    The design's arrays belong to the imputer, which rewrites them in place
    between visits: a method copies what it keeps after ``fit`` returns.

    Attributes
    ----------
    needs_groups : bool
        True for two-level methods, which need ``Z`` and ``groups`` in the design.
    supported_kinds : tuple of str
        Target kinds the method can impute, among ``"continuous"``,
        ``"binary"`` and ``"categorical"``. Binary and categorical targets are
        passed as float codes ``0, 1, ..., K - 1``.
    cluster_level : bool
        True for methods imputing a cluster-level variable (one value per
        cluster): the imputer gives them one row per cluster, with the
        cluster means of the predictors.
    needs_selection : bool
        True for selection models, which need the selection-equation design
        ``W`` (predictor codes -3 and -4 apply to them only).
    needs_all_rows : bool
        True for methods whose ``fit`` takes every row, observed and missing:
        ``y`` then holds NaN in the rows to impute (the missingness indicator
        is the response of a selection equation).
    needs_random_part : bool
        With ``needs_groups``: whether the method uses the random part ``Z``
        (False for methods that need only the unit codes).
    models_all_levels : bool
        With ``needs_groups``: True for methods that model every grouping
        level of ``design.levels`` (False: the first only, and the imputer
        warns when the data has more).

    Examples
    --------
    A method of one's own: impute the mean of the observed values plus noise
    drawn from their spread.

    >>> import numpy as np
    >>> from skmice.methods import ConditionalMethod, Design
    >>> class NoisyMean(ConditionalMethod):
    ...     def _fit(self, design, y, rng):
    ...         self.mean_, self.sd_ = y.mean(), y.std()
    ...     def _sample(self, design, rng, observed):
    ...         return self.mean_ + self.sd_ * rng.standard_normal(design.n_rows)
    >>> rng = np.random.default_rng(0)
    >>> m = NoisyMean().fit(Design(np.ones((4, 1))), np.array([1., 2., 3., 4.]), rng)
    >>> m.sample(Design(np.ones((2, 1))), rng).shape
    (2,)
    """

    needs_groups: bool = False
    supported_kinds: tuple = ("continuous",)
    cluster_level: bool = False
    needs_selection: bool = False
    needs_all_rows: bool = False
    needs_random_part: bool = True
    models_all_levels: bool = False
    _parameter_constraints: dict = {}

    def _label(self) -> str:
        """The method's name in messages."""
        return getattr(self, "_name", type(self).__name__)

    def fit(self, design: Design, y: np.ndarray, random_state):
        """Fit the method on the observed rows and draw its parameters.

        Parameters
        ----------
        design : Design
            Design of the observed rows of the target (of every row for
            methods with ``needs_all_rows``).
        y : ndarray of shape (n_rows,)
            Observed values of the target (float; codes for categorical
            targets; NaN in the rows to impute with ``needs_all_rows``).
        random_state : numpy.random.Generator, int or None
            Source of randomness for the parameter draws; a Generator's stream
            continues.

        Returns
        -------
        self : ConditionalMethod
        """
        if not self.__dict__.get("_params_valid", False):  # once, and after set_params
            self._validate_params()
            self._params_valid = True
        y = check_target(self, y, stamped=getattr(design, "stamps", None) is not None)
        design = check_design(self, design, n_rows=y.shape[0])
        self._fit(design, y, as_generator(random_state))
        self.n_features_in_ = design.X.shape[1]
        if self.needs_groups and design.Z is not None:
            self.n_features_z_ = design.Z.shape[1]
        return self

    def sample(self, design: Design, random_state, observed: tuple | None = None) -> np.ndarray:
        """Draw imputations for the rows of ``design``.

        Parameters
        ----------
        design : Design
            Design of the rows to impute.
        random_state : numpy.random.Generator, int or None
            Source of randomness.
        observed : tuple (Design, ndarray) or None
            Observed rows of the same data, used by two-level methods to draw
            the random effects of clusters not seen in ``fit`` from their
            posterior (``transform`` of new data). Single-level methods
            ignore it.

        Returns
        -------
        values : ndarray of shape (n_rows,)
            The imputed values (float; codes for categorical targets).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the method was not fitted.
        FloatingPointError
            If the draws are not finite (numerical failure).
        """
        if "n_features_in_" not in self.__dict__:
            check_is_fitted(self, "n_features_in_")
        design = check_design(self, design, fitted=True)
        observed = check_observed(self, observed)
        values = np.asarray(self._sample(design, as_generator(random_state), observed),
                            dtype=np.float64).reshape(-1)
        if not all_finite(values):
            raise FloatingPointError(
                f"{self._label()}: the imputed values are not finite (numerical failure). "
                "Check the predictors for extreme values, near-constant columns or strong "
                "collinearity."
            )
        return values

    # what fit keeps to reuse at the next visit (statistics of the data,
    # stamps of columns found finite); rebuilt on demand
    _VISIT_STATE = ("_cache", "_finite_stamps", "_checked_groups", "_checked_targets",
                    "_checked_designs")

    def _forget_visit_state(self) -> None:
        """Drop what ``fit`` kept to reuse at the next visit (the imputer calls
        this once its chained equations are done: ``sample`` does not need it)."""
        for key in self._VISIT_STATE:
            self.__dict__.pop(key, None)

    def __getstate__(self):
        # the visit state is left out of pickles (results shipped back from
        # worker processes) and copies
        state = dict(super().__getstate__())
        for key in self._VISIT_STATE:
            state.pop(key, None)
        return state

    def set_params(self, **params):
        """Set the parameters (as scikit-learn's); the next ``fit`` validates them."""
        self.__dict__.pop("_params_valid", None)
        return super().set_params(**params)

    def _note(self, event: str, detail: str) -> None:
        """Record an event for the imputer's ``log_`` (a fallback taken, say)."""
        self.__dict__.setdefault("_events", []).append((event, detail))

    def _drain_events(self) -> list:
        """The events noted since the last call, oldest first."""
        return self.__dict__.pop("_events", [])

    def _check_rows(self, design: Design) -> Design:
        """A design for a fitted method's public helpers (``predict_proba``), validated."""
        return check_design(self, design, fitted=True)

    def _fit(self, design: Design, y: np.ndarray, rng: np.random.Generator) -> None:
        """Fit on validated input (subclasses implement it)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _fit.")

    def _sample(self, design: Design, rng: np.random.Generator, observed) -> np.ndarray:
        """Draw imputations for validated input (subclasses implement it)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _sample.")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        return tags


_REGISTRY: dict[str, type] = {}


def register_method(name: str, cls=None):
    """Register a conditional method class under a name.

    Usable as a function or as a class decorator. Registered names can be
    given in the ``methods`` parameter of
    :class:`~skmice.MultilevelIterativeImputer`.

    Parameters
    ----------
    name : str
        The method's name, such as ``"pmm"``.
    cls : type, optional
        A subclass of :class:`ConditionalMethod`. When omitted, a decorator is
        returned.

    Returns
    -------
    cls or decorator

    Examples
    --------
    >>> from skmice.methods import ConditionalMethod, register_method, get_method
    >>> @register_method("my.constant")
    ... class Constant(ConditionalMethod):
    ...     def _fit(self, design, y, rng):
    ...         self.value_ = y[0]
    ...     def _sample(self, design, rng, observed):
    ...         return [self.value_] * design.n_rows
    >>> type(get_method("my.constant")).__name__
    'Constant'
    """

    def decorator(klass):
        if not (isinstance(klass, type) and issubclass(klass, ConditionalMethod)):
            raise TypeError(
                f"register_method({name!r}): expected a ConditionalMethod subclass, "
                f"got {klass!r}."
            )
        if not isinstance(name, str) or not name:
            raise TypeError("register_method: the name must be a non-empty string.")
        _REGISTRY[name] = klass
        return klass

    if cls is None:
        return decorator
    return decorator(cls)


def registered_methods() -> dict[str, type]:
    """Return a copy of the name -> class registry.

    Returns
    -------
    dict
        Method names and their classes.

    Examples
    --------
    >>> from skmice.methods import registered_methods
    >>> "pmm" in registered_methods()
    True
    """
    return dict(_REGISTRY)


def get_method(name: str, **params) -> ConditionalMethod:
    """Instantiate a registered method by name.

    Parameters
    ----------
    name : str
        A registered name ("pmm", "norm", "logreg", "polyreg", "2l.pan", ...).
    **params
        Parameters passed to the class.

    Returns
    -------
    ConditionalMethod

    Raises
    ------
    ValueError
        If the name is not registered; the message lists the known names.

    Examples
    --------
    >>> from skmice.methods import get_method
    >>> get_method("pmm", donors=3).donors
    3
    """
    try:
        cls = _REGISTRY[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"Unknown method {name!r}; known methods: {known}.") from None
    return cls(**params)


from ._validation import (  # noqa: E402 (uses Design)
    all_finite,
    check_design,
    check_observed,
    check_target,
)
