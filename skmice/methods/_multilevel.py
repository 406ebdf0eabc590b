"""Imputation with random effects at every grouping level: ml.norm and ml.pmm.

Three-level data (pupils in classes in schools) and cross-classified data
(pupils in schools and in neighbourhoods) in one model: the linear mixed
model with a random intercept at every level of ``design.levels`` and random
slopes at chosen levels, fitted by the blocked Gibbs sampler of
:mod:`skmice.methods._multilevel_sampler`. R's counterpart is miceadds'
``ml.lmer`` (``levels_id``, ``random_slopes``), which fits ``lmer`` at every
visit and draws only some of the parameters.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import ConditionalMethod, register_method
from ._donors import match_clustered_donors
from ._multilevel_sampler import (
    gibbs_step,
    initial_state,
    level_transforms,
    new_unit_effects,
    random_part,
    statistics,
    to_internal,
    to_original,
)
from ._twolevel import SAMPLER_CONSTRAINTS, _check_finite

__all__ = ["MultilevelNormal", "MultilevelPMM"]


def _level_position(ref, names: list, method: str) -> int:
    """Position of a level given by its grouping column's name (or, failing that, position)."""
    for k, name in enumerate(names):
        if name is not None and _same(name, ref):
            return k
    if isinstance(ref, Integral) and not isinstance(ref, bool) and 0 <= ref < len(names):
        return int(ref)
    raise ValueError(
        f"{method}: random_slopes names the level {ref!r}, but the design's grouping levels "
        f"are {names} (lowest first); name one of them or give its position."
    )


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def slope_columns(spec, names: list, q: int, method: str) -> list:
    """Columns of ``Z`` with random effects at each level (0, the intercept, first).

    Parameters
    ----------
    spec : None, "all", level, list of levels or dict
        The ``random_slopes`` parameter (see :class:`MultilevelNormal`). In
        a dict, predictors named by column label (``{"school": ["ses"]}``)
        are turned into positions first, from the design's ``Level.z_names``
        (:func:`slope_positions`).
    names : list
        The grouping columns' names, lowest level first.
    q : int
        Number of columns of the first level's ``Z`` (the intercept and the
        predictors with code 2).
    method : str
        Name for messages.

    Returns
    -------
    list of ndarray of int

    Examples
    --------
    >>> [c.tolist() for c in slope_columns(None, ["class", "school"], 2, "ml.norm")]
    [[0, 1], [0]]
    >>> [c.tolist() for c in slope_columns("school", ["class", "school"], 2, "ml.norm")]
    [[0], [0, 1]]
    >>> [c.tolist() for c in slope_columns({"school": [2]}, ["class", "school"], 3, "ml.norm")]
    [[0], [0, 2]]
    """
    K = len(names)
    everything = np.arange(q)
    intercept = np.zeros(1, dtype=np.int64)
    if spec is None:
        return [everything] + [intercept] * (K - 1)
    if isinstance(spec, str) and spec == "all" and "all" not in names:
        return [everything] * K
    if isinstance(spec, dict):
        out = [intercept] * K
        for ref, columns in spec.items():
            k = _level_position(ref, names, method)
            if isinstance(columns, str) and columns == "all":
                out[k] = everything
                continue
            try:
                chosen = np.unique(np.asarray(list(columns), dtype=np.int64))
            except (TypeError, ValueError):
                raise TypeError(
                    f"{method}: random_slopes[{ref!r}] must be 'all' or a list of column "
                    f"positions of Z (1 to {q - 1}: the predictors with code 2), got {columns!r}"
                    ". Predictors are named (random_slopes={'school': ['ses']}) only in "
                    "MultilevelIterativeImputer, which knows the columns of Z."
                ) from None
            if chosen.size and (chosen.min() < 1 or chosen.max() >= q):
                raise ValueError(
                    f"{method}: random_slopes[{ref!r}] = {list(columns)} is out of range: the "
                    f"random part has the intercept and {q - 1} predictor(s) with code 2, "
                    f"positions 1 to {q - 1}."
                )
            out[k] = np.r_[0, chosen].astype(np.int64)
        return out
    refs = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    chosen = {_level_position(ref, names, method) for ref in refs}
    return [everything if k in chosen else intercept for k in range(K)]


