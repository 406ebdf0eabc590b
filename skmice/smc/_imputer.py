"""SubstantiveModelImputer: imputation compatible with a given multilevel analysis model."""

from __future__ import annotations

import numbers
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._blas import single_threaded_blas
from .._data import numeric_for
from .._random import as_generator
from ..exceptions import NumericalError
from ..pipeline._target import TARGET_COLUMN
from ._models import Model, State
from ._sampler import Draw, Sampler
from ._spec import parse_analysis_model, term_label
from ._variables import Variable, label_codes, read_group, read_variable, within_constant

__all__ = ["SubstantiveModelImputer"]


def _expand(terms, dummies: dict) -> list:
    """Terms with each categorical variable replaced by its indicator columns."""
    out = []
    for term in terms:
        parts = [[()]]
        for v in term:
            parts.append([(d,) for d in dummies[v]] if v in dummies else [(v,)])
        expanded = [()]
        for options in parts[1:]:
            expanded = [e + o for e in expanded for o in options]
        out.extend(expanded)
    return out


def _has_power(model: Model, key) -> bool:
    return any(t.count(key) > 1 for t in (*model.fixed, *model.random))


class SubstantiveModelImputer(TransformerMixin, BaseEstimator):
    """Multilevel imputation compatible with the analysis model.

    Chained equations impute each variable from a model of its own, which is
    not compatible with an analysis model that has a random slope on an
    incomplete predictor, an interaction with one, or its square: the
    imputations then bias the slope variance and the interaction toward
    zero. This imputer takes the analysis model itself (an lme4-style
    formula with one grouping factor, gaussian or binomial) and draws every
    missing value from the joint model factorised sequentially:

        p(y | x, w; analysis model) * p(x | w) * p(w) * p(a | y, x, w)

    for the outcome y, incomplete level-1 predictors x (two-level normal or
    probit models with a random intercept), incomplete cluster-level
    predictors w (normal or probit models on one row per cluster) and
    auxiliary variables a (modelled given the outcome and the predictors, so
    that they inform the imputations without entering the analysis model).
    The parameters are drawn by Gibbs steps and each missing value from its
    full conditional, which includes the analysis model's likelihood with the
    current random effects: exactly where the variable enters linearly (also
    through interactions and random slopes) or is binary, by
    Metropolis-Hastings steps where it is squared. Interactions and squares
    are computed from the imputed variables, never imputed themselves.

    Parameters
    ----------
    model : str
        The analysis model, for example
        ``"popular ~ sex * texp + (1 + sex | school)"``. Terms: main effects,
        interactions (``x:z``, ``x*z``), squares (``I(x^2)``), categorical
        predictors (complete ones only). One grouping factor.
    family : {"gaussian", "binomial"}, default="gaussian"
        The outcome's distribution (binomial: a logistic mixed model of a
        binary outcome).
    auxiliary : list of column labels, optional
        Auxiliary variables (complete or not), modelled given the outcome and
        the analysis model's predictors.
    variable_types : dict, optional
        ``{column: "continuous" or "binary"}`` where the data do not say:
        numeric columns with two distinct values, booleans and two-category
        columns are otherwise binary (a probit model), other numeric columns
        continuous (a normal model).
    level2 : list of column labels, optional
        Cluster-level predictors. Default: those whose observed values are
        constant within every cluster.
    max_iter : int, default=1000
        Iterations of the chain in ``fit``; the completed data returned is
        the last state. Check convergence over chains with
        :func:`skmice.smc.parameter_rhat` (R-hat below 1.05), and raise it
        where clusters are small or a predictor with a random slope has much
        missing: the slope variance then mixes slowly.
    transform_iter : int, default=50
        Iterations on new data in ``transform`` (the fitted parameters fixed;
        the random effects of the new data's clusters and its missing values
        drawn).
    mh_steps : int, default=3
        Metropolis-Hastings steps per iteration for variables drawn that way.
    random_state : None, int, SeedSequence or Generator
        Seed of the chain.

    Attributes
    ----------
    spec_ : AnalysisSpec
        The parsed analysis model.
    models_ : list of str
        The factors of the joint model, in order (``"x ~ ..."``).
    parameters_ : DataFrame
        The last draw of every model's parameters, in the data's units
        (fixed effects; random-effect variances and covariances;
        residual variance).
    parameter_trace_ : DataFrame
        Columns ``iteration``, ``parameter``, ``value``: every parameter at
        every iteration of ``fit`` (for R-hat over chains, see
        :func:`skmice.smc.parameter_rhat`).
    trace_ : DataFrame
        Columns ``iteration``, ``variable``, ``mean``, ``sd`` of the imputed
        values (the format of :class:`~skmice.MultilevelIterativeImputer`'s).
    acceptance_ : dict
        Metropolis-Hastings acceptance rate after the adaptation, by variable
        (only variables drawn that way).
    log_ : DataFrame
        How each variable is modelled and drawn (level, model, draw).
    n_features_in_, feature_names_in_

    See Also
    --------
    skmice.MultilevelIterativeImputer : chained equations.
    skmice.multiple_impute : runs m chains of this imputer too.

    References
    ----------
    Goldstein, H., Carpenter, J. R. and Browne, W. J. (2014). Fitting
    multilevel multivariate models with missing data in responses and
    covariates that may include interactions and non-linear terms. JRSS A.
    Enders, C. K., Du, H. and Keller, B. T. (2020). A model-based imputation
    procedure for multilevel regression models with random coefficients,
    interaction effects, and nonlinear terms. Psychological Methods.
    Ludtke, O., Robitzsch, A. and West, S. G. (2020). Regression models
    involving nonlinear effects with missing data: a sequential modeling
    approach using Bayesian estimation. Psychological Methods.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.datasets import make_popularity
    >>> from skmice.smc import SubstantiveModelImputer
    >>> data = make_popularity(random_state=1).data
    >>> data.loc[::7, "texp"] = np.nan
    >>> imp = SubstantiveModelImputer("popular ~ sex * texp + (1 + sex | school)",
    ...                               max_iter=50, random_state=0)
    >>> completed = imp.fit_transform(data)
    >>> int(completed[["popular", "texp"]].isna().sum().sum())
    0
    """

    _parameter_constraints = {
        "model": [str],
        "family": [StrOptions({"gaussian", "binomial"})],
        "auxiliary": [None, list, tuple],
        "variable_types": [None, dict],
        "level2": [None, list, tuple],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "transform_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "mh_steps": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state", np.random.Generator, np.random.SeedSequence],
    }

    def __init__(self, model, family="gaussian", auxiliary=None, variable_types=None,
                 level2=None, max_iter=1000, transform_iter=50, mh_steps=3,
                 random_state=None):
        self.model = model
        self.family = family
        self.auxiliary = auxiliary
        self.variable_types = variable_types
        self.level2 = level2
        self.max_iter = max_iter
        self.transform_iter = transform_iter
        self.mh_steps = mh_steps
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def get_feature_names_out(self, input_features=None):
        """Output feature names: the columns of the data seen in ``fit``, in order.

        Parameters
        ----------
        input_features : array-like of str, optional
            Must equal ``feature_names_in_`` when given.

        Returns
        -------
        ndarray of object
        """
        check_is_fitted(self, "feature_names_in_")
        if input_features is not None and list(input_features) != list(self.feature_names_in_):
            raise ValueError("input_features is not equal to feature_names_in_.")
        return np.asarray(self.feature_names_in_, dtype=object)

    # ------------------------------------------------------------------ #
    # reading the data
    # ------------------------------------------------------------------ #
    def _frame(self, X, fit: bool) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"{type(self).__name__} reads columns by name: X must be a pandas DataFrame, "
                f"got {type(X).__name__}."
            )
        if not X.columns.is_unique:
            dup = X.columns[X.columns.duplicated()].unique().tolist()
            raise ValueError(f"X has duplicated column labels {dup}.")
        if fit:
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
            self.n_features_in_ = X.shape[1]
        elif list(X.columns) != list(self.feature_names_in_):
            raise ValueError("X has other columns than the data the imputer was fitted on.")
        return X

    def _columns(self, X: pd.DataFrame, spec) -> tuple[list, list]:
        aux = list(self.auxiliary or [])
        needed = [spec.outcome, *spec.predictors, spec.group, *aux]
        absent = [c for c in dict.fromkeys(needed) if c not in X.columns]
        if absent:
            hint = (" (in a MultipleImputationPipeline, include_target=True passes the outcome)"
                    if spec.outcome in absent else "")
            raise ValueError(f"columns {absent} of the model are not in X (columns: "
                             f"{list(X.columns)[:20]}){hint}.")
        clash = set(aux) & {spec.outcome, spec.group, *spec.predictors}
        if clash:
            raise ValueError(f"auxiliary variables {sorted(map(str, clash))} are also in the "
                             "analysis model; list only other columns.")
        return [v for v in dict.fromkeys(spec.predictors)], aux

    def _read(self, X, name, fitted: Variable | None = None) -> Variable:
        if fitted is None:
            kind = (self.variable_types or {}).get(name)
            if kind is not None and kind not in ("continuous", "binary"):
                raise ValueError(
                    f"variable_types[{name!r}] must be 'continuous' or 'binary', got {kind!r}.")
            return read_variable(X[name], name, kind)
        return _read_like(X[name], fitted)

    # ------------------------------------------------------------------ #
    # the joint model
    # ------------------------------------------------------------------ #
    def _build(self, X, fit: bool):
        if fit:
            spec = parse_analysis_model(self.model)
            if spec.outcome not in X.columns and TARGET_COLUMN in X.columns:
                # inside MultipleImputationPipeline(include_target=True): y is its target
                spec = replace(spec, outcome=TARGET_COLUMN)
            self.spec_ = spec
        spec = self.spec_
        predictors, aux = self._columns(X, spec)
        codes, labels = read_group(X[spec.group], spec.group)
        n_groups = labels.size
        if fit:
            self._variables = {}
            names = [spec.outcome, *predictors, *aux]
            for name in names:
                self._variables[name] = self._read(X, name)
            self._check_kinds(spec, aux)
            self._set_levels(codes, n_groups, predictors, aux)
        variables = {name: self._read(X, name, v) if not fit else v
                     for name, v in self._variables.items()}
        cols, dummies = {}, {}
        for name, v in variables.items():
            if v.kind == "categorical":
                dummies[name] = [(name, k) for k in range(1, v.labels.size)]
                for k in range(1, v.labels.size):
                    cols[(name, k)] = (v.values == k).astype(np.float64)
            else:
                cols[name] = v.values - v.shift
        state = State(cols, codes, n_groups)
        return spec, variables, dummies, state, predictors, aux

    def _check_kinds(self, spec, aux) -> None:
        y = self._variables[spec.outcome]
        if self.family == "binomial" and y.kind != "binary":
            raise ValueError(f"family='binomial' needs a binary outcome; {spec.outcome!r} has "
                             "more than two values.")
        if self.family == "gaussian" and y.kind != "continuous":
            raise ValueError(f"the outcome {spec.outcome!r} is {y.kind}: use family='binomial' "
                             "for a binary outcome, or variable_types to read it as continuous.")
        for name, v in self._variables.items():
            if v.kind == "categorical" and v.incomplete:
                raise ValueError(
                    f"{name!r} is categorical with {v.labels.size} categories and incomplete: "
                    "only continuous and binary incomplete variables are modelled; impute it "
                    "with MultilevelIterativeImputer or declare its type in variable_types.")

    def _set_levels(self, codes, n_groups, predictors, aux) -> None:
        declared = list(self.level2 or [])
        unknown = [c for c in declared if c not in self._variables]
        if unknown:
            raise ValueError(f"level2 names {unknown}, which are not variables of the model.")
        if self.spec_.outcome in declared:
            raise ValueError("level2: the outcome is a level-1 variable.")
        for name in [*predictors, *aux]:
            v = self._variables[name]
            constant = within_constant(v.values, codes)
            if name in declared and not constant:
                raise ValueError(
                    f"level2 names {name!r}, but its observed values vary within clusters of "
                    f"{self.spec_.group!r}.")
            v.level = 2 if (name in declared or (self.level2 is None and constant)) else 1

    def _models(self, spec, variables, dummies, predictors, aux):
        """The factors, in order: level-2 predictors, level-1 predictors, outcome, auxiliaries."""
        incomplete = [p for p in predictors if variables[p].incomplete]
        complete = [p for p in predictors if not variables[p].incomplete]
        order = ([p for p in incomplete if variables[p].level == 2]
                 + [p for p in incomplete if variables[p].level == 1])

        def keys(names):
            return [k for n in names for k in (dummies.get(n) or [n])]

        def kind(name):
            return "probit" if variables[name].kind == "binary" else "normal"

        models, earlier = [], []
        for name in order:
            level = variables[name].level
            preds = [c for c in complete if level == 1 or variables[c].level == 2]
            preds += [e for e in earlier if level == 1 or variables[e].level == 2]
            fixed = [()] + [(k,) for k in keys(preds)]
            models.append(Model(name, kind(name), fixed, [()], level,
                                f"{name} ~ {_rhs(preds)}"))
            earlier.append(name)
        outcome_kind = "logistic" if self.family == "binomial" else "normal"
        models.append(Model(spec.outcome, outcome_kind, _expand(spec.fixed, dummies),
                            _expand(spec.random, dummies), 1, spec.formula))
        for k, name in enumerate(aux):
            level = variables[name].level
            if level == 1:
                preds = [spec.outcome, *predictors, *aux[:k]]
            else:
                preds = [p for p in [*predictors, *aux[:k]] if variables[p].level == 2]
            fixed = [()] + [(k_,) for k_ in keys(preds)]
            models.append(Model(name, kind(name), fixed, [()], level,
                                f"{name} ~ {_rhs(preds)}"))
        return models

    def _draws(self, models, variables):
        modelled = {m.response for m in models}
        unmodelled = [n for n, v in variables.items() if v.incomplete and n not in modelled]
        if unmodelled:
            raise ValueError(
                f"{unmodelled} have missing values here but were complete in fit, so the "
                "imputer has no model for them: fit on data where they are incomplete too.")
        draws = []
        for own in models:
            v = variables[own.response]
            if not v.incomplete:
                continue
            readers = [m for m in models if m is not own and own.response in m.reads]
            if v.kind == "binary":
                mode = "binary"
            elif own.kind == "normal" and not any(_has_power(m, own.response) for m in readers):
                mode = "exact"
            else:
                mode = "mh"
            draws.append(Draw(own.response, own, readers, v.level, mode))
        return draws

    def _bind(self, draws, variables, state, rng, fit: bool) -> None:
        """Fill the missing values: deductively within clusters for level-2 variables,
        by draws from the observed values otherwise (those of fit where new data has
        none); tell each draw where to work."""
        codes, n = state.codes, state.n_groups
        if fit:
            self._pools = {name: _observed(state.cols[name], v, codes, n)[1][:10_000]
                           for name, v in variables.items() if v.kind != "categorical"}
        for d in draws:
            col = state.cols[d.key]
            known, pool = _observed(col, variables[d.key], codes, n)
            if pool.size == 0:
                pool = self._pools[d.key]
            if d.level == 2:
                value = np.zeros(n)
                value[known] = col[_observed_rows(variables[d.key], codes, n)[known]]
                value[~known] = rng.choice(pool, int((~known).sum()))
                col[:] = value[codes]
            else:
                col[~known] = rng.choice(pool, int((~known).sum()))
            d.bind(state, ~known)

    # ------------------------------------------------------------------ #
    # fit / transform
    # ------------------------------------------------------------------ #
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Run the chain on X (see :meth:`fit_transform`)."""
        self._fit(X)
        return self

    def fit_transform(self, X, y=None):
        """Run the chain on X and return X completed by its last state.

        Parameters
        ----------
        X : DataFrame
            Data with the model's columns (others are passed through).
        y : ignored

        Returns
        -------
        DataFrame
            X with the missing values of the model's variables imputed;
            observed values and other columns unchanged.
        """
        self._validate_params()
        return self._fit(X)

    def _fit(self, X):
        with single_threaded_blas():
            return self._run_fit(X)

    def _run_fit(self, X):
        X = self._frame(X, fit=True)
        rng = as_generator(self.random_state)
        spec, variables, dummies, state, predictors, aux = self._build(X, fit=True)
        models = self._models(spec, variables, dummies, predictors, aux)
        _centre(models, variables, state)
        draws = self._draws(models, variables)
        self._bind(draws, variables, state, rng, fit=True)
        for m in models:
            m.start(state, rng)
        sampler = Sampler(models, draws)
        names, rows, means = self._parameter_names(models, variables), [], []
        burn = self.max_iter // 2
        for it in range(1, self.max_iter + 1):
            try:
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    sampler.iterate(state, rng, mh_steps=self.mh_steps,
                                    adapt_at=it if it <= burn else None)
            except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
                raise _numerical(spec, it, str(exc)) from exc
            bad = [m.name for m in models if not _finite(m)]
            if bad:
                raise _numerical(spec, it, f"non-finite parameters of {bad[:3]}")
            rows.append(self._parameters(models, variables))
            means.append([_moments(state, d, variables[d.key]) for d in draws])
        self._sampler = sampler
        self.models_ = [m.name for m in models]
        self.parameter_trace_ = _long_trace(names, rows)
        self.parameters_ = pd.DataFrame({"parameter": names, "value": rows[-1]})
        self.trace_ = _imputation_trace([str(d.key) for d in draws], means)
        self.acceptance_ = {d.key: d.acceptance for d in draws if d.mode == "mh"}
        self.log_ = pd.DataFrame(
            [{"variable": d.key, "level": d.level, "model": d.own.name, "draw": d.mode,
              "n_missing": d.idx.size if d.level == 1 else int(variables[d.key].missing.sum()),
              "acceptance": d.acceptance} for d in draws])
        self._warn_untouched(X, spec, predictors, aux)
        return self._output(X, variables, state)

    def transform(self, X):
        """Impute new data with the fitted parameters.

        The random effects of X's clusters (known or new) and X's missing
        values are drawn for ``transform_iter`` iterations, the fixed effects,
        variances and covariate models held at their last draw in ``fit``.

        Parameters
        ----------
        X : DataFrame
            Same columns as in fit.

        Returns
        -------
        DataFrame
        """
        check_is_fitted(self, "parameters_")
        with single_threaded_blas():
            return self._run_transform(X)

    def _run_transform(self, X):
        X = self._frame(X, fit=False)
        rng = as_generator(self.random_state)
        spec, variables, dummies, state, predictors, aux = self._build(X, fit=False)
        models = self._sampler.models
        draws = self._draws(models, variables)
        self._bind(draws, variables, state, rng, fit=False)
        saved = [(m.beta, m.b, m.psi, m.sigma2, getattr(m, "latent", None),
                  getattr(m, "omega", None)) for m in models]
        try:
            for m in models:
                m.rebind(state, rng)
            sampler = Sampler(models, draws)
            for _ in range(self.transform_iter):
                sampler.iterate(state, rng, mh_steps=self.mh_steps, update_fixed=False)
        finally:
            for m, (beta, b, psi, sigma2, latent, omega) in zip(models, saved):
                m.beta, m.b, m.psi, m.sigma2, m.latent, m.omega = (
                    beta, b, psi, sigma2, latent, omega)
        return self._output(X, variables, state)

    def _output(self, X, variables, state) -> pd.DataFrame:
        out = X.copy()
        for name, v in variables.items():
            if not v.incomplete:
                continue
            missing = v.missing
            if v.level == 2:  # deductive fills copy the cluster's observed value exactly
                source = _observed_rows(v, state.codes, state.n_groups)[state.codes]
                copy = missing & (source >= 0)
                if copy.any():
                    col = out[name].copy()
                    col.iloc[np.flatnonzero(copy)] = X[name].iloc[source[copy]].to_numpy()
                    out[name] = col
                    missing = missing & ~copy
            out[name] = _fill(out[name], missing, v.decode(state.cols[name][missing]))
        return out

    def _warn_untouched(self, X, spec, predictors, aux) -> None:
        used = {spec.outcome, spec.group, *predictors, *aux}
        left = [c for c in X.columns if c not in used and X[c].isna().any()]
        if left:
            warnings.warn(
                f"columns {left[:10]} have missing values but are not in the model or the "
                "auxiliary variables: they are returned with their missing values.",
                UserWarning, stacklevel=3)

    # ------------------------------------------------------------------ #
    # parameters in the data's units
    # ------------------------------------------------------------------ #
    @staticmethod
    def _scales(model: Model, variables) -> tuple[float, np.ndarray, np.ndarray]:
        def scale(term):
            s = 1.0
            for key in term:
                v = variables.get(key)
                s *= v.scale if v is not None else 1.0
            return s

        sy = variables[model.response].scale if model.kind == "normal" else 1.0
        return (sy, np.array([scale(t) for t in model.fixed]),
                np.array([scale(t) for t in model.random]))

    def _parameter_names(self, models, variables) -> list:
        names = []
        for m in models:
            fixed = [term_label(_labels(t, variables)) for t in m.fixed]
            rand = [term_label(_labels(t, variables)) for t in m.random]
            prefix = "" if m.name == self.spec_.formula else f"[{m.response}] "
            names += [f"{prefix}{f}" for f in fixed]
            group = self.spec_.group
            for i in range(len(rand)):
                for j in range(i + 1):
                    names.append(f"{prefix}{'var' if i == j else 'cov'}({group}: "
                                 f"{rand[j]}{'' if i == j else ', ' + rand[i]})")
            if m.kind == "normal":
                names.append(f"{prefix}var(Residual)")
        return names

    def _parameters(self, models, variables) -> list:
        values = []
        for m in models:
            sy, sf, sr = self._scales(m, variables)
            values.extend(_uncentred(m, variables) * sy / sf)
            q = len(m.random)
            for i in range(q):
                for j in range(i + 1):
                    values.append(m.psi[i, j] * sy * sy / (sr[i] * sr[j]))
            if m.kind == "normal":
                values.append(m.sigma2 * sy * sy)
        return values


def _finite(m) -> bool:
    """Whether a model's current parameters (internal units) are all finite."""
    return bool(np.isfinite(m.beta).all() and np.isfinite(m.psi).all()
                and np.isfinite(m.b).all() and np.isfinite(m.sigma2))


