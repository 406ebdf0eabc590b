"""Multiple imputation: m independent chains, their completed data, analysis.

``multiple_impute`` is R's ``mice()``; ``MultiplyImputedData`` is R's ``mids``
(``complete``, ``with``/``analyze``, then ``pool``).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np
import pandas as pd

from ._imputer import MultilevelIterativeImputer
from .pipeline._chains import fit_chain, run_chains
from .pipeline._progress import ProgressEvent, check_callback, n_iterations

__all__ = ["MultiplyImputedData", "multiple_impute"]


def _own_copy(data):
    """A copy of a dataset that its receiver may change freely.

    With pandas' copy-on-write (always on from pandas 3.0) a shallow copy is
    enough and costs nothing until one side writes; otherwise the data are
    copied.
    """
    if isinstance(data, (pd.DataFrame, pd.Series)):
        return data.copy(deep=not _COPY_ON_WRITE)
    return np.array(data, copy=True)


_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3 or bool(
    getattr(getattr(pd.options, "mode", None), "copy_on_write", False) is True
)


def _check_n(value, name):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}.")


def multiple_impute(
    X,
    imputer: MultilevelIterativeImputer | None = None,
    n_imputations: int = 5,
    n_jobs: int | None = None,
    random_state=None,
    verbose: int = 0,
    callback: Callable[[ProgressEvent], object] | None = None,
) -> "MultiplyImputedData":
    """Impute X ``n_imputations`` times with independent chains.

    Each chain is a clone of ``imputer`` with its own seed, spawned from
    ``random_state`` (:class:`numpy.random.SeedSequence`), so the result is
    the same for any ``n_jobs`` or joblib backend.

    Parameters
    ----------
    X : DataFrame or array-like
        Incomplete data.
    imputer : MultilevelIterativeImputer or SubstantiveModelImputer, optional
        The imputation model (its ``random_state`` is replaced per chain).
        Default: ``MultilevelIterativeImputer()``.
    n_imputations : int, default=5
        Number of imputations m.
    n_jobs : int, optional
        Chains run in parallel with joblib (None = 1 unless inside a
        ``joblib.parallel_backend`` context; -1 = all cores).
    random_state : None, int, SeedSequence or Generator
        Seed of the whole set of chains.
    verbose : int, default=0
        1 shows a progress bar over imputations x iterations (tqdm when
        installed, else a counter on stderr); iterations are counted as they
        happen when the chains run in this process, and chain by chain
        otherwise.
    callback : callable, optional
        Called with a :class:`~skmice.ProgressEvent` after each iteration of
        each chain (``n_imputations * imputer.max_iter`` calls), in the
        calling thread, whatever ``n_jobs``: live when the chains run in this
        process, as each chain completes otherwise. Use it with or instead of
        ``verbose``.

    Returns
    -------
    MultiplyImputedData

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skmice import multiple_impute
    >>> rng = np.random.default_rng(1)
    >>> X = pd.DataFrame({"x": rng.normal(size=50)})
    >>> X["y"] = X["x"] + rng.normal(size=50)
    >>> X.loc[::4, "y"] = np.nan
    >>> mi = multiple_impute(X, n_imputations=3, random_state=0)
    >>> len(mi), mi.long().shape
    (3, (150, 4))
    """
    _check_n(n_imputations, "n_imputations")
    if imputer is None:
        imputer = MultilevelIterativeImputer()
    from .smc import SubstantiveModelImputer

    if not isinstance(imputer, (MultilevelIterativeImputer, SubstantiveModelImputer)):
        raise TypeError(
            "imputer must be a MultilevelIterativeImputer or a SubstantiveModelImputer, got "
            f"{type(imputer).__name__}."
        )
    check_callback(callback)
    results = run_chains(
        fit_chain,
        (imputer, X),
        n_chains=n_imputations,
        random_state=random_state,
        n_jobs=n_jobs,
        n_iterations=n_iterations(imputer),
        verbose=verbose,
        callback=callback,
    )
    imputers = [r[0] for r in results]
    completed = [r[1] for r in results]
    return MultiplyImputedData(X, completed, imputers)


class MultiplyImputedData:
    """The m completed datasets of a multiple imputation (R's ``mids``).

    Parameters
    ----------
    data : DataFrame or ndarray
        The incomplete data.
    imputations : list of DataFrame or ndarray
        The m completed datasets.
    imputers : list of MultilevelIterativeImputer, optional
        The fitted chains (for traces and diagnostics).

    Attributes
    ----------
    n_imputations : int
        m.
    data : DataFrame or ndarray
        A copy of the incomplete data, taken at construction: later changes
        to the caller's frame do not reach it.
    imputations : list of DataFrame or ndarray
        The stored completed datasets. Read them through :meth:`complete`,
        iteration, :meth:`long` or :meth:`analyze`, which hand out copies.

    Notes
    -----
    Every dataset handed out (``complete``, iteration, ``long``, the argument
    of each ``analyze`` call) is the receiver's own copy: an analysis that
    recodes a column changes nothing for the next one. Under pandas'
    copy-on-write (pandas >= 3.0) these copies are shallow and cost nothing
    until written to; with older pandas each costs one copy of the data.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skmice import MultiplyImputedData
    >>> data = pd.DataFrame({"y": [1.0, np.nan]})
    >>> mi = MultiplyImputedData(data, [data.fillna(0.0), data.fillna(2.0)])
    >>> mi.complete(2)["y"].tolist()
    [1.0, 2.0]
    """

    def __init__(self, data, imputations: list, imputers: list | None = None):
        if len(imputations) == 0:
            raise ValueError("imputations must hold at least one completed dataset.")
        self.data = _own_copy(data)
        self.imputations = [_own_copy(d) for d in imputations]
        self.imputers = list(imputers) if imputers is not None else []

    @property
    def n_imputations(self) -> int:
        """Number of imputations m."""
        return len(self.imputations)

    def __len__(self) -> int:
        return len(self.imputations)

    def __iter__(self):
        return (_own_copy(d) for d in self.imputations)

    def __repr__(self) -> str:
        shape = np.shape(self.data)
        n_mis = int(pd.DataFrame(self.data).isna().sum().sum())
        return (
            f"MultiplyImputedData(m={self.n_imputations}, n_rows={shape[0]}, "
            f"n_columns={shape[1]}, n_missing={n_mis})"
        )

    def complete(self, i: int = 1):
        """One completed dataset, numbered as in R: 1..m; 0 is the incomplete data.

        Parameters
        ----------
        i : int, default=1

        Returns
        -------
        DataFrame or ndarray
            The caller's own copy: changing it changes nothing stored.
        """
        if not isinstance(i, numbers.Integral) or not 0 <= i <= self.n_imputations:
            raise ValueError(f"i must be an int in [0, {self.n_imputations}], got {i!r}.")
        if i == 0:
            return _own_copy(self.data)
        return _own_copy(self.imputations[i - 1])

    def long(self, include: bool = False) -> pd.DataFrame:
        """All completed datasets stacked, as R's ``complete(imp, "long")``.

        Parameters
        ----------
        include : bool, default=False
            Also include the incomplete data as ``.imp == 0``.

        Returns
        -------
        DataFrame
            Columns ``.imp`` (1..m), ``.id`` (the row label of the original
            data), then the data's columns.
        """
        columns = list(pd.DataFrame(self.data).columns)
        taken = [c for c in (".imp", ".id") if c in columns]
        if taken:
            raise ValueError(
                f"The data have a column named {taken[0]!r}, which long() uses for the "
                f"{'imputation number' if taken[0] == '.imp' else 'row labels'}: rename it."
            )
        parts = []
        start = 0 if include else 1
        for i in range(start, self.n_imputations + 1):
            d = pd.DataFrame(self.complete(i))
            d = d.reset_index(drop=True)
            ids = pd.DataFrame(self.data).index
            d.insert(0, ".id", np.asarray(ids))
            d.insert(0, ".imp", i)
            parts.append(d)
        return pd.concat(parts, ignore_index=True)

    def analyze(self, fn):
        """Fit an analysis model on every completed dataset (R's ``with``).

        Parameters
        ----------
        fn : callable
            Takes one completed dataset (its own copy) and returns a fitted model
            (statsmodels results, a scikit-learn linear model or a Pipeline
            ending in one, a ``(params, cov)`` pair, or anything
            :func:`skmice.analysis.extract` understands).

        Returns
        -------
        MultipleAnalyses
            A list of the m fits with ``.pool()``, ``.summary()``, ``D1``-``D3``.

        Notes
        -----
        *scikit-learn models.* scikit-learn computes no standard errors, and
        a fitted model does not keep its training data. So when ``fn``
        returns a fitted scikit-learn estimator, ``analyze`` keeps the
        completed dataset it handed to ``fn`` (the very object: columns
        ``fn`` adds to it in place count) in ``MultipleAnalyses.datasets``,
        and pooling computes the covariance matrix from it
        (:func:`skmice.analysis.linear_model_estimate`, the same function
        :class:`~skmice.MultipleImputationPipeline` uses, so both give the
        same pooled table on the same imputations):

        - X is the dataset's columns named by the model's
          ``feature_names_in_`` (a Pipeline's input columns): fit it on a
          DataFrame, ``model.fit(d[["x1", "x2"]], d["y"])``;
        - y is the column of the dataset, among the others, of which the
          fitted coefficients are the fit (least squares for
          ``LinearRegression``; maximum likelihood for
          ``LogisticRegression(C=np.inf)``). A transformed outcome must be
          added to the dataset first (``d["log_y"] = np.log(d["y"])``), and
          the model fitted on all rows without ``sample_weight``;
        - terms are named ``Intercept`` then the features entering the last
          step (a Pipeline's ``model[:-1].get_feature_names_out()``).

        Covariances are computed for ``LinearRegression`` and unpenalised
        binary ``LogisticRegression`` (alone or last in a Pipeline). For any
        other model, or when X or y cannot be found, ``pool()`` raises a
        TypeError saying what is missing; then return ``(params, cov)``,
        statsmodels results, or
        ``skmice.analysis.linear_model_estimate(model, X, y)`` from ``fn``.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from sklearn.linear_model import LinearRegression
        >>> from skmice import multiple_impute
        >>> rng = np.random.default_rng(1)
        >>> X = pd.DataFrame({"x": rng.normal(size=60)})
        >>> X["y"] = 1 + X["x"] + rng.normal(size=60)
        >>> X.loc[::4, "x"] = np.nan
        >>> mi = multiple_impute(X, n_imputations=3, random_state=0)
        >>> fits = mi.analyze(lambda d: LinearRegression().fit(d[["x"]], d["y"]))
        >>> list(fits.pool().index)
        ['Intercept', 'x']
        """
        from .analysis import MultipleAnalyses, _has_coefficients

        if not callable(fn):
            raise TypeError("fn must be callable: it receives one completed dataset.")
        results, datasets = [], []
        for d in self:
            result = fn(d)
            results.append(result)
            # the dataset of a scikit-learn fit, for its covariance (kept only then)
            datasets.append(d if _has_coefficients(result) else None)
        return MultipleAnalyses(results, datasets=datasets)

    def analyze_mixed(self, formula: str, reml: bool = True, n_jobs: int | None = None):
        """Fit a linear mixed model, lme4 style, on every completed dataset.

        ``mi.analyze_mixed("popular ~ sex * texp + (1 + sex | school)")`` is
        R's ``with(imp, lmer(popular ~ sex * texp + (1 + sex | school)))``:
        :func:`skmice.mixed.lmer` on each dataset, batched. When only the
        outcome differs between the datasets, the design is built once and
        the sufficient statistics of all m outcomes come from one pass over
        the rows.

        Parameters
        ----------
        formula : str
            lme4-style formula with one or several (nested or crossed)
            grouping factors (see :func:`skmice.mixed.lmer`).
        reml : bool, default=True
            REML (lme4's default) or maximum likelihood (for
            ``D2(use="likelihood")`` on fixed effects).
        n_jobs : int, optional
            Fits run in parallel with joblib (None = 1 unless inside a
            ``joblib.parallel_backend`` context; -1 = all cores).

        Returns
        -------
        MultipleAnalyses
            The m :class:`~skmice.mixed.LmerResults`; ``.pool()`` gives
            mitml's ``testEstimates`` table (``dfcom = inf``: Rubin's df, as
            mitml without ``df.com``), ``.pool_extra()`` its ``extra.pars``
            (variance components of every grouping factor, residual
            variance, and the ICC for one factor with a random intercept).

        Examples
        --------
        >>> from skmice import MultilevelIterativeImputer, multiple_impute
        >>> from skmice.datasets import make_popularity
        >>> data = make_popularity(n_schools=30, random_state=0).data.drop(columns="pupil")
        >>> imputer = MultilevelIterativeImputer(cluster="school", max_iter=3)
        >>> mi = multiple_impute(data, imputer, n_imputations=3, random_state=0)
        >>> fits = mi.analyze_mixed("popular ~ sex * texp + (1 + sex | school)")
        >>> list(fits.pool().index), list(fits.pool_extra().index)[-2:]
        (['Intercept', 'sex', 'texp', 'sex:texp'], ['Residual~~Residual', 'ICC|school'])
        """
        from .analysis import MultipleAnalyses
        from .mixed import lmer_each

        return MultipleAnalyses(lmer_each(formula, self.imputations, reml=reml, n_jobs=n_jobs))

    @property
    def trace_(self) -> pd.DataFrame:
        """Chain traces stacked, with a ``chain`` column (1..m)."""
        if not self.imputers:
            raise AttributeError("No fitted imputers: traces are unavailable.")
        parts = []
        for k, imp in enumerate(self.imputers, start=1):
            t = imp.trace_.copy()
            t.insert(0, "chain", k)
            parts.append(t)
        return pd.concat(parts, ignore_index=True)