def slope_positions(spec: dict, z_sources: list, level_names: list, method: str) -> dict:
    """A ``random_slopes`` dict naming predictors, as positions of the columns of ``Z``.

    Parameters
    ----------
    spec : dict
        ``{level: [predictor, ...] or "all"}``; a predictor is an integer
        (a column position of ``Z``, 1 to ``q - 1``, kept as it is) or the
        label of a data column with code 2 (all its dummy columns when
        categorical).
    z_sources : list
        The data column of each column of ``Z`` (None for the intercept).
    level_names : list
        The grouping columns, lowest first (for messages).
    method : str
        Name for messages.

    Returns
    -------
    dict
        ``{level: [positions]}`` (or ``"all"``), for ``slope_columns``.

    Raises
    ------
    ValueError
        Naming a predictor that has no column in ``Z`` (not code 2, or
        dropped as constant or collinear).

    Examples
    --------
    >>> slope_positions({"school": ["ses"]}, [None, "x", "ses"], ["class", "school"], "ml.pmm")
    {'school': [2]}
    """
    out = {}
    coded = list(z_sources[1:])
    for level, columns in spec.items():
        if isinstance(columns, str) and columns == "all":
            out[level] = columns
            continue
        if isinstance(columns, str) or not np.iterable(columns):
            columns = [columns]
        positions = []
        for c in columns:
            at = [i for i, s in enumerate(z_sources) if i and _same(s, c)]
            if is_position(c):
                positions.append(int(c))
            elif at:
                positions.extend(at)
            else:
                raise ValueError(
                    f"{method}: random_slopes[{level!r}] names {c!r}, which is not in the "
                    f"random part of the target's model (the predictors with code 2 there: "
                    f"{list(dict.fromkeys(coded))}; grouping levels {level_names}). Give it "
                    "code 2 in the predictor matrix (a predictor dropped as constant or "
                    "collinear has no random slope either)."
                )
        out[level] = sorted(set(positions))
    return out