def _centrable(name, models) -> bool:
    """Whether centring ``name`` is an exact reparametrisation of every model: each model
    that reads it has an intercept and reads it as a main effect only, with no random
    coefficient; the model of which it is the response has an intercept."""
    for m in models:
        if m.response == name and () not in m.fixed:
            return False
        if name in m.reads:
            if () not in m.fixed or any(name in t for t in m.random):
                return False
            if any(name in t and t != (name,) for t in m.fixed):
                return False
    return True


def _centre(models, variables, state) -> None:
    """Subtract the observed mean of each continuous variable that can be centred."""
    for name, v in variables.items():
        if v.kind != "continuous" or not _centrable(name, models):
            continue
        shift = float(np.mean(v.values[~v.missing]))
        if np.isfinite(shift) and shift != 0.0:
            v.shift = shift
            state.cols[name] = state.cols[name] - shift


def _uncentred(m, variables) -> np.ndarray:
    """The fixed effects of ``m`` in the parametrisation of uncentred variables."""
    beta = np.array(m.beta, dtype=np.float64)
    if () not in m.fixed:
        return beta
    k = m.fixed.index(())
    response = variables.get(m.response)
    if response is not None and m.kind == "normal":
        beta[k] += response.shift
    for t, b in zip(m.fixed, m.beta):
        if len(t) == 1 and t[0] in variables:
            beta[k] -= b * variables[t[0]].shift
    return beta


