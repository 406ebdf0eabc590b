"""Convergence of the substantive-model-compatible sampler's parameters over chains."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..diagnostics import bulk_ess, split_rhat

__all__ = ["parameter_rhat"]


def _chains(source) -> list:
    imputers = getattr(source, "imputers", source)
    traces = []
    for imp in imputers:
        trace = getattr(imp, "parameter_trace_", None)
        if trace is None:
            raise TypeError(
                "parameter_rhat needs fitted SubstantiveModelImputer chains (their "
                f"parameter_trace_), got {type(imp).__name__}."
            )
        traces.append(trace)
    if len(traces) < 2:
        raise ValueError(f"parameter_rhat needs at least 2 chains, got {len(traces)}.")
    return traces


def parameter_rhat(mi, start: int | None = None) -> pd.DataFrame:
    """R-hat and bulk effective sample size of every parameter over the chains.

    Parameters
    ----------
    mi : MultiplyImputedData or list of fitted SubstantiveModelImputer
        The chains, as :func:`skmice.multiple_impute` returns them.
    start : int, optional
        First iteration used; default: the second half of the iterations
        (the first half is the warm-up).

    Returns
    -------
    DataFrame
        Indexed by parameter, columns ``rhat`` (rank-normalised split R-hat,
        Vehtari et al. 2021) and ``ess`` (bulk effective sample size over all
        chains).

    Examples
    --------
    >>> import numpy as np
    >>> from skmice import multiple_impute
    >>> from skmice.datasets import make_popularity
    >>> from skmice.smc import SubstantiveModelImputer, parameter_rhat
    >>> data = make_popularity(random_state=1).data
    >>> imp = SubstantiveModelImputer("popular ~ sex + texp + (1 | school)", max_iter=40)
    >>> mi = multiple_impute(data, imp, n_imputations=2, random_state=0)
    >>> table = parameter_rhat(mi)
    >>> list(table.columns), "sex" in table.index
    (['rhat', 'ess'], True)
    """
    traces = _chains(mi)
    n_iter = int(traces[0]["iteration"].max())
    first = n_iter // 2 + 1 if start is None else int(start)
    wide = [t[t["iteration"] >= first].pivot(index="iteration", columns="parameter",
                                              values="value") for t in traces]
    names = list(dict.fromkeys(traces[0]["parameter"]))
    rows = []
    for name in names:
        chains = np.vstack([w[name].to_numpy() for w in wide])
        rows.append({"parameter": name, "rhat": split_rhat(chains), "ess": bulk_ess(chains)})
    return pd.DataFrame(rows).set_index("parameter")