def is_position(value) -> bool:
    """Whether a ``random_slopes`` entry is a column position (an integer)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def names_predictors(spec) -> bool:
    """Whether a ``random_slopes`` value names predictors (a dict with a non-integer entry)."""
    if not isinstance(spec, dict):
        return False
    for columns in spec.values():
        if isinstance(columns, str):
            if columns != "all":
                return True
            continue
        if not np.iterable(columns):
            columns = [columns]
        if any(not is_position(c) for c in columns):
            return True
    return False


class _MultilevelBase(ConditionalMethod):
    """The sampler's state, warm start, new units and prediction, shared by ml.*."""

    needs_groups = True
    models_all_levels = True
    _name = "ml"

    _parameter_constraints = {
        **SAMPLER_CONSTRAINTS,
        "random_slopes": [None, str, Integral, list, tuple, dict],
        "sampler": [StrOptions({"collapsed", "single-site"})],
    }

    def _levels_of(self, design, fitted: bool = False) -> list:
        """Validated (codes, n_units) per level; the first is checked by the contract."""
        out = []
        n = design.n_rows
        for k, lv in enumerate(design.levels):
            g = lv.groups
            if g is None:
                raise ValueError(f"{self._label()}: grouping level {k} has no unit codes.")
            g = np.asarray(g)
            if g.shape != (n,) or (g.size and not np.issubdtype(g.dtype, np.integer)):
                raise ValueError(
                    f"{self._label()}: the unit codes of grouping level {k} ({lv.name!r}) must "
                    f"be {n} integers."
                )
            N = int(lv.n_groups)
            if g.size and (g.min() < 0 or g.max() >= N):
                raise ValueError(
                    f"{self._label()}: unit codes of grouping level {k} ({lv.name!r}) must lie "
                    f"in [0, n_groups={N})."
                )
            out.append((g.astype(np.int64, copy=False), N))
        if fitted and len(out) != len(self.n_units_):
            raise ValueError(
                f"{self._label()}: the design has {len(out)} grouping levels; fit saw "
                f"{len(self.n_units_)}."
            )
        return out

    def _warm_state(self, st):
        """The previous call's state in this call's units, or None."""
        state = to_internal(st, self.b_, self.psi_, self.sigma2_)
        finite = all(np.all(np.isfinite(a)) for a in (*state.b, *state.psi, state.sigma2))
        return state if finite and state.sigma2 > 0 else None

    def _steps(self, st, state, design, y, steps, rng):
        """Run ``steps`` Gibbs steps from ``state``; return the last state."""
        collapsed = self.sampler == "collapsed"
        for _ in range(steps):
            state = gibbs_step(st, state, rng, collapsed=collapsed)
        return state

    def _statistics(self, design, y):
        """The cell statistics of the observed rows, with the levels' names."""
        name = self._label()
        levels = self._levels_of(design)
        names = [lv.name for lv in design.levels]
        spec = self.random_slopes
        if names_predictors(spec):
            z_names = design.levels[0].z_names
            if z_names is None:
                raise ValueError(
                    f"{name}: random_slopes={spec!r} names predictors, but the design does not "
                    "say which columns its random part holds: name them in "
                    "MultilevelIterativeImputer, or give positions of the columns of Z.")
            spec = slope_positions(spec, z_names, names, name)
        cols = slope_columns(spec, names, design.Z.shape[1], name)
        st = statistics(design, y, levels, cols, name, self.__dict__.setdefault("_cache", {}))
        return self._adapt(st, y), names

    def _start(self, design, st, y):
        """Steps for a new chain (the burn-in): resets ``n_iter_``, notes useless slopes."""
        self.n_iter_ = 0
        if self.random_slopes is not None and design.Z.shape[1] == 1:
            self._note("no random slopes", f"random_slopes={self.random_slopes!r}, but no "
                       "predictor has code 2: random intercepts only")
        return self.n_burnin

    def _original(self, st, state):
        """``(beta, b, psi, sigma2)`` in the data's units and what :meth:`sample` needs
        for units new to the model (the dict read by :func:`new_unit_effects`)."""
        name = self._label()
        _check_finite(name, state.beta, *state.b, *state.psi, state.sigma2)
        beta, b, psi, sigma2 = to_original(st, state)
        _check_finite(name, beta, *b, *psi, sigma2)
        pb = st.pb
        zc, zs = pb.centre[pb.zmap].copy(), pb.scale[pb.zmap].copy()
        zc[0], zs[0] = 0.0, 1.0
        fitted = {
            "beta": beta, "b": b, "cols": [lv.cols.copy() for lv in st.levels],
            "n_units": [lv.N for lv in st.levels], "psi_c": state.psi,
            "sigma2_c": state.sigma2, "y_scale": pb.y_scale, "z_centre": zc, "z_scale": zs,
            "T": level_transforms(st), "logit": self._logit,
        }
        return beta, b, psi, sigma2, fitted

    def _store_levels(self, st, names, steps):
        """The fitted attributes that describe the levels; adds ``steps`` to ``n_iter_``."""
        self.n_units_ = [lv.N for lv in st.levels]
        self.level_names_ = names
        self.random_columns_ = [lv.cols.copy() for lv in st.levels]
        self.nested_ = st.nested
        self.n_iter_ = getattr(self, "n_iter_", 0) + steps

    def _run_chain(self, design, y, rng):
        """Gibbs steps on the observed rows; stores the state in the data's units."""
        st, names = self._statistics(design, y)
        steps = self.n_steps
        state = None
        if self.warm_start and getattr(self, "b_", None) is not None and (
            [b.shape for b in self.b_] == [(lv.N, lv.q) for lv in st.levels]
        ):
            state = self._warm_state(st)
        if state is None:
            state = self._initial_state(st, y)
            steps += self._start(design, st, y)
        state = self._steps(st, state, design, y, steps, rng)
        self.beta_, self.b_, self.psi_, self.sigma2_, self._fitted_ = self._original(st, state)
        self._store_levels(st, names, steps)
        return st, state

    #: Whether the model is the logistic one (ml.bin): see :func:`new_unit_effects`.
    _logit = False

    def _adapt(self, st, y):
        """The statistics the chain runs on (the linear mixed model's: ``st``)."""
        return st

    def _initial_state(self, st, y):
        """Starting values of a new chain."""
        return initial_state(st)

    def variance_components(self) -> dict:
        """The current draws of the variance components, by level.

        Returns
        -------
        dict
            ``{level name (or position): Psi_k}`` (a ``q_k x q_k`` covariance,
            intercept first, in the data's units), and ``"residual"``:
            ``sigma^2``.
        """
        out = {}
        for k, (name, psi) in enumerate(zip(self.level_names_, self.psi_)):
            out[k if name is None else name] = psi
        out["residual"] = self.sigma2_
        return out

    def _predict_mean(self, design, rng, observed) -> np.ndarray:
        """``x'beta + sum_k z_k'b_k`` for the rows of ``design`` (new units drawn)."""
        levels = self._levels_of(design, fitted=True)
        b = new_unit_effects(self._fitted_, levels, observed, rng)
        return design.X @ self.beta_ + random_part(
            design.Z, [g for g, _ in levels], self.random_columns_, b)