def _numerical(spec, iteration: int, detail: str) -> NumericalError:
    return NumericalError(
        f"SubstantiveModelImputer: the sampler of the model {spec.formula!r} failed at "
        f"iteration {iteration} ({detail}). Variables on extreme scales or separated binary "
        "data are the usual causes: rescale the columns of the model, or drop predictors that "
        "predict the outcome perfectly.")


def _observed_rows(v, codes, n) -> np.ndarray:
    """For each cluster, its first row where ``v`` is observed (-1 where none is)."""
    obs = np.flatnonzero(~v.missing)[::-1]
    rows = np.full(n, -1, dtype=np.int64)
    rows[codes[obs]] = obs  # written last to first: the first observed row stays
    return rows


def _observed(col, v, codes, n) -> tuple[np.ndarray, np.ndarray]:
    """Where ``v`` is known (rows, or clusters for level 2) and its known values."""
    if v.level == 1:
        return ~v.missing, col[~v.missing]
    rows = _observed_rows(v, codes, n)
    known = rows >= 0
    return known, col[rows[known]]


def _labels(term, variables) -> tuple:
    out = []
    for key in term:
        if isinstance(key, tuple) and key[0] in variables:
            out.append(f"{key[0]}[{variables[key[0]].labels[key[1]]}]")
        else:
            out.append(str(key))
    return tuple(out)