@register_method("ml.norm")
class MultilevelNormal(_MultilevelBase):
    """Normal imputation with random effects at every grouping level (ml.norm, ml.lmer).

    The linear mixed model for grouping levels ``k = 1..K`` (pupils in
    classes in schools; pupils in schools and in neighbourhoods)::

        y_i = x_i' beta + sum_k z_ki' b_k,u + e_i,
        b_k,u ~ N(0, Psi_k),  e_i ~ N(0, sigma^2),

    with a random intercept at every level of ``design.levels`` and random
    slopes where ``random_slopes`` puts them. Nested and crossed levels are
    the same model. Fitted by a Gibbs sampler over ``(beta, b_1..b_K,
    sigma^2, Psi_1..Psi_K)`` on the observed rows; the missing values are
    drawn as ``x'beta + sum_k z_k'b_k + e`` from the current draws (proper
    multiple imputation). Like the two-level methods, the chain continues
    across the visits of the chained equations (warm start).

    In the imputer: ``cluster=["class", "school"]`` (lowest level first) or
    ``cluster=["school", "neighbourhood"]``; the predictor matrix marks the
    predictors with random slopes by the code 2, as for the two-level
    methods; ``random_slopes`` says at which levels they are random.

    Parameters
    ----------
    random_slopes : None, "all", level, list of levels or dict, default=None
        Where the predictors with code 2 (the columns of ``design.Z`` after
        the intercept) get random slopes. ``None``: at the first (lowest)
        level only, as the two-level methods (mice's meaning of code 2);
        ``"all"``: at every level; a level or a list of levels (the grouping
        columns' names, as in ``cluster``, or positions, lowest first): at
        those levels only, the others having a random intercept;
        ``{level: [positions]}``: per level, the columns of ``Z`` (1 to
        ``q - 1``, in the order of the code-2 predictors) or ``"all"``. In
        lme4 terms, with ``x`` coded 2: ``None`` is ``(1 + x | class) +
        (1 | school)``, ``"school"`` is ``(1 | class) + (1 + x | school)``.
    sampler : {"collapsed", "single-site"}, default="collapsed"
        ``"collapsed"``: for every chain of nested levels (all of nested
        data; each factor of crossed data) a joint draw of the fixed effects
        and the chain's random effects, the fixed effects with those random
        effects integrated out. ``"single-site"``: the plain Gibbs sampler
        (fixed effects given all random effects, then each level's), which
        mixes much more slowly on crossed designs and on nested ones with
        large units; kept for comparison.
    n_steps : int, default=1
        Gibbs steps per call to :meth:`fit` once the chain is warm.
    n_burnin : int, default=20
        Extra steps at the first call (and whenever the sampler is
        reinitialised).
    warm_start : bool, default=True
        Continue the chain of the previous call: the variance components and
        the random effects of every level.

    Attributes
    ----------
    beta_ : ndarray of shape (p,)
        Current draw of the fixed effects (coefficients of ``design.X``).
    b_ : list of ndarray of shape (n_units_k, q_k)
        Current draw of the random effects of every unit, per level (units
        without observed rows are drawn from their prior).
    psi_ : list of ndarray of shape (q_k, q_k)
        Current draw of each level's random-effects covariance (intercept
        first).
    sigma2_ : float
        Current draw of the residual variance.
    n_units_ : list of int
        Number of unit codes per level seen by the last :meth:`fit`.
    level_names_ : list
        The grouping columns' names (None when the design has none).
    random_columns_ : list of ndarray of int
        Per level, the columns of ``design.Z`` with random effects.
    nested_ : bool
        Whether the lowest level is nested in all others (then the sampler's
        cells are its units).
    n_iter_ : int
        Total number of Gibbs steps run by this chain.

    See Also
    --------
    MultilevelPMM : predictive mean matching on this model (ml.pmm).
    skmice.methods.TwoLevelNormal : one grouping level (2l.pan).

    Notes
    -----
    *Sampler.* The rows are reduced once per :meth:`fit` to the distinct
    combinations of their units ("cells": the classes of nested data, the
    school-neighbourhood pairs of crossed data) and their cross-products in
    standardised units, so a Gibbs step never touches the rows. The levels
    form blocks, chains of nested levels (nested data: one block; crossed
    factors: one each). Each step draws, for every block in turn, ``beta``
    from its conditional posterior given the other blocks' effects with the
    block's effects integrated out, then the block's effects from the top
    level down, all units of a level at once; then ``sigma^2`` and each
    ``Psi_k``. Papaspiliopoulos, Roberts and Zanella (2020) show that this
    collapsed update keeps the mixing time of crossed random-effects models
    bounded as the data grow, where single-site Gibbs slows down; for nested
    levels it is an exact joint draw. The priors are those of
    :class:`~skmice.methods.TwoLevelNormal` (standardised units):
    ``sigma^2`` scaled-inverse-chi-square with 1 degree of freedom and scale
    1, ``Psi_k`` inverse-Wishart with ``q_k`` degrees of freedom and scale
    ``0.1 I``, ``beta`` flat.

    With one level and ``random_slopes=None`` the model is that of
    :class:`~skmice.methods.TwoLevelNormal` (2l.pan) and so is the step.

    *New units* in :meth:`sample` (codes at or beyond ``n_units_`` at any
    level) get random effects from their conditional posterior given their
    rows in ``observed`` (the new data's observed rows), or from the prior
    when they have none; units new at several levels at once (a new class in
    a new school) by a few Gibbs sweeps over the levels.

    Only the first level's random part ``Z`` is built by the imputer; every
    level's random columns are among its columns (code 2). Cluster means
    (codes 3 and 4) are means within units of the first level.

    References
    ----------
    Papaspiliopoulos, O., Roberts, G. O. and Zanella, G. (2020). Scalable
    inference for crossed random effects models. Biometrika, 107(1), 25-40.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import Design, Level, MultilevelNormal
    >>> rng = np.random.default_rng(0)
    >>> school = np.repeat(np.arange(20), 40)
    >>> klass = np.repeat(np.arange(80), 10)
    >>> x = rng.standard_normal(800)
    >>> y = (1 + 0.5 * x + 0.6 * rng.standard_normal(20)[school]
    ...      + 0.4 * rng.standard_normal(80)[klass] + rng.standard_normal(800))
    >>> X = np.column_stack([np.ones(800), x])
    >>> design = Design(X=X, levels=[Level(klass, 80, X[:, :1], np.array([0]), "class"),
    ...                             Level(school, 20, name="school")])
    >>> method = MultilevelNormal().fit(design, y, rng)
    >>> [b.shape for b in method.b_]
    [(80, 1), (20, 1)]
    >>> method.sample(design.take(slice(0, 3)), rng).shape
    (3,)
    """

    supported_kinds = ("continuous",)
    _name = "ml.norm"

    def __init__(self, random_slopes=None, sampler="collapsed", n_steps=1, n_burnin=20,
                 warm_start=True):
        self.random_slopes = random_slopes
        self.sampler = sampler
        self.n_steps = n_steps
        self.n_burnin = n_burnin
        self.warm_start = warm_start

    def _fit(self, design, y, rng):
        """Run Gibbs steps on the observed rows of the target."""
        self._run_chain(design, y, rng)

    def _sample(self, design, rng, observed):
        """Draw ``x'beta + sum_k z_k'b_k + e`` for the rows of ``design``."""
        eta = self._predict_mean(design, rng, observed)
        out = eta + np.sqrt(self.sigma2_) * rng.standard_normal(eta.shape[0])
        _check_finite(self._name, out)
        return out