def _rhs(names) -> str:
    return " + ".join(map(str, names)) if names else "1"


def _moments(state, draw, v) -> tuple:
    values = (state.column(draw.key, draw.level, draw.idx) + v.shift) * v.scale
    if values.size == 0:
        return (np.nan, np.nan)
    return (float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else np.nan)


def _long_trace(names, rows) -> pd.DataFrame:
    values = np.asarray(rows, dtype=np.float64)
    it = np.repeat(np.arange(1, values.shape[0] + 1), values.shape[1])
    return pd.DataFrame({"iteration": it, "parameter": np.tile(np.asarray(names, dtype=object),
                                                                values.shape[0]),
                         "value": values.ravel()})


def _imputation_trace(names, means) -> pd.DataFrame:
    records = [{"iteration": it, "variable": name, "mean": m[k][0], "sd": m[k][1]}
               for it, m in enumerate(means, start=1) for k, name in enumerate(names)]
    return pd.DataFrame(records, columns=["iteration", "variable", "mean", "sd"])


def _fill(col: pd.Series, missing: np.ndarray, values: np.ndarray) -> pd.Series:
    """``col`` with ``values`` written at the missing rows, in the column's own dtype.

    Numbers go through :func:`skmice._data.numeric_for`, as the chained
    imputer's do: integer columns get rounded imputations inside their
    dtype's range, float columns imputations inside theirs (clipping warns
    and names the column).
    """
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype):
        values = np.asarray(values, dtype=bool)
    elif pd.api.types.is_numeric_dtype(dtype):
        values = numeric_for(np.asarray(values, dtype=np.float64), dtype, col.name)
    col = col.copy()
    col[missing] = values
    return col


def _read_like(series: pd.Series, fitted: Variable) -> Variable:
    """Encode a column of new data as in fit (same scale, labels, kind)."""
    missing = series.isna().to_numpy()
    name = fitted.name
    if fitted.kind == "continuous":
        try:
            x = series.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"column {name!r} was numeric in fit.") from exc
        return Variable(name, "continuous", x / fitted.scale, missing, fitted.level,
                        fitted.scale, shift=fitted.shift)
    codes = label_codes(series, missing, fitted.labels)
    unseen = ~missing & (codes < 0)
    if unseen.any():
        values = series.astype(object).to_numpy()[unseen]
        raise ValueError(f"column {name!r} has values not seen in fit: "
                         f"{pd.unique(values)[:5].tolist()}.")
    return Variable(name, fitted.kind, codes, missing, fitted.level, 1.0, fitted.labels)