register_method("ml.lmer", MultilevelNormal)


@register_method("ml.pmm")
class MultilevelPMM(_MultilevelBase):
    """Predictive mean matching on the multilevel model (ml.pmm).

    Runs the sampler of :class:`MultilevelNormal` and matches every row to
    impute with the observed rows whose predicted means ``x'beta* +
    sum_k z_k'b_k*`` (the current draws, for donors and recipients alike)
    are nearest, copying the observed value of one of its ``donors``
    candidates chosen at random. As in 2l.pmm, donors come from other units
    of the first level unless no other unit has one within ``tolerance``
    residual standard deviations of the nearest, and rows of one unit with
    the same predicted mean get distinct donors. Imputations are observed
    values: integers stay integers, codes stay codes.

    Parameters
    ----------
    random_slopes : None, "all", level, list of levels or dict, default=None
        As in :class:`MultilevelNormal`.
    donors : int, default=5
        Number of candidate donors.
    sampler : {"collapsed", "single-site"}, default="collapsed"
        As in :class:`MultilevelNormal`.
    n_steps : int, default=1
        Gibbs steps per call to :meth:`fit` once the chain is warm.
    n_burnin : int, default=20
        Extra steps at the first call.
    warm_start : bool, default=True
        Continue the chain of the previous call.
    tolerance : float, default=0.25
        In residual standard deviations: how much farther than the nearest
        donors of any unit the donors of other units may be.

    Attributes
    ----------
    beta_, b_, psi_, sigma2_, n_units_, level_names_, random_columns_, n_iter_
        As in :class:`MultilevelNormal`.
    donor_means_ : ndarray of shape (n_obs,)
        Predicted means of the observed rows, sorted.
    donor_values_ : ndarray of shape (n_obs,)
        Their observed values, in the same order.
    donor_groups_ : ndarray of shape (n_obs,)
        Their units at the first level.

    See Also
    --------
    MultilevelNormal : the sampler behind the predicted means.
    skmice.methods.TwoLevelPMM : one grouping level (2l.pmm).

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import Design, Level, MultilevelPMM
    >>> rng = np.random.default_rng(0)
    >>> school, hood = rng.integers(0, 15, 600), rng.integers(0, 10, 600)
    >>> y = np.round(rng.standard_normal(15)[school] + rng.standard_normal(10)[hood]
    ...              + rng.standard_normal(600))
    >>> X = np.ones((600, 1))
    >>> design = Design(X=X, levels=[Level(school, 15, X, np.array([0]), "school"),
    ...                             Level(hood, 10, name="neighbourhood")])
    >>> method = MultilevelPMM().fit(design, y, rng)
    >>> bool(np.all(np.isin(method.sample(design.take(slice(0, 5)), rng), y)))
    True
    """

    supported_kinds = ("continuous", "binary", "categorical")
    _name = "ml.pmm"

    _parameter_constraints = {
        **_MultilevelBase._parameter_constraints,
        "donors": [Interval(Integral, 1, None, closed="left")],
        "tolerance": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, random_slopes=None, donors=5, sampler="collapsed", n_steps=1,
                 n_burnin=20, warm_start=True, tolerance=0.25):
        self.random_slopes = random_slopes
        self.donors = donors
        self.sampler = sampler
        self.n_steps = n_steps
        self.n_burnin = n_burnin
        self.warm_start = warm_start
        self.tolerance = tolerance

    def _fit(self, design, y, rng):
        """Run Gibbs steps and store the predicted means of the observed rows."""
        self._run_chain(design, y, rng)
        means = self._predict_mean(design, rng, None)
        _check_finite(self._name, means)
        order = np.lexsort((rng.random(means.shape[0]), means))
        self.donor_means_ = means[order]
        self.donor_values_ = y[order]
        self.donor_groups_ = np.asarray(design.groups)[order]

    def _sample(self, design, rng, observed):
        """Impute the observed value of a donor with a close predicted mean."""
        means = self._predict_mean(design, rng, observed)
        _check_finite(self._name, means)
        if means.shape[0] == 0:
            return np.empty(0)
        tol = np.full(means.shape[0], self.tolerance * np.sqrt(self.sigma2_))
        idx = match_clustered_donors(self.donor_means_, self.donor_groups_, means,
                                     np.asarray(design.groups), self.donors, tol, rng)
        return self.donor_values_[idx]
